"""Continuous monitoring (``GymScene.monitoring``): the server watches participants while they play.

What it watches is what the page reports anyway: its round trips (``ping``) and its tab and window
(``client_event`` visibility, blur, focus). Rules apply only while the participant plays the
scene's game (a server-run game, a P2P game, or a client-side game they started); a warning is a
``monitor_warning`` event to the page (shown as a banner) and in the data; an exclusion goes
through `mug.server.sessions.exclusion` (message and completion code, recorded as ``excluded``
with the reason, kept on reload; partners follow ``on_player_drop``). The researcher's callback
runs in a thread at the scene's pace; one that raises or stalls is recorded
(``monitor_callback_error``) and skipped, never a reason to exclude anyone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mug.scenes import GymScene
from mug.scenes.monitoring import MonitoringOptions
from mug.server.sessions.exclusion import ExclusionError, exclude

if TYPE_CHECKING:
    from mug.server.sessions.sessions import Sessions

log = logging.getLogger("mug.server.sessions.watch")

#: How often the callbacks' pace is checked.
TICK_S = 0.1
#: How long one callback call may take.
CALLBACK_TIMEOUT_S = 2.0


class Watch:
    """The continuous monitoring of one server's participants."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.rtts: dict[str, deque[float]] = {}
        self.hidden: set[str] = set()
        self.blurred: set[str] = set()
        self.away_since: dict[str, float] = {}
        self.timers: dict[str, list[asyncio.TimerHandle]] = {}
        self.warned: dict[str, set[str]] = {}
        self.last_call: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._calling: set[str] = set()

    # -- what pages report ----------------------------------------------------------------------------

    def _monitored(self, pid: str) -> tuple[GymScene, MonitoringOptions] | None:
        scene_id = self.sessions.scene_of.get(pid)
        if scene_id is None:
            return None
        for scene in self.sessions.experiment.scenes:
            if scene.scene_id == scene_id and isinstance(scene, GymScene) and scene.monitoring_options:
                return scene, scene.monitoring_options
        return None

    def rtt(self, pid: str, rtt_ms: float) -> None:
        """A round trip the page measured (``ping``)."""
        found = self._monitored(pid)
        if found is None or found[1].max_ping_ms is None:
            return
        scene, opts = found
        window = self.rtts.setdefault(pid, deque(maxlen=opts.ping_window))
        window.append(rtt_ms)
        assert opts.max_ping_ms is not None
        over = sum(1 for r in window if r > opts.max_ping_ms)
        if over >= opts.ping_violations:
            detail = f"{over} of the last {len(window)} round trips over {opts.max_ping_ms:g} ms"
            self.sessions.spawn(self._exclude(pid, scene, "ping_exclude", f"monitoring: ping ({detail})"))
        elif over >= 1:
            self.sessions.spawn(self._warn(pid, scene, "ping_warning"))

    def client_event(self, pid: str, kind: str, data: Mapping[str, Any] | None) -> None:
        """A tab or window change the page reported (``client_event``)."""
        if kind == "visibility":
            state = (data or {}).get("state")
            (self.hidden.add if state == "hidden" else self.hidden.discard)(pid)
        elif kind == "blur":
            self.blurred.add(pid)
        elif kind == "focus":
            self.blurred.discard(pid)
        else:
            return
        away = pid in self.hidden or pid in self.blurred
        if away and pid not in self.away_since:
            self.away_since[pid] = time.monotonic()
            self._arm(pid)
        elif not away and pid in self.away_since:
            del self.away_since[pid]
            self._disarm(pid)

    def _arm(self, pid: str) -> None:
        found = self._monitored(pid)
        if found is None:
            return
        scene, opts = found
        loop = asyncio.get_running_loop()
        timers = self.timers.setdefault(pid, [])
        if opts.tab_warning_s is not None:
            timers.append(loop.call_later(opts.tab_warning_s, lambda: self.sessions.spawn(
                self._warn(pid, scene, "tab_warning"))))  # fmt: skip
        if opts.tab_exclude_s is not None:
            reason = f"monitoring: away from the tab for {opts.tab_exclude_s:g} s"
            timers.append(loop.call_later(opts.tab_exclude_s, lambda: self.sessions.spawn(
                self._exclude(pid, scene, "tab_exclude", reason))))  # fmt: skip

    def _disarm(self, pid: str) -> None:
        for timer in self.timers.pop(pid, []):
            timer.cancel()

    def forget(self, pid: str) -> None:
        """The participant's page went away (the reconnect grace takes over) or their study ended."""
        self._disarm(pid)
        for table in (self.rtts, self.away_since, self.warned, self.last_call):
            table.pop(pid, None)  # type: ignore[attr-defined]
        self.hidden.discard(pid)
        self.blurred.discard(pid)

    # -- warnings and exclusions ----------------------------------------------------------------------

    async def _playing(self, pid: str, scene: GymScene) -> bool:
        if self.sessions.scene_of.get(pid) != scene.scene_id:
            return False
        if scene.is_p2p:
            found = self.sessions.p2p.live(pid)
            return found is not None and found[0].scene.scene_id == scene.scene_id
        if scene.runs_in_browser:
            return await self.sessions.browser_games.current(pid, scene) is not None
        game = self.sessions.game_of_participant(pid)
        return game is not None and game.scene.scene_id == scene.scene_id

    async def _warn(self, pid: str, scene: GymScene, key: str, message: str | None = None) -> None:
        opts = scene.monitoring_options
        if opts is None or key in self.warned.get(pid, set()) or not await self._playing(pid, scene):
            return
        self.warned.setdefault(pid, set()).add(key)
        text = message or opts.messages[key]
        self.sessions.writer.event(pid, scene.scene_id, "monitor_warning", {"reason": key, "message": text})
        await self.sessions.send_to(pid, "monitor_warning", {"scene_id": scene.scene_id, "message": text})

    async def _exclude(self, pid: str, scene: GymScene, key: str, reason: str, message: str | None = None) -> None:
        opts = scene.monitoring_options
        if opts is None or not await self._playing(pid, scene):
            return
        try:
            await exclude(self.sessions, pid, message or opts.messages[key], reason)
        except ExclusionError:
            return  # (excluded already, e.g. by two rules at once)
        self.forget(pid)

    # -- the researcher's callback ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the callbacks' clock (on the server loop), if a scene has a monitoring callback."""
        if any(isinstance(s, GymScene) and s.monitoring_options and s.monitoring_options.callback
               for s in self.sessions.experiment.scenes):  # fmt: skip
            self._task = asyncio.get_running_loop().create_task(self._callbacks())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for pid in list(self.timers):
            self._disarm(pid)

    async def _callbacks(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            for pid in list(self.sessions.sid_of):
                found = self._monitored(pid)
                if found is None or found[1].callback is None or pid in self._calling:
                    continue
                scene, opts = found
                if now - self.last_call.get(pid, 0.0) < opts.callback_interval_s:
                    continue
                self.last_call[pid] = now
                self._calling.add(pid)
                self.sessions.spawn(self._call(pid, scene, opts))

    async def _call(self, pid: str, scene: GymScene, opts: MonitoringOptions) -> None:
        try:
            if not await self._playing(pid, scene):
                return
            away = self.away_since.get(pid)
            rtts = self.rtts.get(pid) or self.sessions.matching.rtt_samples.get(pid) or ()
            game = self.sessions.game_of_participant(pid)
            context = {
                "participant_id": pid,
                "scene_id": scene.scene_id,
                "ping_ms": rtts[-1] if rtts else None,
                "is_tab_hidden": pid in self.hidden,
                "is_window_blurred": pid in self.blurred,
                "away_s": round(time.monotonic() - away, 3) if away is not None else 0.0,
                "episode": getattr(game, "episode", None),
                "step": getattr(game, "step", None),
            }
            assert opts.callback is not None
            name = getattr(opts.callback, "__qualname__", "callback")
            try:
                result = await asyncio.wait_for(
                    asyncio.get_running_loop().run_in_executor(None, opts.callback, context), CALLBACK_TIMEOUT_S
                )
            except Exception as exc:
                error = f"{name} took longer than {CALLBACK_TIMEOUT_S:g} s" if isinstance(exc, TimeoutError) else (
                    f"{name} raised {type(exc).__name__}: {exc}")  # fmt: skip
                self._callback_error(pid, scene, error)
                return
            if result is None:
                return
            if not isinstance(result, Mapping) or not all(
                isinstance(result.get(k, False), bool) for k in ("exclude", "warn")
            ) or not isinstance(result.get("message", ""), str):  # fmt: skip
                self._callback_error(pid, scene, f"{name} returned {str(result)[:80]!r}; expected "
                                     "{'exclude': bool, 'warn': bool, 'message': str} or None")  # fmt: skip
                return
            message = result.get("message") or None
            if result.get("exclude"):
                await self._exclude(pid, scene, "callback_exclude", f"monitoring: {name}", message)
            elif result.get("warn"):
                self.warned.get(pid, set()).discard("callback_warning")
                await self._warn(pid, scene, "callback_warning", message or "Please keep playing attentively.")
        finally:
            self._calling.discard(pid)

    def _callback_error(self, pid: str, scene: GymScene, error: str) -> None:
        log.warning("monitoring callback failed for %r: %s", pid, error)
        self.sessions.writer.event(pid, scene.scene_id, "monitor_callback_error", {"error": error})
