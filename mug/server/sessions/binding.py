"""Session binding: a participant's session belongs to the browser that started it.

The participant id in the URL used to be the only credential: opening ``/?participant=<A's id>``
in another browser silently took over A's live session (played A's agent, submitted A's forms,
read A's completion code). Now the server issues a random secret at a participant's first join;
the page keeps it (browser storage, shared by the tabs of one browser) and presents it on every
join. The store keeps only its SHA-256. A join without the right secret is refused with a page
saying the study is open elsewhere, unless the researcher allows a deliberate device switch
(``Experiment(allow_device_switch=True)``), in which case the new browser is given a new secret
and the old one's no longer works.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

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
    """Whether a join may take the session, and whether the page gets a (new) secret."""

    allowed: bool
    issue: bool = False  # the page is given a new secret
    switched: bool = False  # ... because the researcher allows a move to another browser


def decide(stored_hash: str | None, presented: str | None, allow_device_switch: bool) -> Decision:
    """The binding rule: no secret yet binds to this browser; the right one passes; else refuse or switch."""
    if stored_hash is None:
        return Decision(True, issue=True)
    if presented is not None and hmac.compare_digest(digest(presented), stored_hash):
        return Decision(True)
    if allow_device_switch:
        return Decision(True, issue=True, switched=True)
    return Decision(False)
