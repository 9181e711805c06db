"""Rebuilding recorded episodes from their seed, config and actions, and checking them against the record.

A game is replayed on one env object, episode after episode, as the game's loop ran it (the
server's, the Pyodide worker's or every P2P peer's): ``reset(seed)`` with the episode's recorded
seed, then ``step`` with each recorded step's actions (every agent's: humans' and policies'
alike, so no policy runs again). After every step the replay's rewards, terminated and truncated
flags, infos and (when the scene recorded them) observations are compared with the record, as the
store would have written them. The first difference is a :class:`Divergence`: its episode, step
and field (``rewards.player``, ``observations.agent_0[2]``, ``infos.player.score``...).
"""

from __future__ import annotations

import hashlib
import importlib
import linecache
import math
import os
import platform
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from mug.data._json import dumps, loads
from mug.env import EnvAdapter, to_jsonable
from mug.replay.record import GameRecord, RecordedEpisode, ReplayError, read_game

__all__ = ["Divergence", "EpisodeReplay", "GameReplay", "ReplayedStep", "replay_game"]

#: The fields compared at every step, in this order.
COMPARED = ("rewards", "terminated", "truncated", "observations", "infos")

#: At most this many divergences are kept per episode (the first one is what matters).
MAX_DIVERGENCES = 200

#: Modes whose env ran in the browser from the scene's env code.
BROWSER_MODES = ("client_pyodide", "client_p2p")


@dataclass(frozen=True)
class Divergence:
    """A value the replay computed that differs from the record: where, and both values."""

    episode: int
    step: int
    field: str
    recorded: Any
    replayed: Any

    def __str__(self) -> str:
        return (
            f"episode {self.episode}, step {self.step}: {self.field} is {_short(self.recorded)} in the record "
            f"but {_short(self.replayed)} in the replay"
        )


@dataclass
class ReplayedStep:
    """One replayed step: the recorded actions, what the env returned, and what it drew."""

    step: int
    actions: dict[str, Any]
    rewards: dict[str, Any]
    terminated: bool
    truncated: bool
    #: The full render state after the step (None when frames were not asked for).
    frame: dict[str, Any] | None = None
    hud: str | None = None
    divergences: list[Divergence] = field(default_factory=list)


@dataclass
class EpisodeReplay:
    """One replayed episode and its verification."""

    episode: int
    seed: int
    #: Steps the record holds for the episode.
    recorded_steps: int
    outcome: str | None
    steps: list[ReplayedStep] = field(default_factory=list)
    reset_frame: dict[str, Any] | None = None
    reset_hud: str | None = None
    divergences: list[Divergence] = field(default_factory=list)
    #: Why the replay stopped before the record's last step (the env raised, or ended the episode early).
    stopped: str | None = None

    @property
    def first_divergence(self) -> Divergence | None:
        """The first difference from the record, or None."""
        return self.divergences[0] if self.divergences else None

    @property
    def ok(self) -> bool:
        """True when every recorded step was replayed and matched the record."""
        return not self.divergences and self.stopped is None

    def verdict(self) -> str:
        """One line: matched, or where it first diverged."""
        head = f"episode {self.episode} (seed {self.seed}, {self.recorded_steps} steps recorded"
        head += f", outcome {self.outcome})" if self.outcome else ")"
        if self.ok:
            return f"{head}: {len(self.steps)} steps replayed, every step matches the record"
        count = len(self.divergences)
        first = self.first_divergence
        parts = [f"{head}: DIVERGES"]
        if first is not None:
            more = f" ({count} differences{'+' if count >= MAX_DIVERGENCES else ''} in all)" if count > 1 else ""
            parts.append(f"first at step {first.step}, {first.field}: recorded {_short(first.recorded)}, "
                         f"replayed {_short(first.replayed)}{more}")  # fmt: skip
        if self.stopped:
            parts.append(self.stopped.splitlines()[0])
        return "; ".join(parts)


