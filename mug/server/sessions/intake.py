"""What the server takes from a page: the record kinds pages make, for their own games, within a quota.

Two faults of a hostile-client review live here. Pages could forge server-side records through
`client_records`: events of any kind (``excluded``, whose text the monitor then showed as the
exclusion reason), and forms for any scene at any time (a far-future time pinned the answers so
the real submission could not replace them). And nothing bounded what one client could store:
one anonymous client wrote ~24 MB/s. Now a page may send only the records its client-side game
makes (steps, episodes and the event kinds of the runtime and of the peer-to-peer page, each
naming a game the participant runs in the browser); an event's time is the server's; forms come
only with ``advance``, for the scene the participant is in. Each participant has a quota
(`ClientLimits`): over the rate, a batch is refused with a time to retry (the page keeps its
records); over the total, records are refused for good and the refusal is recorded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "P2P_EVENT_KINDS",
    "PAGE_EVENT_KINDS",
    "PAGE_RECORD_KINDS",
    "RUNTIME_EVENT_KINDS",
    "ClientLimits",
    "Quota",
    "TokenBucket",
    "screen",
]

#: The most a page may send in one `client_records` batch (mug.server.web.messages).
MAX_BATCH_RECORDS = 1_000
MAX_BATCH_BYTES = 1_000_000
#: Record kinds a page's outbox may send.
PAGE_RECORD_KINDS = ("step", "episode", "event")
#: Event kinds the browser runtime records (mug/client/src/runtime).
RUNTIME_EVENT_KINDS = ("load_error", "game_stopped", "runtime_error", "clock_behind", "env_error", "policy_error")
#: Event kinds a peer-to-peer game's page records (mug/client/src/p2p): the transport of a peer pair
#: changed, a desync was found / resynced, a peer came or went, and the game's netcode statistics
#: (one at the end; `mug.data.load_results` makes the ``p2p`` table of them).
P2P_EVENT_KINDS = ("p2p_transport", "p2p_desync", "p2p_resync", "p2p_stats", "p2p_peer")
PAGE_EVENT_KINDS = RUNTIME_EVENT_KINDS + P2P_EVENT_KINDS


@dataclass(frozen=True)
class ClientLimits:
    """What one participant's page may make the server do and store (``serve(client_limits=...)``).

    The defaults leave a 60 fps client-side game that records observations far inside them, and
    a page sending a backlog after a long time offline (400 records every 250 ms) too.

    Attributes:
        records_per_s / records_burst: outbox records per second, sustained and in a burst.
        bytes_per_s / bytes_burst: bytes of outbox records per second, sustained and in a burst.
        max_record_bytes: bytes of outbox records one participant may store in all.
        events_per_s / events_burst: Socket.IO events per second on one connection (actions,
            pings, focus changes...); more are refused without being handled.
        page_events_per_s / page_events_burst: of those, focus/visibility/log events (each is a
            row in the data) per second on one connection.
        server_records_per_s / server_records_burst: outbox records per second from every page
            together: about what the server's one database thread takes with room to spare
            (~7,700 step records a second measured here), so no crowd of pages can fill it.
    """

    records_per_s: float = 2_000
    records_burst: float = 10_000
    bytes_per_s: float = 2_000_000
    bytes_burst: float = 16_000_000
    max_record_bytes: int = 500_000_000
    events_per_s: float = 200
    events_burst: float = 1_000
    page_events_per_s: float = 5
    page_events_burst: float = 50
    server_records_per_s: float = 6_000
    server_records_burst: float = 30_000

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"ClientLimits: {name} must be a positive number, got {value!r}")
        # A burst smaller than one batch a page may send would refuse that batch for good.
        for name, least in (
            ("records_burst", MAX_BATCH_RECORDS),
            ("server_records_burst", MAX_BATCH_RECORDS),
            ("bytes_burst", MAX_BATCH_BYTES),
            ("max_record_bytes", MAX_BATCH_BYTES),
        ):
            if getattr(self, name) < least:
                raise ValueError(f"ClientLimits: {name} must be at least {least} (one batch a page may send)")


class TokenBucket:
    """Allows `rate` per second on average and up to `burst` at once (`clock`: seconds, monotonic)."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()

    def wait(self, amount: float = 1.0) -> float:
        """Seconds until `amount` could be taken (0: now; infinity: never, it exceeds the burst)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if amount <= self._tokens:
            return 0.0
        if amount > self.burst:
            return float("inf")
        return (amount - self._tokens) / self.rate

    def take(self, amount: float = 1.0) -> float:
        """Take `amount` if there is enough; returns 0, or the seconds until there would be."""
        wait = self.wait(amount)
        if wait == 0.0:
            self._tokens -= amount
        return wait


class Quota:
    """One participant's record quota: rate buckets and the bytes stored so far (by this process)."""

    def __init__(self, limits: ClientLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.records = TokenBucket(limits.records_per_s, limits.records_burst, clock)
        self.bytes = TokenBucket(limits.bytes_per_s, limits.bytes_burst, clock)
        self.stored = 0

    def admit(self, count: int, size: int, everyone: TokenBucket | None = None) -> tuple[str | None, float]:
        """Whether a batch of `count` records, `size` bytes, may be taken: (problem, retry after s).

        Both rates are checked before either is charged, so a refused batch costs nothing and
        the time to retry is the true one. What is stored counts only once it is (`stored`).
        """
        if self.stored + size > self.limits.max_record_bytes:
            return f"this participant's records reached the limit of {self.limits.max_record_bytes} bytes", 0.0
        wait = max(self.records.wait(count), self.bytes.wait(size), everyone.wait(count) if everyone else 0.0)
        if wait == float("inf"):
            return f"a batch of {count} records and {size} bytes is larger than the limit allows at once", 0.0
        if wait > 0:
            retry = math.ceil(wait * 1000) / 1000  # (never less than the true wait)
            return "records arrive faster than this server takes them; the page retries", retry
        self.records.take(count)
        self.bytes.take(size)
        if everyone is not None:
            everyone.take(count)
        return None, 0.0

    def stored_bytes(self, size: int) -> None:
        """Count `size` bytes of records as stored for this participant."""
        self.stored += size


def screen(
    records: list[Any], own_games: set[str], finished_games: set[str] | frozenset[str] = frozenset()
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split a batch into records a page may send and refusals ``{seq, error}``.

    `own_games` are the participant's open games; `finished_games` its games already completed,
    whose steps and episodes are closed (their record may not change) but whose events are still
    taken: a P2P page's ``p2p_stats`` is made as its game ends and may reach the server after the
    page said the game was done. The store checks the rest of each record's shape (and stores
    events at the server's time).
    """
    accepted: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    for item in records:
        seq = item.get("seq") if isinstance(item, dict) else None
        problem = _problem(item, own_games, finished_games)
        if problem:
            refused.append({"seq": seq, "error": problem})
        else:
            accepted.append(item)
    return accepted, refused


def _problem(item: Any, own_games: set[str], finished_games: set[str] | frozenset[str]) -> str | None:
    if not isinstance(item, dict):
        return f"a record must be an object, got {type(item).__name__}"
    kind = item.get("kind")
    if kind not in PAGE_RECORD_KINDS:
        return f"pages may send records of kind {', '.join(PAGE_RECORD_KINDS)}, not {str(kind)[:40]!r}"
    payload = item.get("payload")
    if not isinstance(payload, dict):
        return "a record's payload must be an object"
    if kind == "event":
        if payload.get("kind") not in PAGE_EVENT_KINDS:
            given = str(payload.get("kind"))[:40]
            return f"pages may record events of kind {', '.join(PAGE_EVENT_KINDS)}, not {given!r}"
        data = payload.get("data")
        if not isinstance(data, dict):
            return f"an event's data must be an object naming its game_id, got {type(data).__name__}"
        game_id = data.get("game_id")
        if game_id in finished_games:
            return None
    else:
        game_id = payload.get("game_id")
        if game_id in finished_games and game_id not in own_games:
            return f"game {str(game_id)[:40]!r} is completed: its steps and episodes may not change"
    if game_id not in own_games:
        return f"game {str(game_id)[:40]!r} is not a game this participant played in the browser"
    return None
