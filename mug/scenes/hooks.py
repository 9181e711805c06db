"""Game hooks (``gameplay(callback=...)``) and per-participant game pages (``content(game_page_html_fn=...)``).

Why a module of its own: a researcher's code runs inside the game here, so the contract it is held
to (what a hook receives, what it may record, what happens when it fails) is public API and is
defined in one place, apart from the many options of `mug.scenes.gym`. The server side that runs
the hooks is `mug.server.games.hooks`; the one that calls the page function is
`mug.server.sessions.game_pages`. See docs/hooks.md.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mug.env import to_jsonable
from mug.scenes._options import fail

if TYPE_CHECKING:
    from mug.scenes.gym import GymScene

#: The hooks a callback may define, in the order a game calls them.
HOOKS: tuple[str, ...] = ("on_episode_start", "on_step", "on_episode_end", "on_game_end")

#: Hook names (or their prefixes) of the system MUG replaces and what became of them (refused with this advice).
UPSTREAM_HOOKS: dict[str, str] = {
    "on_game_tick_start": "there is no hook before a step; use on_step (after each step) or on_episode_start",
    "on_game_tick_end": "it is on_step here (called after every env step)",
    "on_graphics_": "rendering happens in the browser; there is no graphics hook",
    "on_waitroom_": "there is no waitroom hook; the events table records waitroom_* and matched events",
}

#: Keys every ``callback`` event has; ``record()`` may not use them.
RESERVED_KEYS: frozenset[str] = frozenset({"game_id", "hook", "episode", "step"})


class GameCallback:
    """Base class of game hooks: override the ones you need (the others do nothing).

    Pass an instance as ``GymScene.gameplay(callback=...)``. The hooks run on the server, in the
    game's tick, on the thread that steps the env; each receives the game's :class:`GameContext`.

    * ``on_episode_start(ctx)``: after the env was reset for episode ``ctx.episode`` (step 0).
    * ``on_step(ctx)``: after every env step, before the frame is sent (``ctx.actions``,
      ``ctx.rewards``... are that step's). Its time is part of the tick: keep it short.
    * ``on_episode_end(ctx)``: when the episode is over (``ctx.outcome`` says how it ended).
    * ``on_game_end(ctx)``: once, when the game is over, however it ended (``ctx.outcome``).

    One instance serves every game of the scene (with ``serve(game_processes=N)``, each game
    process has its own copy); keep per-game state in ``ctx.state``, not on ``self``. A hook that
    raises is recorded (event ``callback_error``, with the traceback) and the game goes on.
    """

    def on_episode_start(self, ctx: GameContext) -> None:
        """Called after each episode's reset."""

    def on_step(self, ctx: GameContext) -> None:
        """Called after every env step."""

    def on_episode_end(self, ctx: GameContext) -> None:
        """Called when an episode is over."""

    def on_game_end(self, ctx: GameContext) -> None:
        """Called once when the game is over."""


class GameContext:
    """What a hook sees of its game; one object per game, updated before each hook call.

    Attributes:
        game_id, scene_id: the game and its scene.
        hook: the name of the hook being called.
        env: the environment object (what ``env_creator`` returned); None if it could not be made.
        episode: the episode number, from 1 (0 before the first episode).
        step: steps taken in this episode (0 at ``on_episode_start``).
        num_episodes, max_steps: the scene's settings.
        players: agent id → participant id, for the agents played by participants.
        agents: every agent id of the scene, in ``policy_mapping`` order.
        actions, rewards, terminated, truncated, infos, observations: by agent id, from the last
            step (empty before the episode's first step).
        returns: the sum of each agent's rewards in this episode so far.
        outcome: at ``on_episode_end`` how the episode ended, at ``on_game_end`` how the game did
            (``completed``, ``aborted``, ``error``, ``player_dropped``, ``abandoned``); else None.
        state: a dict for your own per-game data; it starts empty and lives as long as the game.
    """

    def __init__(self, game_id: str, scene_id: str | None, players: dict[str, str], agents: list[str]) -> None:
        self.game_id = game_id
        self.scene_id = scene_id
        self.hook = ""
        self.env: Any = None
        self.episode = 0
        self.step = 0
        self.num_episodes = 0
        self.max_steps = 0
        self.players = dict(players)
        self.agents = list(agents)
        self.actions: dict[str, Any] = {}
        self.rewards: dict[str, Any] = {}
        self.terminated: dict[str, Any] = {}
        self.truncated: dict[str, Any] = {}
        self.infos: dict[str, Any] = {}
        self.observations: dict[str, Any] = {}
        self.returns: dict[str, float] = {}
        self.outcome: str | None = None
        self.state: dict[str, Any] = {}
        self._records: list[dict[str, Any]] = []

    def record(self, **data: Any) -> None:
        """Store ``data`` in the results: one ``callback`` event (``results().events``, columns
        ``data.<key>``) with the game id, the hook, the episode and the step added.

        Values must have a JSON form (numbers, strings, lists, dicts; numpy values are converted).

        Raises:
            ValueError: no data, or a key the event uses itself (game_id, hook, episode, step).
            TypeError: a value with no JSON form.
        """
        if not data:
            raise ValueError("record() needs at least one keyword argument, e.g. ctx.record(score=3)")
        clash = sorted(RESERVED_KEYS & set(data))
        if clash:
            raise ValueError(
                f"record() got {', '.join(clash)}, which every callback event has already; use another name"
            )
        try:
            values = to_jsonable(data)
        except TypeError as exc:
            raise TypeError(f"record() takes JSON values only: {exc}") from None
        self._records.append(
            {"game_id": self.game_id, "hook": self.hook, "episode": self.episode, "step": self.step, **values}
        )

    def take_records(self) -> list[dict[str, Any]]:
        """The data recorded since the last call (the server stores it)."""
        records, self._records = self._records, []
        return records

    def __repr__(self) -> str:
        return f"GameContext(game_id={self.game_id!r}, hook={self.hook!r}, episode={self.episode}, step={self.step})"


def _name(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__name__


def check_callback(scene: GymScene, value: Any) -> tuple[Any, ...]:
    """``gameplay(callback=...)``: one callback object or a list of them (called in order), or None."""
    if value is None:
        return ()
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if isinstance(item, type):
            raise fail(
                scene, "gameplay", "callback",
                f"must be an instance, got the class {item.__name__}; pass {item.__name__}() instead",
            )  # fmt: skip
        for name in dir(item):
            old = next((o for o in UPSTREAM_HOOKS if name.startswith(o)), None)
            if old is not None and callable(getattr(item, name, None)):
                raise fail(
                    scene, "gameplay", "callback",
                    f"defines {name}, an upstream hook name: {UPSTREAM_HOOKS[old]} (hooks here: {', '.join(HOOKS)})",
                )  # fmt: skip
        for name in HOOKS:
            attr = getattr(item, name, None)
            if attr is not None and not callable(attr):
                raise fail(scene, "gameplay", "callback", f"has {name} = {attr!r}, which is not a method")
        if not any(callable(getattr(item, name, None)) for name in HOOKS):
            got = f"the function {_name(item)}" if callable(item) else f"{type(item).__name__} {item!r:.80}"
            raise fail(
                scene, "gameplay", "callback",
                f"must be an object with hook methods ({', '.join(HOOKS)}), e.g. an instance of a "
                f"mug.GameCallback subclass; got {got}",
            )  # fmt: skip
    return tuple(items)


def check_page_html_fn(scene: GymScene, value: Any) -> Callable[[str, str], str] | None:
    """``content(game_page_html_fn=...)``: a callable ``(participant_id, agent_id) -> str``, or None."""
    if value is None:
        return None
    if not callable(value) or isinstance(value, type):
        raise fail(
            scene, "content", "game_page_html_fn",
            f"must be a function (participant_id, agent_id) -> str, got {type(value).__name__} {value!r}",
        )  # fmt: skip
    try:
        inspect.signature(value).bind("participant", "agent")
    except TypeError:
        raise fail(
            scene, "content", "game_page_html_fn",
            f"must accept two arguments (participant_id, agent_id); {_name(value)} has the signature "
            f"{inspect.signature(value)}",
        ) from None  # fmt: skip
    except ValueError:  # (a builtin without a signature: it is called as is)
        pass
    return value


def validate_hooks(scene: GymScene) -> None:
    """Checks that need the whole scene: hooks run with the env on the server, so a scene whose env
    runs in the browser (``runtime()``, client-side or P2P) cannot have them."""
    if scene.callbacks and scene.runtime_options is not None:
        where = "every participant's browser (mode='p2p')" if scene.is_p2p else "the participant's browser (runtime())"
        raise fail(
            scene, "gameplay", "callback",
            f"cannot be used here: hooks run on the server with the env, and this scene's env runs in {where}. "
            "Record from the env itself (its infos are in the steps table) or run the game on the server",
        )  # fmt: skip


def describe(value: Any) -> Any:
    """A JSON description of a hook option for the experiment's saved config."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return [type(v).__qualname__ for v in value] or None
    return _name(value)


__all__ = ["HOOKS", "GameCallback", "GameContext", "check_callback", "check_page_html_fn", "validate_hooks"]
