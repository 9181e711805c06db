"""Shared state of the servers of one experiment: small JSON values under keys, with expiry.

What the servers must agree on is small and changes seldom next to frames and steps: which
servers are alive, which server runs which game, who holds a lease for a job only one of them
may do at a time. Four operations cover it (python-socketio's managers are the model: a base
class with few abstract methods, a backend each):

* ``get(key)``, ``scan(prefix)`` — read one value, or every value under a prefix;
* ``put(key, value, ttl_s=, only_if_absent=, only_if=)`` — write, optionally expiring, optionally
  only when the key is absent or holds a given value (compare-and-set: a lease is renewed only by
  its holder);
* ``delete(key, only_if=)`` — remove, optionally only when the key holds a given value.

`LocalState` keeps them in this process (one server: the default); `RedisState` in Redis, where
each compare-and-set is one Lua script, atomic against the other servers. Keys are namespaced by
the experiment, so two experiments may share one Redis database.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from typing import Any
from urllib.parse import urlsplit

from mug.data.backends import redact_url

__all__ = ["LocalState", "RedisState", "SharedState", "StateError", "open_state"]

_ANY: Any = object()  # "no condition" for only_if (None is a value a caller may compare with)


class StateError(RuntimeError):
    """The shared state could not be reached or refused an operation; the message names the server and why."""


class SharedState(ABC):
    """Small shared values under string keys (JSON-able values), with optional expiry."""

    @abstractmethod
    async def get(self, key: str) -> Any | None:
        """The value under ``key``, or None when there is none (or it expired)."""

    @abstractmethod
    async def scan(self, prefix: str) -> dict[str, Any]:
        """Every live key starting with ``prefix`` and its value."""

    @abstractmethod
    async def put(
        self, key: str, value: Any, *, ttl_s: float | None = None, only_if_absent: bool = False, only_if: Any = _ANY
    ) -> bool:
        """Write ``value`` (expiring after ``ttl_s`` seconds when given); False when a condition failed.

        ``only_if_absent``: write only when the key has no live value. ``only_if``: write only when
        the key holds this value now (a lease renewed by its holder only).
        """

    @abstractmethod
    async def delete(self, key: str, *, only_if: Any = _ANY) -> bool:
        """Remove ``key`` (only when it holds ``only_if``, when given); whether a value was removed."""

    async def close(self) -> None:
        """Release connections (a no-op in process)."""
        return None

    # -- leases, on the four operations --------------------------------------------------------------

    async def claim(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take or renew the lease ``name`` for ``holder`` for ``ttl_s`` seconds; whether ``holder`` holds it now."""
        key = f"lease/{name}"
        if await self.put(key, holder, ttl_s=ttl_s, only_if=holder):
            return True
        return await self.put(key, holder, ttl_s=ttl_s, only_if_absent=True)

    async def release(self, name: str, holder: str) -> bool:
        """Give the lease back (only its holder can)."""
        return await self.delete(f"lease/{name}", only_if=holder)


def _text(value: Any) -> str:
    """The JSON text of a value as stored and compared (sorted keys: equal values, equal text)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _check_ttl(ttl_s: float | None) -> None:
    if ttl_s is not None and (not isinstance(ttl_s, (int, float)) or isinstance(ttl_s, bool) or ttl_s <= 0):
        raise ValueError(f"ttl_s must be a number of seconds > 0 or None, not {ttl_s!r}")


class LocalState(SharedState):
    """Shared state in this process's memory: one server (the default), or servers in one process (tests)."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[Any, float | None]] = {}  # key -> (JSON text, monotonic deadline)

    def _live(self, key: str) -> str | None:
        held = self._values.get(key)
        if held is None:
            return None
        text, deadline = held
        if deadline is not None and time.monotonic() >= deadline:
            del self._values[key]
            return None
        return text

    async def get(self, key: str) -> Any | None:
        text = self._live(key)
        return None if text is None else json.loads(text)

    async def scan(self, prefix: str) -> dict[str, Any]:
        found = {}
        for key in [k for k in self._values if k.startswith(prefix)]:
            text = self._live(key)
            if text is not None:
                found[key] = json.loads(text)
        return found

    async def put(
        self, key: str, value: Any, *, ttl_s: float | None = None, only_if_absent: bool = False, only_if: Any = _ANY
    ) -> bool:
        _check_ttl(ttl_s)
        text = _text(value)  # the same JSON check and comparison as the Redis backend's
        now = self._live(key)
        if only_if_absent and now is not None:
            return False
        if only_if is not _ANY and now != _text(only_if):
            return False
        self._values[key] = (text, None if ttl_s is None else time.monotonic() + ttl_s)
        return True

    async def delete(self, key: str, *, only_if: Any = _ANY) -> bool:
        now = self._live(key)
        if now is None or (only_if is not _ANY and now != _text(only_if)):
            return False
        del self._values[key]
        return True