@dataclass
class GameReplay:
    """A replayed game: its record, each replayed episode, and notes on how faithful the rebuild is."""

    record: GameRecord
    episodes: dict[int, EpisodeReplay]
    #: Where the env came from, in words.
    env_source: str
    #: Things a researcher should know (versions that differ, code changed since, a short record).
    notes: list[str] = field(default_factory=list)
    #: The fields compared (observations only when the scene recorded them).
    compared: tuple[str, ...] = COMPARED
    #: Numbers within this counted as equal (0: exact).
    tolerance: float = 0.0

    @property
    def divergences(self) -> list[Divergence]:
        """Every divergence found, in episode and step order."""
        return [d for ep in self.episodes.values() for d in ep.divergences]

    @property
    def first_divergence(self) -> Divergence | None:
        """The first divergence of the game, or None."""
        found = self.divergences
        return found[0] if found else None

    @property
    def ok(self) -> bool:
        """True when every replayed episode matched its record."""
        return all(ep.ok for ep in self.episodes.values())

    def report(self) -> str:
        """The verification as text: the game, where its env came from, a line per episode, the notes."""
        rec = self.record
        lines = [
            f"game {rec.game_id} (scene {rec.scene_id!r}, {rec.mode}, outcome {rec.outcome})",
            f"  env: {self.env_source}",
            f"  config: {rec.config_source}",
            "  compared: " + ", ".join(self.compared) + (f" (numbers within {self.tolerance:g})" if self.tolerance else
                                                          " (exactly)"),
        ]
        lines += [f"  {ep.verdict()}" for ep in self.episodes.values()]
        lines += [f"  note: {note}" for note in self.notes]
        lines.append("  result: " + ("matches the record" if self.ok else "DIVERGES from the record"))
        return "\n".join(lines)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _normal(value: Any) -> Any:
    """A replayed value as the store would have written and read it back."""
    return loads(dumps(to_jsonable(value)))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _first_difference(path: str, recorded: Any, replayed: Any, tolerance: float = 0.0) -> tuple[str, Any, Any] | None:
    """The first place where two JSON values differ: (dotted path, recorded part, replayed part).

    Numbers are equal when exactly equal, or with ``tolerance`` > 0 within it (relative, and
    absolute near zero)."""
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        for key in list(recorded) + [k for k in replayed if k not in recorded]:
            if key not in recorded or key not in replayed:
                return f"{path}.{key}", recorded.get(key), replayed.get(key)
            found = _first_difference(f"{path}.{key}", recorded[key], replayed[key], tolerance)
            if found:
                return found
        return None
    if isinstance(recorded, list) and isinstance(replayed, list):
        for i, (a, b) in enumerate(zip(recorded, replayed, strict=False)):
            found = _first_difference(f"{path}[{i}]", a, b, tolerance)
            if found:
                return found
        if len(recorded) != len(replayed):
            return f"{path}.length", len(recorded), len(replayed)
        return None
    if tolerance > 0 and _is_number(recorded) and _is_number(replayed):
        close = math.isclose(recorded, replayed, rel_tol=tolerance, abs_tol=tolerance)
        return None if close else (path, recorded, replayed)
    if isinstance(recorded, bool) != isinstance(replayed, bool) or recorded != replayed:
        return path, recorded, replayed
    return None


# -- building the env ----------------------------------------------------------------------------


def _scene_of(experiment: Any, scene_id: str) -> Any:
    for scene in getattr(experiment, "scenes", []) if experiment is not None else []:
        if scene.scene_id == scene_id:
            return scene
    return None


def _run_env_code(code: str, game_id: str) -> Any:
    """Execute a client-side scene's env code as the browser's worker does; returns its ``env``."""
    filename = f"<env_code of game {game_id}>"
    lines = code.splitlines(keepends=True)
    linecache.cache[filename] = (len(code), None, lines, filename)
    namespace: dict[str, Any] = {"__name__": "__mug_env__", "__file__": filename}
    try:
        exec(compile(code, filename, "exec"), namespace)
    except ImportError as exc:
        raise ReplayError(
            f"the env code of game {game_id} imports {exc.name or 'a module'}, which is not installed here "
            f"({exc}); install the packages the scene's runtime() installed in the browser, then replay"
        ) from exc
    except Exception as exc:
        raise ReplayError(f"the env code of game {game_id} failed when run here: {type(exc).__name__}: {exc}") from exc
    env = namespace.get("env")
    if env is None or isinstance(env, type):
        raise ReplayError(f"the env code of game {game_id} does not define `env` as an env instance")
    return env


