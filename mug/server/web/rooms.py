"""The Socket.IO rooms the server sends to: one per participant (all their pages) and one per game.

Named in one place because three parts address them: the sessions (a participant's messages, a
game's frames), the game processes' deliveries, and the relay between servers, which forwards a
room's messages to the other servers that have members in it (`mug.server.cluster.relay`).
"""

from __future__ import annotations

__all__ = ["GAME_ROOM", "PARTICIPANT_ROOM", "game_room", "participant_room"]

PARTICIPANT_ROOM = "participant:"
GAME_ROOM = "game:"


def participant_room(participant_id: str) -> str:
    """The room of every page of one participant."""
    return PARTICIPANT_ROOM + participant_id


def game_room(game_id: str) -> str:
    """The room of the pages of a server-run game's players."""
    return GAME_ROOM + game_id
