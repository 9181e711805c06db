"""Excluding a participant while the study runs (the admin dashboard's action, `ServerHandle.exclude`).

An excluded participant's study ends at once: the page shows the researcher's message and a
completion code, the participant is recorded as ``excluded`` (with the reason and the code), and a
reload or a return with the same id shows the same page again (the ending is kept with the
participant, as for every early ending). A participant in a waitroom leaves it; one in a game is
gone from it as if their page had closed, so their partners follow the scene's ``on_player_drop``
once its reconnect grace is over, and a single-player game ends as ``abandoned`` then.
A participant who had already finished is only marked excluded in the data.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mug.server.sessions.sessions import Sessions

__all__ = ["EXCLUDED_HEADER", "ExclusionError", "exclude"]

#: The heading of the page an excluded participant sees.
EXCLUDED_HEADER = "Your participation has ended"


class ExclusionError(ValueError):
    """The exclusion asked for cannot be made (unknown participant, already excluded, bad message)."""


async def exclude(sessions: Sessions, participant_id: str, message: str, reason: str = "") -> dict[str, Any]:
    """Exclude ``participant_id`` with ``message`` (shown to them) and ``reason`` (recorded; the
    message when empty). Call it on the server's loop. Returns ``{participant_id, completion_code,
    finished}`` (``finished``: they had already finished, so only the data changed)."""
    if not isinstance(message, str) or not message.strip():
        raise ExclusionError("the message to show the excluded participant is empty")
    if len(message) > 2000:
        raise ExclusionError(f"the message is {len(message)} characters long; at most 2000")
    if not isinstance(reason, str) or len(reason) > 2000:
        raise ExclusionError("the reason must be text of at most 2000 characters")
    reason = reason.strip() or message.strip()
    record = await sessions.writer.call(sessions.store.get_participant, participant_id)
    if record is None:
        raise ExclusionError(f"no participant {participant_id!r} in this study")
    if record.status == "excluded":
        raise ExclusionError(f"participant {participant_id!r} is excluded already")
    if "terminal" in record.data:
        await sessions.writer.call(
            sessions.store.exclude_participant, participant_id, reason, time.time(), record.completion_code
        )
        return {"participant_id": participant_id, "completion_code": record.completion_code, "finished": True}
    sessions.orders.remember(participant_id, record.data)
    index = min(record.scene_index, sessions.orders.count(participant_id) - 1)
    scene = sessions.orders.scene_at(participant_id, index)
    await sessions.matching.leave(participant_id)
    game = sessions.game_of_participant(participant_id)
    if game is not None:
        sessions.game_of.pop(participant_id, None)
        game.connection_lost(participant_id)
    await sessions.p2p.connection_lost(participant_id)
    spec = await sessions.end_with_code(
        participant_id, scene, "excluded", EXCLUDED_HEADER, message.strip(), excluded=reason
    )
    return {"participant_id": participant_id, "completion_code": spec.get("completion_code"), "finished": False}