def _import(reference: str) -> Callable[..., Any]:
    module_name, _, qualname = reference.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ReplayError(
            f"the env creator {reference} cannot be imported here ({type(exc).__name__}: {exc}); install the package "
            "that provides it, or replay from the Experiment that defines it (exp.replay)"
        ) from exc
    return found  # type: ignore[no-any-return]


def _browser_env(record: GameRecord, experiment: Any, notes: list[str]) -> tuple[Callable[[], Any], str, list[str]]:
    saved = (record.scene_config or {}).get("runtime") or {}
    scene = _scene_of(experiment, record.scene_id)
    current = getattr(getattr(scene, "runtime_options", None), "env_code", None)
    code = saved.get("env_code")
    if not isinstance(code, str) or not code:
        if current is None:
            raise ReplayError(
                f"game {record.game_id} ran its env in the browser, but no env code was saved for scene "
                f"{record.scene_id!r} ({record.config_source}) and no experiment with that scene was given"
            )
        code = current
        notes.append("no env code was saved with the data: replaying the experiment's current env code")
    elif current is not None and current != code:
        notes.append("the experiment's env code has changed since this game was played: replaying the saved code")
    agents = list((record.scene_config or {}).get("policy_mapping") or getattr(scene, "policy_mapping", {}) or {})
    digest = hashlib.sha256(code.encode("utf-8")).hexdigest()[:12]
    browser = ((record.scene_config or {}).get("replay") or {}).get("browser_python")
    if browser and browser.rsplit(".", 1)[0] != ".".join(platform.python_version_tuple()[:2]):
        notes.append(
            f"the env ran on the browser's Python {browser} (Pyodide); this replay runs Python "
            f"{platform.python_version()}: math functions may round differently"
        )
    return (lambda: _run_env_code(code, record.game_id)), f"the scene's env code (sha256 {digest}...)", agents


def _server_env(
    record: GameRecord, experiment: Any, env_creator: Callable[..., Any] | None, notes: list[str]
) -> tuple[Callable[[], Any], str, list[str]]:
    saved = record.scene_config or {}
    provenance = saved.get("replay") or {}
    unsaved = list(provenance.get("unsaved_env_config") or [])
    saved_config = saved.get("env_config") if isinstance(saved.get("env_config"), dict) else None
    scene = _scene_of(experiment, record.scene_id)
    agents = list(saved.get("policy_mapping") or getattr(scene, "policy_mapping", {}) or {})
    if env_creator is None and scene is not None and getattr(scene, "env_creator", None) is not None:
        env_creator = scene.env_creator
        name = getattr(env_creator, "__qualname__", repr(env_creator))
        where = f"{name} of the experiment's scene {scene.scene_id!r}"
        env_config = dict(scene.env_config)
        # The saved values are what the game ran with; the scene's only where they could not be saved.
        for key, value in (saved_config or {}).items():
            if key not in unsaved and _comparable(env_config.get(key, _ABSENT)) != value:
                notes.append(f"env_config[{key!r}] was {_short(value)} when played: replaying with that value")
                env_config[key] = value
    else:
        if env_creator is None:
            reference = provenance.get("env_creator")
            if not reference:
                name = saved.get("env_creator") or "its env creator"
                raise ReplayError(
                    f"game {record.game_id} ran {name} on the server, which was not saved under an importable name "
                    "(it was defined in a notebook or script, or is a lambda): replay it from the Experiment that "
                    "defines the scene, exp.replay(game_id), or pass env_creator=" + _cli_hint(record)
                )
            env_creator = _import(reference)
            where = reference
        else:
            where = getattr(env_creator, "__qualname__", repr(env_creator))
        if unsaved:
            raise ReplayError(
                f"scene {record.scene_id!r}'s env_config has values that are not JSON ({', '.join(unsaved)}), saved "
                "only as text: replay it from the Experiment that defines the scene (exp.replay)"
            )
        env_config = dict(saved_config or {})
    _source_notes(env_creator, provenance, notes)
    creator, config = env_creator, env_config
    return (lambda: creator(**config)), where, agents


