"""GymScene: a scene where participants play a Gymnasium / PettingZoo-parallel environment."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mug.matchmaking import Matchmaker
from mug.policies import ModelConfig, PolicyError, validate_policy_spec
from mug.scenes._options import (
    NOT_PROVIDED,
    check_callable,
    check_choice,
    check_color,
    check_int,
    check_number,
    check_str,
    fail,
    is_json_value,
    known_options,
    text_or_file,
)
from mug.scenes.assets import AssetOptions, assets_options
from mug.scenes.hooks import check_callback, check_page_html_fn, describe, validate_hooks
from mug.scenes.hud import check_hud_text
from mug.scenes.monitoring import MonitoringOptions, monitoring_options
from mug.scenes.multiplayer import (
    P2P_ONLY,
    MultiplayerOptions,
    WaitroomOptions,
    missing_snapshot_methods,
    multiplayer_options,
    waitroom_options,
)
from mug.scenes.provenance import replay_provenance
from mug.scenes.runtime import RuntimeOptions, runtime_options
from mug.scenes.scene import Scene
from mug.scenes.webrtc import WebRTCOptions, webrtc_options

INPUT_MODES = ("pressed_keys", "single_keystroke")
POPULATION_METHODS = ("default_action", "previous_submitted_action")
# What happens to a participant whose server-run game was cut off by a server crash.
INTERRUPT_POLICIES = ("restart", "next_scene", "end")


@dataclass(frozen=True)
class HudInfo:
    """What a HUD callable receives each frame to build its text."""

    episode: int  # 1-based
    num_episodes: int
    step: int
    max_steps: int
    returns: dict[str, float] = field(default_factory=dict)
    env: Any = None


def _key_name(scene: Any, key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise fail(
            scene,
            "gameplay",
            "action_mapping",
            f"keys must be KeyboardEvent.key names like 'ArrowLeft', 'a' or ' ', got {key!r}",
        )
    return key


class GymScene(Scene):
    """An interactive scene: an environment stepped at a fixed rate, humans acting with the keyboard.

    Configure it with the chained methods ``scene``, ``environment``, ``rendering``, ``gameplay``,
    ``policies`` and ``content``; each validates its options when called.
    """

    scene_type: ClassVar[str] = "gym"

    def __init__(self) -> None:
        super().__init__()
        # environment
        self.env_creator: Callable[..., Any] | None = None
        self.env_config: dict[str, Any] = {}
        self.seed: int | None = None
        # rendering
        self.fps: int = 30
        self.game_width: int = 600
        self.game_height: int = 400
        self.background: str = "#ffffff"
        self.hud: str | Callable[[HudInfo], str] | None = None
        self.hud_score_carry_over: bool = False
        # sprite textures and animations (None: the scene declares none; see mug/scenes/assets.py)
        self.asset_options: AssetOptions | None = None
        # gameplay
        self.action_mapping: dict[str | tuple[str, ...], Any] = {}
        self.default_action: Any = None
        self.num_episodes: int = 1
        self.max_steps: int = 1000
        self.input_mode: str = "pressed_keys"
        self.reset_freeze_s: float = 0.0
        self.action_population_method: str = "default_action"
        self.record_observations: bool = False
        self.on_interrupt: str = "restart"
        self.callbacks: tuple[Any, ...] = ()  # game hooks (mug/scenes/hooks.py)
        # client-side runtime (None: the env runs on the server)
        self.runtime_options: RuntimeOptions | None = None
        # multiplayer (None: one participant per game)
        self.multiplayer_options: MultiplayerOptions | None = None
        self.waitroom_options: WaitroomOptions | None = None
        self.monitoring_options: MonitoringOptions | None = None
        # WebRTC of a P2P scene (None: the experiment's, else none; see mug/scenes/webrtc.py)
        self.webrtc_options: WebRTCOptions | None = None
        # policies
        self.policy_mapping: dict[str, Any] = {}
        # content
        self.scene_header: str | None = None
        self.scene_body: str = ""
        self.in_game_scene_body: str = ""
        self.game_page_html_fn: Callable[[str, str], str] | None = None

    # -- builder methods -------------------------------------------------------------------

    @known_options
    def environment(
        self,
        env_creator: Callable[..., Any] = NOT_PROVIDED,
        env_config: dict[str, Any] | None = NOT_PROVIDED,
        seed: int | None = NOT_PROVIDED,
    ) -> GymScene:
        """Set how the env is made: ``env_creator(**env_config)``; ``seed`` seeds episode k with seed + k."""
        if env_creator is not NOT_PROVIDED:
            self.env_creator = check_callable(self, "environment", "env_creator", env_creator)
        if env_config is not NOT_PROVIDED:
            if env_config is None:
                env_config = {}
            if not isinstance(env_config, dict) or not all(isinstance(k, str) for k in env_config):
                raise fail(self, "environment", "env_config", f"must be a dict with str keys, got {env_config!r}")
            self.env_config = dict(env_config)
        if seed is not NOT_PROVIDED:
            self.seed = None if seed is None else check_int(self, "environment", "seed", seed, minimum=0)
        return self

    @known_options
    def rendering(
        self,
        fps: int = NOT_PROVIDED,
        game_width: int = NOT_PROVIDED,
        game_height: int = NOT_PROVIDED,
        background: str = NOT_PROVIDED,
        hud: str | Callable[[HudInfo], str] | None = NOT_PROVIDED,
        hud_score_carry_over: bool = NOT_PROVIDED,
    ) -> GymScene:
        """Set the tick rate, the canvas size in pixels, its background color and the HUD text.

        ``hud`` is a fixed string or a callable receiving a :class:`HudInfo` and returning text; a
        string may show ``{score}``, ``{episode}``, ``{num_episodes}``, ``{step}`` and ``{max_steps}``.
        With ``hud_score_carry_over=True`` the score the HUD shows (``{score}``, ``HudInfo.returns``)
        is the total since the game's first episode instead of starting again at 0 each episode.
        """
        if fps is not NOT_PROVIDED:
            self.fps = check_int(self, "rendering", "fps", fps, minimum=1, maximum=120)
        if game_width is not NOT_PROVIDED:
            self.game_width = check_int(self, "rendering", "game_width", game_width, minimum=50, maximum=4096)
        if game_height is not NOT_PROVIDED:
            self.game_height = check_int(self, "rendering", "game_height", game_height, minimum=50, maximum=4096)
        if background is not NOT_PROVIDED:
            self.background = check_color(self, "rendering", "background", background)
        if hud is not NOT_PROVIDED:
            if hud is not None and not isinstance(hud, str) and not callable(hud):
                raise fail(
                    self, "rendering", "hud", f"must be a string, a callable(HudInfo) -> str or None, got {hud!r}"
                )
            self.hud = check_hud_text(self, hud) if isinstance(hud, str) else hud
        if hud_score_carry_over is not NOT_PROVIDED:
            if not isinstance(hud_score_carry_over, bool):
                raise fail(
                    self, "rendering", "hud_score_carry_over", f"must be True or False, got {hud_score_carry_over!r}"
                )
            self.hud_score_carry_over = hud_score_carry_over
        return self

    @known_options
    def assets(
        self,
        images: dict[str, str] | None = NOT_PROVIDED,
        spritesheets: dict[str, dict[str, Any]] | None = NOT_PROVIDED,
        atlases: dict[str, dict[str, str]] | None = NOT_PROVIDED,
        animations: dict[str, dict[str, Any]] | None = NOT_PROVIDED,
        assets_dir: str | None = NOT_PROVIDED,
    ) -> GymScene:
        """Declare the textures ``Surface.sprite(texture=key)`` draws; the page loads them before the game.

        ``images={"chef": "art/chef.png"}``; ``spritesheets={"tiles": {"path": ..., "frame_width": 32,
        "frame_height": 32, "margin": 0, "spacing": 0}}`` (frames by index, left to right, top to
        bottom); ``atlases={"kitchen": {"image": ..., "json": ...}}`` (TexturePacker JSON, frames by
        name or index); ``animations={"walk": {"texture": "tiles", "frames": [0, 1, 2], "frame_rate": 8,
        "repeat": True}}`` (a sprite whose texture is an animation's key plays it). PNG, JPEG, GIF or
        WebP; relative paths are relative to ``assets_dir`` (default: the working directory). Keys
        are unique across kinds; every file is checked now (docs/assets.md).
        """
        given = {k: v for k, v in locals().items() if k != "self" and v is not NOT_PROVIDED}
        self.asset_options = assets_options(self, self.asset_options, given)
        return self

    @known_options
    def gameplay(
        self,
        action_mapping: dict[str | tuple[str, ...], Any] = NOT_PROVIDED,
        default_action: Any = NOT_PROVIDED,
        num_episodes: int = NOT_PROVIDED,
        max_steps: int = NOT_PROVIDED,
        input_mode: str = NOT_PROVIDED,
        reset_freeze_s: float = NOT_PROVIDED,
        action_population_method: str = NOT_PROVIDED,
        record_observations: bool = NOT_PROVIDED,
        on_interrupt: str = NOT_PROVIDED,
        callback: Any = NOT_PROVIDED,
    ) -> GymScene:
        """Set how keys become actions and how long the game lasts.

        ``action_mapping`` maps a key name (``KeyboardEvent.key``, e.g. ``"ArrowLeft"``) or a tuple of
        keys held together (a composite action) to an action. With ``input_mode="pressed_keys"`` the
        keys held at each tick choose the action; with ``"single_keystroke"`` each key press acts once.
        ``default_action`` is used when no mapped key applies. ``action_population_method`` says what a
        human's agent does on a tick without a new action: ``"default_action"`` or
        ``"previous_submitted_action"`` (matters for ``single_keystroke`` and for players who are away).
        ``record_observations`` stores every step's observations in the data (``steps.obs``).
        ``on_interrupt`` says what a participant meets after the server stopped without ending
        their server-run game (a crash; the game is recorded as ``interrupted``): ``"restart"``
        (default; the scene's game starts over, or its waitroom for multiplayer scenes),
        ``"next_scene"`` (they move on), or ``"end"`` (the study ends for them with a completion
        code). They are told what happened in each case.
        ``callback``: game hooks run on the server (a ``mug.GameCallback`` instance, or a list of
        them): ``on_episode_start``, ``on_step``, ``on_episode_end``, ``on_game_end`` (docs/hooks.md).
        """
        if action_mapping is not NOT_PROVIDED:
            if not isinstance(action_mapping, dict) or not action_mapping:
                raise fail(self, "gameplay", "action_mapping", f"must be a non-empty dict, got {action_mapping!r}")
            mapping: dict[str | tuple[str, ...], Any] = {}
            for key, action in action_mapping.items():
                if isinstance(key, tuple):
                    keys = tuple(sorted({_key_name(self, k) for k in key}))
                    if len(keys) < 2:
                        raise fail(
                            self,
                            "gameplay",
                            "action_mapping",
                            f"a composite key must hold at least two different keys, got {key!r}",
                        )
                    norm: str | tuple[str, ...] = keys
                else:
                    norm = _key_name(self, key)
                if norm in mapping:
                    raise fail(self, "gameplay", "action_mapping", f"maps {key!r} twice")
                if not is_json_value(action):
                    raise fail(
                        self,
                        "gameplay",
                        "action_mapping",
                        f"actions must be JSON values (int, str, list of ints...), got {action!r} for {key!r}",
                    )
                mapping[norm] = action
            self.action_mapping = mapping
        if default_action is not NOT_PROVIDED:
            if not is_json_value(default_action):
                raise fail(self, "gameplay", "default_action", f"must be a JSON value, got {default_action!r}")
            self.default_action = default_action
        if num_episodes is not NOT_PROVIDED:
            self.num_episodes = check_int(self, "gameplay", "num_episodes", num_episodes, minimum=1)
        if max_steps is not NOT_PROVIDED:
            self.max_steps = check_int(self, "gameplay", "max_steps", max_steps, minimum=1)
        if input_mode is not NOT_PROVIDED:
            self.input_mode = check_choice(self, "gameplay", "input_mode", input_mode, INPUT_MODES)
        if reset_freeze_s is not NOT_PROVIDED:
            self.reset_freeze_s = check_number(
                self, "gameplay", "reset_freeze_s", reset_freeze_s, minimum=0, maximum=60
            )
        if action_population_method is not NOT_PROVIDED:
            self.action_population_method = check_choice(
                self, "gameplay", "action_population_method", action_population_method, POPULATION_METHODS
            )
        if record_observations is not NOT_PROVIDED:
            if not isinstance(record_observations, bool):
                raise fail(
                    self, "gameplay", "record_observations", f"must be True or False, got {record_observations!r}"
                )
            self.record_observations = record_observations
        if on_interrupt is not NOT_PROVIDED:
            self.on_interrupt = check_choice(self, "gameplay", "on_interrupt", on_interrupt, INTERRUPT_POLICIES)
        if callback is not NOT_PROVIDED:
            self.callbacks = check_callback(self, callback)
        return self

    @known_options
    def runtime(
        self,
        env_code: str = NOT_PROVIDED,
        env_code_filepath: str = NOT_PROVIDED,
        packages_to_install: list[str] = NOT_PROVIDED,
        wheels_dir: str = NOT_PROVIDED,
        package_index_url: str | None = NOT_PROVIDED,
    ) -> GymScene:
        """Run this scene's env in the participant's browser (Pyodide in a Web Worker).

        ``env_code`` (or the file ``env_code_filepath``) is Python source that defines ``env`` at
        module level; it may import ``mug.env`` (Surface, spaces, the examples). Packages in
        ``packages_to_install`` are installed with micropip: a pure-Python wheel from ``wheels_dir``
        (served by MUG's own server) or a package of the Pyodide distribution at
        ``package_index_url`` (default: MUG's bundled Pyodide core, which has no numpy; point it at a
        full Pyodide distribution for Pyodide-built packages). Policies run in the browser too
        (``"random"`` or a ``ModelConfig``); HUD text must be a fixed string.
        """
        given = {k: v for k, v in locals().items() if k != "self" and v is not NOT_PROVIDED}
        self.runtime_options = runtime_options(self, self.runtime_options, given)
        return self

    @known_options
    def multiplayer(
        self,
        mode: str = NOT_PROVIDED,
        input_delay: int = NOT_PROVIDED,
        reconnect_grace_s: float = NOT_PROVIDED,
        on_player_drop: str = NOT_PROVIDED,
        per_player_views: bool = NOT_PROVIDED,
        max_prediction: int = NOT_PROVIDED,
        p2p_connect_timeout_s: float = NOT_PROVIDED,
        matchmaker: Matchmaker | None = NOT_PROVIDED,
    ) -> GymScene:
        """Let several participants play one game; each ``"human"`` agent is one participant.

        ``mode="server_authoritative"``: the env and the bots run on the server, browsers send actions
        and draw what the server sends. ``input_delay`` (frames) holds each key change that long before
        it is sent. A player who disconnects has ``reconnect_grace_s`` to come back (meanwhile their
        agent takes the default action); after that they are dropped and ``on_player_drop`` says
        whether the others ``"continue"`` or the game ends for everyone (``"end_game"``).
        With ``per_player_views`` each player sees ``env.render(agent_id)`` (partial observability).
        Participants wait in a waitroom (see ``waitroom``) until ``matchmaker`` groups them: first
        come, first served by default; ``mug.LatencyFIFOMatchmaker``, ``mug.GroupReunionMatchmaker``
        or a ``mug.Matchmaker`` of your own (docs/matchmaking.md).

        ``mode="p2p"`` (with ``runtime()``): every participant's browser runs the env; inputs travel
        between the browsers (WebRTC, see ``webrtc``; through the server when no DataChannel opens
        within ``p2p_connect_timeout_s``) and rollback hides the delay: ``input_delay`` (default 2,
        at most 8) frames of delay, then up to ``max_prediction`` frames predicted. 2-4 human agents;
        the env must define ``get_state``/``set_state`` (rollback restores snapshots).
        """
        given = {k: v for k, v in locals().items() if k != "self" and v is not NOT_PROVIDED}
        self.multiplayer_options = multiplayer_options(self, self.multiplayer_options, given)
        return self

    @known_options
    def webrtc(
        self,
        ice_servers: list[dict[str, Any]] | None = None,
        turn_url: str | None = None,
        turn_username: str | None = None,
        turn_credential: str | None = None,
        force_relay: bool = False,
    ) -> GymScene:
        """Set the ICE servers (STUN/TURN) the browsers of a P2P game connect through.

        ``ice_servers`` is a list of ``RTCIceServer`` dicts (``{"urls": ..., "username": ...,
        "credential": ...}``); ``turn_url`` (``turn:``/``turns:``/``stun:``) with ``turn_username`` and
        ``turn_credential`` adds one more. ``force_relay=True`` makes the browsers use TURN relay
        candidates only (it needs a TURN server). Each call replaces the scene's setting, which
        replaces the experiment's (``Experiment.webrtc``). Credentials reach the matched
        participants' browsers (they must, to use TURN) but never the data: the saved config shows
        them as ``"***"``. Without any, browsers offer only their own addresses and fall back to the
        server relay.
        """
        given = {k: v for k, v in locals().items() if k != "self"}
        self.webrtc_options = webrtc_options(self, given)
        return self

    @known_options
    def waitroom(
        self,
        timeout: float = NOT_PROVIDED,
        timeout_message: str = NOT_PROVIDED,
        timeout_redirect_url: str | None = NOT_PROVIDED,
        timeout_scene_id: str | None = NOT_PROVIDED,
        hide_lobby_count: bool = NOT_PROVIDED,
        timeout_policy: Any = NOT_PROVIDED,
    ) -> GymScene:
        """Set how long participants wait for partners (seconds) and what happens if none come.

        On timeout the participant sees ``timeout_message`` and a completion code (recorded), then
        either a button to ``timeout_redirect_url`` or the scene ``timeout_scene_id``. With
        ``timeout_policy`` (``"random"``, a callable, a ``ModelConfig``) the game starts instead, with
        the missing humans' agents played by that policy (recorded as such; in a P2P scene the
        participant plays alone in their browser, so the policy is ``"random"`` or a ``ModelConfig``).
        ``hide_lobby_count`` hides how many others are waiting.
        """
        given = {k: v for k, v in locals().items() if k != "self" and v is not NOT_PROVIDED}
        self.waitroom_options = waitroom_options(self, self.waitroom_options, given)
        return self

    @known_options
    def monitoring(
        self,
        max_ping_ms: float | None = None,
        ping_window: int = 5,
        ping_violations: int = 3,
        tab_warning_s: float | None = None,
        tab_exclude_s: float | None = None,
        messages: dict[str, str] | None = None,
        callback: Callable[[dict[str, Any]], Any] | None = None,
        callback_interval_s: float = 1.0,
    ) -> GymScene:
        """Watch participants while they play this scene's game, warn them, and exclude them.

        ``max_ping_ms``: of the last ``ping_window`` round trips the page measured, once
        ``ping_violations`` are over it the participant is excluded (warned at the first).
        ``tab_warning_s`` / ``tab_exclude_s``: a tab hidden or a window unfocused that long gets a
        warning / ends the participant's study. ``messages`` (keys ``ping_warning``,
        ``ping_exclude``, ``tab_warning``, ``tab_exclude``, ``callback_exclude``) is what they read.
        ``callback(context)`` every ``callback_interval_s``: your rule, returning ``{"exclude": bool,
        "warn": bool, "message": str}`` (docs/monitoring.md). An excluded participant sees the message
        and a completion code and stays excluded; their partners follow ``on_player_drop``.
        """
        given = {k: v for k, v in locals().items() if k != "self"}
        self.monitoring_options = monitoring_options(self, given)
        return self

    @known_options
    def policies(self, policy_mapping: dict[str | int, Any] = NOT_PROVIDED) -> GymScene:
        """Say who controls each agent: ``"human"``, ``"random"``, a callable ``policy(observation) -> action``,
        or a :class:`mug.policies.ModelConfig` (an ONNX model, checked against the model right here).

        Keys are the env's agent ids (any single key for a single-agent Gymnasium env).
        """
        if policy_mapping is not NOT_PROVIDED:
            if not isinstance(policy_mapping, dict) or not policy_mapping:
                raise fail(self, "policies", "policy_mapping", f"must be a non-empty dict, got {policy_mapping!r}")
            mapping: dict[str, Any] = {}
            for agent, policy in policy_mapping.items():
                if isinstance(agent, bool) or not isinstance(agent, (str, int)):
                    raise fail(self, "policies", "policy_mapping", f"agent ids must be str or int, got {agent!r}")
                if policy != "human":
                    try:
                        # Where it runs (server or browser) is checked in validate(), once runtime() is known.
                        validate_policy_spec(policy, server=False)
                    except (PolicyError, ValueError) as exc:
                        raise fail(self, "policies", "policy_mapping", f"policy for agent {agent!r}: {exc}") from None
                mapping[str(agent)] = policy
            self.policy_mapping = mapping
        return self

    @known_options
    def content(
        self,
        scene_header: str | None = NOT_PROVIDED,
        scene_body: str = NOT_PROVIDED,
        scene_body_filepath: str = NOT_PROVIDED,
        in_game_scene_body: str = NOT_PROVIDED,
        in_game_scene_body_filepath: str = NOT_PROVIDED,
        game_page_html_fn: Callable[[str, str], str] | None = NOT_PROVIDED,
    ) -> GymScene:
        """Set the HTML shown before the game starts (``scene_body``) and beside it while playing.

        ``game_page_html_fn(participant_id, agent_id) -> str`` gives each participant their own
        in-game HTML (e.g. "you are the red player") in place of ``in_game_scene_body`` (docs/hooks.md).
        """
        body = text_or_file(self, "content", "scene_body", scene_body, scene_body_filepath)
        in_game = text_or_file(self, "content", "in_game_scene_body", in_game_scene_body, in_game_scene_body_filepath)
        if scene_header is not NOT_PROVIDED:
            self.scene_header = check_str(self, "content", "scene_header", scene_header, allow_none=True)
        if body is not NOT_PROVIDED:
            self.scene_body = body
        if in_game is not NOT_PROVIDED:
            self.in_game_scene_body = in_game
        if game_page_html_fn is not NOT_PROVIDED:
            self.game_page_html_fn = check_page_html_fn(self, game_page_html_fn)
        return self

    # -- derived views ---------------------------------------------------------------------

    @property
    def human_agents(self) -> list[str]:
        """Agent ids played by humans, in policy_mapping order."""
        return [a for a, p in self.policy_mapping.items() if p == "human"]

    def filled_in(self, players: Mapping[str, str]) -> GymScene:
        """This scene as played by a group short of humans (a waitroom timeout with ``timeout_policy``):
        a copy whose human agents without a player in `players` (agent → participant) are played by
        the timeout policy. The scene itself when every human agent has a player, or without a policy."""
        missing = [a for a in self.human_agents if a not in players]
        policy = self.effective_waitroom().timeout_policy
        if not missing or policy is None:
            return self
        clone = copy.copy(self)
        clone.policy_mapping = {a: policy if a in missing else p for a, p in self.policy_mapping.items()}
        return clone

    def effective_waitroom(self) -> WaitroomOptions:
        """The waitroom settings in force (defaults when ``waitroom()`` was not called)."""
        return self.waitroom_options or WaitroomOptions()

    def allowed_actions(self) -> list[Any]:
        """Every action a human may send: the mapped actions and the default action."""
        actions = list(self.action_mapping.values())
        if self.default_action not in actions:
            actions.append(self.default_action)
        return actions

    def validate(self) -> None:
        validate_hooks(self)
        if self.is_p2p and self.runtime_options is None:
            raise fail(
                self, "multiplayer", "mode",
                "'p2p' needs runtime(): every participant's browser runs the env (pass env_code or "
                "env_code_filepath)",
            )  # fmt: skip
        if self.runtime_options is not None:
            self._validate_runtime()
        else:
            if self.env_creator is None:
                raise fail(self, "environment", "env_creator", "is required: pass a callable that returns the env")
            for agent, policy in self.policy_mapping.items():
                if isinstance(policy, ModelConfig) and policy.custom_inference_fn is not None:
                    raise fail(
                        self, "policies", "policy_mapping",
                        f"policy for agent {agent!r} has a custom_inference_fn (JavaScript), but this scene runs its "
                        "policies on the server; use it in a client-side scene (runtime())",
                    )  # fmt: skip
        if not self.policy_mapping:
            raise fail(
                self,
                "policies",
                "policy_mapping",
                "is required: map each agent id to 'human', 'random' or a callable, e.g. {'player': 'human'}",
            )
        humans = self.human_agents
        if len(humans) > 1 and self.multiplayer_options is None:
            raise fail(
                self,
                "policies",
                "policy_mapping",
                f"has {len(humans)} human agents ({', '.join(humans)}); call .multiplayer() to let several "
                "participants play one game",
            )
        if self.multiplayer_options is not None and not humans:
            raise fail(self, "multiplayer", "mode", "needs at least one 'human' agent in policy_mapping")
        if self.is_p2p:
            if not 2 <= len(humans) <= 4:
                raise fail(
                    self, "multiplayer", "mode",
                    f"'p2p' needs 2 to 4 'human' agents in policy_mapping, got {len(humans)}",
                )  # fmt: skip
        elif self.multiplayer_options is not None:
            given = sorted(set(P2P_ONLY) & self.multiplayer_options.given)
            if given:
                raise fail(self, "multiplayer", given[0], "applies to mode='p2p' only")
        if self.webrtc_options is not None and not self.is_p2p:
            raise fail(self, "webrtc", "ice_servers", "applies to multiplayer(mode='p2p') scenes only")
        if self.waitroom_options is not None and self.multiplayer_options is None:
            raise fail(self, "waitroom", "timeout", "applies to multiplayer scenes only; call .multiplayer() too")
        fill_in = self.effective_waitroom().timeout_policy
        if self.is_p2p and fill_in is not None and not (fill_in == "random" or isinstance(fill_in, ModelConfig)):
            raise fail(
                self, "waitroom", "timeout_policy",
                "must be 'random' or a ModelConfig with mode='p2p': the participant then plays alone in their "
                f"browser, where a Python callable cannot run (got {type(fill_in).__name__})",
            )  # fmt: skip
        if humans:
            if not self.action_mapping:
                raise fail(self, "gameplay", "action_mapping", "is required when an agent is played by a human")
            if self.default_action is None:
                raise fail(
                    self,
                    "gameplay",
                    "default_action",
                    "is required when an agent is played by a human (the action when no mapped key is held)",
                )
        if self.is_p2p:
            for action in self.allowed_actions():
                if isinstance(action, bool) or not isinstance(action, int):
                    raise fail(
                        self, "gameplay", "action_mapping",
                        f"maps to {action!r}, but with mode='p2p' every action a human sends (and default_action) "
                        "must be an int of the env's Discrete action space: the peers exchange them as numbers",
                    )  # fmt: skip

    def _validate_runtime(self) -> None:
        opts = self.runtime_options
        assert opts is not None
        if not opts.env_code:
            raise fail(self, "runtime", "env_code", "is required: Python source that defines `env`")
        if self.multiplayer_options is not None and not self.is_p2p:
            raise fail(
                self, "multiplayer", "mode",
                "server_authoritative cannot be combined with runtime(); use mode='p2p' to run a multiplayer "
                "game in every participant's browser",
            )  # fmt: skip
        if self.is_p2p:
            missing = missing_snapshot_methods(opts.env_code)
            if missing:
                raise fail(
                    self, "runtime", "env_code",
                    f"does not define {' or '.join(missing)}, which mode='p2p' needs: rollback restores "
                    "snapshots of the env (env.get_state() -> state, env.set_state(state)); "
                    "mug.env.check_env(env) checks that the round trip restores the env exactly",
                )  # fmt: skip
        if self.hud is not None and not isinstance(self.hud, str):
            raise fail(self, "rendering", "hud", "must be a fixed string in a client-side scene (runtime())")
        for agent, policy in self.policy_mapping.items():
            if policy in ("human", "random"):
                continue
            if not isinstance(policy, ModelConfig):
                raise fail(
                    self, "policies", "policy_mapping",
                    f"policy for agent {agent!r} is a Python callable, which cannot run in the browser; "
                    "use 'random' or a mug.policies.ModelConfig in a client-side scene",
                )  # fmt: skip
            try:
                validate_policy_spec(policy, server=False)
            except (PolicyError, ValueError) as exc:
                raise fail(self, "policies", "policy_mapping", f"policy for agent {agent!r}: {exc}") from None
            if self.is_p2p and policy.custom_inference_fn is not None:
                # Every peer runs the bot, and a rollback must put it back as it was at an earlier
                # frame: the declarative fields keep all its state in the game's snapshots.
                raise fail(
                    self, "policies", "policy_mapping",
                    f"policy for agent {agent!r} has a custom_inference_fn, which mode='p2p' cannot run: its own "
                    "state (context.state) and random draws cannot be saved in rollback snapshots; use the "
                    "declarative ModelConfig fields (obs_input, logit_output, state_inputs/state_outputs, "
                    "fixed_inputs) (docs/p2p.md, Bots)",
                )  # fmt: skip

    @property
    def is_p2p(self) -> bool:
        """True for a P2P game: ``multiplayer(mode="p2p")``, the env in every participant's browser."""
        return self.multiplayer_options is not None and self.multiplayer_options.is_p2p

    def p2p_spec(self) -> dict[str, Any] | None:
        """What a P2P scene's page needs before it is matched (the ICE servers come with the game)."""
        opts = self.multiplayer_options
        if opts is None or not opts.is_p2p:
            return None
        return {
            "input_delay": opts.input_delay,
            "max_prediction": opts.max_prediction,
            "connect_timeout_s": opts.p2p_connect_timeout_s,
            "reconnect_grace_s": opts.reconnect_grace_s,
            "on_player_drop": opts.on_player_drop,
        }

    @property
    def runs_in_browser(self) -> bool:
        """True when the env runs in the participant's browser (``runtime()``), not on the server."""
        return self.runtime_options is not None

    def runtime_spec(self) -> dict[str, Any] | None:
        """The client-side part of the scene spec (relative URLs; see docs/runtime.md)."""
        opts = self.runtime_options
        if opts is None:
            return None
        sid = self.scene_id or ""
        policies: dict[str, Any] = {}
        for agent, policy in self.policy_mapping.items():
            if isinstance(policy, ModelConfig):
                policies[agent] = {"kind": "onnx", "model": policy.client_spec(f"models/{sid}/{agent}.onnx")}
            else:
                policies[agent] = {"kind": policy}
        return {
            "env_code": opts.env_code,
            "packages": opts.package_targets(sid),
            "package_index_url": opts.package_index_url,
            "agents": list(self.policy_mapping),
            "policies": policies,
            "reset_freeze_s": self.reset_freeze_s,
            "action_population_method": self.action_population_method,
            "record_observations": self.record_observations,
            "hud": self.hud if isinstance(self.hud, str) else None,
            "hud_score_carry_over": self.hud_score_carry_over,
        }

    def client_spec(self) -> dict[str, Any]:
        mapping = [
            {"keys": list(k) if isinstance(k, tuple) else [k], "action": v} for k, v in self.action_mapping.items()
        ]
        return {
            **super().client_spec(),
            "header": self.scene_header,
            "body": self.scene_body,
            "in_game_body": self.in_game_scene_body,
            "fps": self.fps,
            "game_width": self.game_width,
            "game_height": self.game_height,
            "background": self.background,
            "action_mapping": mapping,
            "default_action": self.default_action,
            "input_mode": self.input_mode,
            "num_episodes": self.num_episodes,
            "max_steps": self.max_steps,
            "human": bool(self.human_agents),
            "multiplayer": self.multiplayer_options is not None,
            "multiplayer_mode": self.multiplayer_options.mode if self.multiplayer_options else None,
            "input_delay": self.multiplayer_options.input_delay if self.multiplayer_options else 0,
            "p2p": self.p2p_spec(),
            "hide_lobby_count": bool(self.waitroom_options and self.waitroom_options.hide_lobby_count),
            "runtime": self.runtime_spec(),
            "assets": self.asset_options.client_spec(self.scene_id or "") if self.asset_options else None,
        }

    def config(self) -> dict[str, Any]:
        def name(obj: Any) -> Any:
            if isinstance(obj, ModelConfig):
                return obj.to_json()
            return obj if isinstance(obj, str) or obj is None else getattr(obj, "__qualname__", repr(obj))

        return {
            **self.client_spec(),
            "env_creator": name(self.env_creator),
            "record_observations": self.record_observations,
            "env_config": {k: (v if is_json_value(v) else repr(v)) for k, v in self.env_config.items()},
            "seed": self.seed,
            "reset_freeze_s": self.reset_freeze_s,
            "action_population_method": self.action_population_method,
            "on_interrupt": self.on_interrupt,
            "multiplayer": self.multiplayer_options.to_json() if self.multiplayer_options else None,
            "waitroom": self.effective_waitroom().to_json() if self.multiplayer_options else None,
            "monitoring": self.monitoring_options.to_json() if self.monitoring_options else None,
            # (credentials as "***"; None: the experiment's setting, see Experiment.config)
            "webrtc": self.webrtc_options.redacted() if self.webrtc_options else None,
            "hud": name(self.hud),
            "hud_score_carry_over": self.hud_score_carry_over,
            "assets": self.asset_options.to_json() if self.asset_options else None,
            "callback": describe(self.callbacks),
            "game_page_html_fn": describe(self.game_page_html_fn),
            "policy_mapping": {a: name(p) for a, p in self.policy_mapping.items()},
            "replay": replay_provenance(self),
        }