# Compare-and-set and compare-and-delete run in Redis as one script each: atomic against the others.
_PUT_IF = """
local now = redis.call('GET', KEYS[1])
if now ~= ARGV[1] then return 0 end
if ARGV[3] == '' then redis.call('SET', KEYS[1], ARGV[2]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
"""
_DELETE_IF = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""


class RedisState(SharedState):
    """Shared state in Redis (``redis://host:port/db``): every server of the experiment reads the same values.

    Values are JSON text with sorted keys, so ``only_if`` compares values, as in `LocalState`.
    """

    def __init__(self, url: str, namespace: str, *, timeout_s: float = 5.0) -> None:
        import redis.asyncio as redis_asyncio  # the optional 'cluster' extra

        self.url = url
        self._prefix = f"mug:{namespace}:"
        self._redis = redis_asyncio.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
        )
        self._put_if = self._redis.register_script(_PUT_IF)
        self._delete_if = self._redis.register_script(_DELETE_IF)

    async def _call(self, what: str, coro: Any) -> Any:
        try:
            return await coro
        except Exception as exc:  # redis.exceptions.* and OS errors: say which server and what failed
            raise StateError(f"Redis at {redact_url(self.url)} failed to {what}: {type(exc).__name__}: {exc}") from exc

    async def ping(self) -> None:
        """Raise `StateError` naming the server unless Redis answers."""
        await self._call("answer PING", self._redis.ping())

    async def get(self, key: str) -> Any | None:
        text = await self._call(f"read {key!r}", self._redis.get(self._prefix + key))
        return None if text is None else json.loads(text)

    async def scan(self, prefix: str) -> dict[str, Any]:
        keys = [k async for k in self._redis.scan_iter(match=_glob_escape(self._prefix + prefix) + "*", count=500)]
        if not keys:
            return {}
        values = await self._call(f"read the keys under {prefix!r}", self._redis.mget(keys))
        cut = len(self._prefix)
        return {k[cut:]: json.loads(v) for k, v in zip(keys, values, strict=True) if v is not None}

    async def put(
        self, key: str, value: Any, *, ttl_s: float | None = None, only_if_absent: bool = False, only_if: Any = _ANY
    ) -> bool:
        _check_ttl(ttl_s)
        text = _text(value)
        px = None if ttl_s is None else max(1, round(ttl_s * 1000))
        name = self._prefix + key
        if only_if is not _ANY:
            args = [_text(only_if), text, "" if px is None else str(px)]
            done = await self._call(f"write {key!r}", self._put_if(keys=[name], args=args))
            return bool(done)
        done = await self._call(f"write {key!r}", self._redis.set(name, text, px=px, nx=only_if_absent))
        return bool(done)

    async def delete(self, key: str, *, only_if: Any = _ANY) -> bool:
        name = self._prefix + key
        if only_if is not _ANY:
            removed = await self._call(f"remove {key!r}", self._delete_if(keys=[name], args=[_text(only_if)]))
        else:
            removed = await self._call(f"remove {key!r}", self._redis.delete(name))
        return bool(removed)

    async def close(self) -> None:
        await self._redis.aclose()


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def check_redis_url(url: Any) -> str:
    """``url`` when it is a Redis URL (``redis://``, ``rediss://``, ``unix://``); else ValueError naming it."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"redis must be a URL like redis://127.0.0.1:6379/0, not {url!r}")
    scheme = urlsplit(url).scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError(
            f"redis must be a URL starting with redis://, rediss:// or unix://, not {redact_url(url)!r} "
            f"(scheme {scheme!r})"
        )
    return url


async def open_state(url: str | None, namespace: str) -> SharedState:
    """The shared state for an experiment: in process (``url=None``) or in Redis, checked to answer.

    Raises ValueError for a URL that is not a Redis URL, `StateError` when Redis does not answer,
    and ImportError naming the extra when the ``redis`` package is missing.
    """
    if url is None:
        return LocalState()
    check_redis_url(url)
    try:
        state = RedisState(url, namespace)
    except ImportError as exc:
        raise ImportError('a Redis URL needs the redis package: pip install "mug-py[cluster]"') from exc
    try:
        await state.ping()
    except StateError:
        await state.close()
        raise
    return state