_ABSENT = object()


def _cli_hint(record: GameRecord) -> str:
    return f" (from a script: mug replay --experiment path/to/experiment.py {record.path} {record.game_id[:8]})"


def _comparable(value: Any) -> Any:
    """A config value as the saved config holds it (JSON as stored; anything else as its repr)."""
    from mug.scenes._options import is_json_value

    if value is _ABSENT:
        return value
    return loads(dumps(value)) if is_json_value(value) else repr(value)


def _source_notes(creator: Any, provenance: dict[str, Any], notes: list[str]) -> None:
    from mug.scenes.provenance import creator_provenance

    now = creator_provenance(creator)
    then_sha, now_sha = provenance.get("source_sha256"), now.get("source_sha256")
    if then_sha and now_sha and then_sha != now_sha:
        notes.append("the env's source file has changed since this game was played (its SHA-256 differs)")
    if provenance.get("version") and now.get("version") and provenance["version"] != now["version"]:
        notes.append(f"{provenance.get('distribution')} was {provenance['version']} when played, {now['version']} here")


def _version_notes(record: GameRecord, notes: list[str]) -> None:
    for dist in ("mug-py", "gymnasium", "numpy"):
        then = record.versions.get(dist)
        if not then:
            continue
        try:
            now = metadata.version(dist)
        except metadata.PackageNotFoundError:
            now = None
        if now != then:
            notes.append(f"{dist} was {then} when played, {now or 'not installed'} here")
    then_python = record.versions.get("python")
    if record.mode not in BROWSER_MODES and then_python and then_python != platform.python_version():
        notes.append(f"Python was {then_python} when played, {platform.python_version()} here")


# -- replaying -----------------------------------------------------------------------------------


class _Hud:
    """The HUD text the participants saw, when it can be rebuilt (a fixed string or the scene's callable)."""

    def __init__(self, record: GameRecord, scene: Any) -> None:
        self.scene = scene
        runtime = (record.scene_config or {}).get("runtime") or {}
        self.fixed: str | None = runtime.get("hud") if record.mode in BROWSER_MODES else None
        if scene is not None and isinstance(scene.hud, str):
            self.fixed = scene.hud

    def text(self, episode: int, step: int, returns: dict[str, float], env: Any) -> str | None:
        hud = getattr(self.scene, "hud", None)
        if hud is None or isinstance(hud, str) or self.scene.runs_in_browser:
            return self._filled(episode, step, returns)
        from mug.scenes.gym import HudInfo

        try:
            info = HudInfo(episode, self.scene.num_episodes, step, self.scene.max_steps, dict(returns), env)
            return str(hud(info))
        except Exception as exc:
            return f"(HUD failed: {type(exc).__name__}: {exc})"

    def _filled(self, episode: int, step: int, returns: dict[str, float]) -> str | None:
        """The fixed text with its {score}, {episode}... fields (mug/scenes/hud.py); the score is the
        episode's own (a replayed episode does not know the earlier ones' with hud_score_carry_over)."""
        if self.fixed is None or "{" not in self.fixed:
            return self.fixed
        from mug.scenes.hud import format_hud, hud_score

        scene = self.scene
        try:
            return format_hud(
                self.fixed, score=hud_score(returns, scene.human_agents if scene is not None else []),
                episode=episode, num_episodes=getattr(scene, "num_episodes", 0), step=step,
                max_steps=getattr(scene, "max_steps", 0),
            )  # fmt: skip
        except (KeyError, ValueError, IndexError):
            return self.fixed


def _render(adapter: EnvAdapter, view: str | None, notes: list[str]) -> dict[str, Any] | None:
    try:
        return _normal(adapter.render(view))  # type: ignore[no-any-return]
    except Exception as exc:
        message = f"the env's render() failed in the replay: {type(exc).__name__}: {exc}"
        if message not in notes:
            notes.append(message)
        return None


