"""Per-participant game pages: what ``content(game_page_html_fn=...)`` gives each player to read beside the game.

Why here: the function is called by the server for every kind of game (server-run, client-side,
P2P) when a participant's game starts, so one place decides when it is called, what it gets and
what happens when it fails. The text travels with the game the page receives (``page_html`` in
``start_game``'s reply, ``matched`` and the scene spec of a page that comes back; docs/protocol.md)
and replaces the scene's ``in_game_scene_body`` on that page.

The function receives the participant id and the agent id. Participant ids hold only letters,
digits and ``_ . : @ -`` (`mug.server.web.protocol.PARTICIPANT_ID`), so either can go into HTML
as it is; anything else a participant supplied must be escaped by the researcher (``html.escape``).

A function that raises or returns something other than a string: the page keeps the scene's
``in_game_scene_body``, the failure is recorded (event ``game_page_error``, with the traceback) and
logged once per scene.
"""

from __future__ import annotations

import logging
import traceback
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mug.scenes.gym import GymScene
    from mug.server.writer import StoreWriter

log = logging.getLogger("mug.server.sessions.game_pages")

KEPT = 4096  # pages remembered (a page that comes back gets the same text without a second call)


class GamePages:
    """Calls the scenes' page functions, once per participant and game."""

    def __init__(self, writer: StoreWriter) -> None:
        self.writer = writer
        self._pages: OrderedDict[tuple[str, str], str | None] = OrderedDict()
        self._logged: set[str] = set()  # scenes whose function failed (logged once each)

    def add(self, scene: Any, participant_id: str, game: dict[str, Any] | None, agent_id: str | None = None) -> Any:
        """`game` (a game payload for this participant's page) with its ``page_html``, when the scene has
        a page function; the payload unchanged otherwise. ``agent_id`` defaults to the payload's."""
        fn = getattr(scene, "game_page_html_fn", None)
        if fn is None or game is None or not game.get("game_id"):
            return game
        agent = agent_id or game.get("agent_id")
        if not isinstance(agent, str):
            return game
        return {**game, "page_html": self.html(scene, participant_id, agent, game["game_id"])}

    def html(self, scene: GymScene, participant_id: str, agent_id: str, game_id: str) -> str | None:
        """The participant's page text for this game (None when the function failed)."""
        key = (game_id, participant_id)
        if key in self._pages:
            return self._pages[key]
        text = self._call(scene, participant_id, agent_id, game_id)
        self._pages[key] = text
        while len(self._pages) > KEPT:
            self._pages.popitem(last=False)
        return text

    def _call(self, scene: GymScene, participant_id: str, agent_id: str, game_id: str) -> str | None:
        fn = scene.game_page_html_fn
        assert fn is not None
        try:
            text = fn(participant_id, agent_id)
            if not isinstance(text, str):
                raise TypeError(f"game_page_html_fn returned {type(text).__name__} {text!r:.80}, not a string")
            return text
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            scene_id = scene.scene_id or ""
            if scene_id not in self._logged:
                self._logged.add(scene_id)
                log.warning(
                    "scene %s: game_page_html_fn failed for participant %s (agent %s); the page shows "
                    "in_game_scene_body instead (recorded as game_page_error events; logged once per scene)\n%s",
                    scene_id, participant_id, agent_id, traceback.format_exc(),
                )  # fmt: skip
            self.writer.event(
                participant_id, scene.scene_id, "game_page_error",
                {"game_id": game_id, "agent_id": agent_id, "error": error, "traceback": traceback.format_exc()},
            )  # fmt: skip
            return None
