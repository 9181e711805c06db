"""Each participant's order of scenes: the experiment's flow realized once per participant and kept.

A participant's ``scene_index`` (in the store) is a position in their own order. Experiments
without a `RandomizeOrder` have one order, the scenes as listed, and store nothing. Otherwise the
order is drawn (`mug.scenes.flow.SceneFlow.realize`) when the participant first goes past the
scenes everyone sees first, and stored in the participant's session data (``scene_order``), so a
reload or a server restart finds it; balanced groups count the orders stored so far.
"""

from __future__ import annotations

import logging
import random
import time

from mug.data import Store
from mug.experiment import Experiment
from mug.scenes import Scene

log = logging.getLogger("mug.server.sessions.orders")


class SceneOrders:
    """The scene order of every participant this server has seen (loaded from their stored record)."""

    def __init__(self, experiment: Experiment, rng: random.Random | None = None) -> None:
        self.flow = experiment.flow
        self._by_id = {scene.scene_id: scene for scene in experiment.scenes}
        self._fixed = list(experiment.scenes) if not self.flow.randomized else None
        self._orders: dict[str, list[Scene]] = {}
        self._rng = rng or random.Random()

    def remember(self, pid: str, data: dict[str, object]) -> None:
        """Take the participant's stored order from their session data, if they have one."""
        if self._fixed is None and pid not in self._orders and isinstance(data.get("scene_order"), list):
            self._orders[pid] = self._scenes(pid, data["scene_order"])  # type: ignore[arg-type]

    def needs_order(self, pid: str, index: int) -> bool:
        """Whether the participant's order must be drawn before they can be at position ``index``."""
        return self._fixed is None and pid not in self._orders and index >= self.flow.prefix

    def assign(self, store: Store, pid: str) -> None:
        """Draw and store the participant's order (or load the one stored). On the database thread."""
        ids = store.assign_scene_order(pid, lambda earlier: self.flow.realize(earlier, self._rng), time.time())
        self._orders[pid] = self._scenes(pid, ids)

    def scene_at(self, pid: str, index: int) -> Scene:
        """The scene at position ``index`` of the participant's order."""
        order = self._fixed or self._orders.get(pid)
        if order is None:
            # Before their order is drawn a participant is among the scenes everyone sees first.
            assert index < self.flow.prefix, f"{pid} has no scene order yet at position {index}"
            return self.flow.scenes[index]
        return order[index]

    def count(self, pid: str) -> int:
        """How many scenes the participant's order has (the longest possible before it is drawn)."""
        order = self._fixed or self._orders.get(pid)
        return len(order) if order is not None else self.flow.max_length

    def ahead(self, pid: str, index: int) -> list[Scene]:
        """The scenes from position ``index`` on (every scene that may come, before the order is drawn)."""
        order = self._fixed or self._orders.get(pid)
        return order[index:] if order is not None else self.flow.scenes[index:]

    def position(self, pid: str, scene_id: str) -> int | None:
        """Where the scene is in the participant's order (None if it is not in it)."""
        order = self._fixed or self._orders.get(pid) or self.flow.scenes[: self.flow.prefix]
        for index, scene in enumerate(order):
            if scene.scene_id == scene_id:
                return index
        return None

    def _scenes(self, pid: str, ids: list[str]) -> list[Scene]:
        scenes = [self._by_id[sid] for sid in ids if sid in self._by_id]
        if len(scenes) != len(ids):
            # The experiment changed since the order was drawn: the scenes it no longer has are skipped.
            log.warning("participant %s: scenes %s of their order are not in the experiment", pid,
                        [sid for sid in ids if sid not in self._by_id])  # fmt: skip
        return scenes