def _compare(
    episode: int, recorded: Any, replayed: dict[str, Any], fields: Iterable[str], tolerance: float
) -> list[Divergence]:
    found: list[Divergence] = []
    for name in fields:
        want = getattr(recorded, name)
        if name == "observations" and want is None:
            continue  # not recorded for this step
        diff = _first_difference(name, want, replayed[name], tolerance)
        if diff is not None:
            found.append(Divergence(episode, recorded.step, diff[0], diff[1], diff[2]))
    return found


def _replay_episode(
    adapter: EnvAdapter,
    record: GameRecord,
    episode: RecordedEpisode,
    *,
    frames: bool,
    view: str | None,
    hud: _Hud,
    notes: list[str],
    tolerance: float,
) -> EpisodeReplay:
    seed = record.episode_seed(episode.episode)
    if seed is None:
        raise ReplayError(
            f"episode {episode.episode} of game {record.game_id} has no recorded seed (its episode record is missing "
            "and the scene had no fixed seed), so it cannot be rebuilt"
        )
    result = EpisodeReplay(episode.episode, seed, len(episode.steps), episode.outcome)
    adapter.reset(seed=seed)
    returns: dict[str, float] = {}
    if frames:
        result.reset_frame = _render(adapter, view, notes)
        result.reset_hud = hud.text(episode.episode, 0, returns, adapter.env)
    over = False
    for expected, recorded in enumerate(episode.steps, start=1):
        if recorded.step != expected:
            result.stopped = (
                f"step {expected} of episode {episode.episode} is missing from the record (steps lost); without its "
                "actions the replay cannot go past it"
            )
            break
        if over:
            result.stopped = (
                f"the replayed env ended the episode at step {recorded.step - 1}; the record goes on to step "
                f"{episode.steps[-1].step}"
            )
            break
        try:
            out = adapter.step(recorded.actions)
        except Exception as exc:
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            result.divergences.append(
                Divergence(episode.episode, recorded.step, "error", None, f"{type(exc).__name__}: {exc}")
            )
            result.stopped = f"the env raised at step {recorded.step} in the replay but not when played:\n{trace}"
            break
        for agent, reward in out.rewards.items():
            returns[agent] = returns.get(agent, 0.0) + float(reward)
        replayed = {
            "rewards": _normal(out.rewards),
            "terminated": any(bool(v) for v in out.terminated.values()),
            "truncated": any(bool(v) for v in out.truncated.values()),
            "observations": _normal(out.observations) if recorded.observations is not None else None,
            "infos": _normal(out.infos),
        }
        step = ReplayedStep(
            recorded.step, recorded.actions, replayed["rewards"], replayed["terminated"], replayed["truncated"]
        )
        step.divergences = _compare(episode.episode, recorded, replayed, COMPARED, tolerance)
        if len(result.divergences) < MAX_DIVERGENCES:
            result.divergences.extend(step.divergences[: MAX_DIVERGENCES - len(result.divergences)])
        if frames:
            step.frame = _render(adapter, view, notes)
            step.hud = hud.text(episode.episode, recorded.step, returns, adapter.env)
        result.steps.append(step)
        over = bool(out.episode_over)
    return result


