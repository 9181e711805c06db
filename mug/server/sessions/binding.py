"""Session binding: a participant's session belongs to the browser that started it.

The participant id in the URL used to be the only credential: opening ``/?participant=<A's id>``
in another browser silently took over A's live session (played A's agent, submitted A's forms,
read A's completion code). Now a session is bound at its first join to a random secret that the
page keeps (browser storage, shared by the tabs of one browser; the page makes it before it first
joins, or the server issues one to a client that sends none) and presents on every join. The
store keeps only its SHA-256. A join without the right secret is refused with a page saying the
study is open elsewhere, unless the researcher allows a deliberate device switch
(``Experiment(allow_device_switch=True)``): then the new browser's secret replaces the old one's.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPEN_ELSEWHERE = (
    "This study is already open in another browser or on another device. Please continue there. "
    "If you cannot, contact the researcher."
)


def new_secret() -> str:
    """A fresh session secret (32 random bytes, URL-safe text)."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the store keeps of a secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Decision:
    """Whether a join may take the session; which secret to bind it to now; whether to send that back."""

    allowed: bool
    bind: str | None = None  # bind the session to this secret now (None: it stays as it is)
    issued: bool = False  # `bind` was made by the server (the page sent none): the reply carries it
    switched: bool = False  # another browser took the session (the researcher allows device switches)


def decide(stored_hash: str | None, presented: str | None, allow_device_switch: bool) -> Decision:
    """The binding rule: the first browser binds the session; the right secret passes; else refuse or switch.

    Pages make their secret themselves and keep it before their first join, so a reply lost on the
    way cannot leave a page without the secret its session is bound to; a client that sends none
    (a script) is given one.
    """
    if presented is not None and stored_hash is not None and hmac.compare_digest(digest(presented), stored_hash):
        return Decision(True)
    if stored_hash is not None and not allow_device_switch:
        return Decision(False)
    switched = stored_hash is not None
    if presented is not None:
        return Decision(True, bind=presented, switched=switched)
    return Decision(True, bind=new_secret(), issued=True, switched=switched)


def simulated(data: Mapping[str, Any], stored_hash: str | None) -> bool:
    """Whether a participant is a simulated one (``Experiment.simulate``, docs/simulate.md).

    The simulator marks the participants it makes (``data.simulated.binding``: the first 16 hex
    digits of the hash of the secret it bound their session to, which no page can write); one
    counts as simulated only while the session is still bound to that secret, as in the results
    (`mug.data.results`): a person who took such a session over is a real participant.
    """
    mark = data.get("simulated") if isinstance(data, Mapping) else None
    binding = mark.get("binding") if isinstance(mark, Mapping) else None
    return isinstance(binding, str) and bool(binding) and stored_hash is not None and stored_hash[:16] == binding