def replay_game(
    source: str | os.PathLike[str] | GameRecord,
    game_id: str | None = None,
    *,
    episodes: Iterable[int] | None = None,
    experiment: Any = None,
    env_creator: Callable[..., Any] | None = None,
    frames: bool = False,
    view: str | None = None,
    peer: str | None = None,
    tolerance: float = 0.0,
) -> GameReplay:
    """Replay a recorded game from its data and verify every step against the record.

    Args:
        source: the experiment's data folder (or its ``mug.sqlite3``, or the data root above it
            when it holds one experiment), or a `GameRecord` already read.
        game_id: the game, or a unique beginning of its id.
        episodes: the episodes to report (default: all). Earlier episodes of the game are
            replayed too, on the same env object, as the game ran them (an env may keep state
            across resets), but only these are returned.
        experiment: the `mug.Experiment` that ran the game: needed for a server-run scene whose
            env creator cannot be imported by name (defined in a notebook or a script).
        env_creator: the env creator to use for a server-run scene instead (called with the
            scene's ``env_config``).
        frames: also keep every step's full render state (what the widget draws).
        view: the agent whose view to draw (``env.render(agent)``); default the shared view.
        peer: in a peer-to-peer game, verify against this participant's own rows rather than the
            canonical ones.
        tolerance: numbers within this (relative, and absolute near zero) count as equal; default
            0, exact. For envs whose math functions round differently on another platform (a
            client-side env replayed outside the browser), e.g. ``1e-12``.

    Raises `ReplayError` saying why when the game cannot be found or rebuilt.
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance < 1:
        raise ValueError(f"replay: tolerance must be a number from 0 (exact) to below 1, got {tolerance!r}")
    if isinstance(source, GameRecord):
        record = source
    else:
        if game_id is None:
            raise ReplayError("replay_game: give the game_id of the game to replay")
        record = read_game(source, game_id, peer=peer)
    if not record.episodes:
        raise ReplayError(f"game {record.game_id} has no recorded episodes or steps: there is nothing to replay")
    notes: list[str] = []
    if record.scene_config is None:
        notes.append(f"no config was saved for scene {record.scene_id!r}")
    if record.mode in BROWSER_MODES or (record.scene_config or {}).get("runtime"):
        make_env, env_source, agents = _browser_env(record, experiment, notes)
    else:
        make_env, env_source, agents = _server_env(record, experiment, env_creator, notes)
    if not agents:
        first = next(iter(record.episodes.values()))
        agents = list(first.steps[0].actions) if first.steps else []
    _version_notes(record, notes)
    for event in record.events:
        data = event["data"]
        if event["kind"] in ("env_error", "policy_error", "runtime_error"):
            notes.append(
                f"the game stopped on an error after step {data.get('step')} of episode {data.get('episode')}: "
                f"{data.get('error')} (the recorded steps are replayed, the failing one was not recorded)"
            )
    wanted = set(record.episodes) if episodes is None else {int(e) for e in episodes}
    missing = sorted(wanted - set(record.episodes))
    if missing:
        have = ", ".join(map(str, record.episodes)) or "none"
        raise ReplayError(f"game {record.game_id} has no episode {missing[0]} recorded (episodes: {have})")
    try:
        env = make_env()
    except ReplayError:
        raise
    except Exception as exc:
        raise ReplayError(f"creating the env with {env_source} failed: {type(exc).__name__}: {exc}") from exc
    try:
        adapter = EnvAdapter(env, agents)
    except Exception as exc:
        raise ReplayError(f"the env of game {record.game_id} cannot be driven: {type(exc).__name__}: {exc}") from exc
    scene = _scene_of(experiment, record.scene_id)
    hud = _Hud(record, scene)
    replayed: dict[int, EpisodeReplay] = {}
    last = max(wanted)
    try:
        for number, episode in record.episodes.items():
            if number > last:
                break
            if not episode.complete and number in wanted and episode.num_steps is not None:
                notes.append(
                    f"episode {number}'s record counts {episode.num_steps} steps but {len(episode.steps)} are stored"
                )
            try:
                result = _replay_episode(
                    adapter, record, episode, frames=frames and number in wanted, view=view, hud=hud, notes=notes,
                    tolerance=float(tolerance),
                )
            except ReplayError:
                raise
            except Exception as exc:
                raise ReplayError(
                    f"resetting the env for episode {number} failed in the replay: {type(exc).__name__}: {exc}"
                ) from exc
            if number in wanted:
                replayed[number] = result
    finally:
        try:
            adapter.close()
        except Exception:
            notes.append("closing the env after the replay failed")
    observations = any(s.observations is not None for ep in record.episodes.values() for s in ep.steps)
    compared = tuple(f for f in COMPARED if f != "observations" or observations)
    return GameReplay(record, replayed, env_source, notes, compared, float(tolerance))
