"""Scene flow: scenes shown in an order drawn per participant, and scenes shown several times.

An experiment's ``scenes`` may hold, besides scenes, a `RandomizeOrder` (its scenes, or blocks of
scenes, in an order drawn for each participant; ``keep_n=1`` makes a between-subjects condition)
and a `RepeatScene` (a scene or block shown ``n`` times). `SceneFlow` turns that definition into
the list of every scene the experiment can show and realizes one participant's order from it.

The server records each participant's realized order (a list of scene ids) in the store, so a
reload or a restart keeps it; balanced assignment counts the orders already recorded.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, Union

from mug.scenes._options import SceneConfigError
from mug.scenes.scene import Scene
from mug.scenes.static import EndScene

__all__ = ["MAX_BALANCED_ORDERS", "FlowItem", "RandomizeOrder", "RepeatScene", "SceneFlow"]

#: Balanced assignment counts every possible order of a `RandomizeOrder`; past this many orders
#: most would never be assigned twice in a study, so balancing them means nothing (and costs).
MAX_BALANCED_ORDERS = 5040  # 7 scenes fully permuted

FlowItem: TypeAlias = Union[Scene, "RandomizeOrder", "RepeatScene", Sequence["FlowItem"]]


def _check_items(owner: str, option: str, items: Any, *, end_last: bool = False) -> list[FlowItem]:
    """The items of a flow construct, each a scene, a flow construct or a non-empty block (list) of them.

    ``end_last``: the last item may be an end scene (an experiment's own list).
    """
    if isinstance(items, (Scene, RandomizeOrder, RepeatScene, str, bytes)):
        raise SceneConfigError(f"{owner}: {option} must be a list of scenes, got a single {type(items).__name__}")
    if not isinstance(items, Sequence) or not items:
        raise SceneConfigError(f"{owner}: {option} must be a non-empty list of scenes, got {items!r}")
    for index, item in enumerate(items):
        if not (end_last and index == len(items) - 1 and isinstance(item, EndScene)):
            _check_item(owner, f"{option}[{index}]", item)
    return list(items)


def _check_item(owner: str, where: str, item: Any) -> None:
    if isinstance(item, EndScene):
        raise SceneConfigError(
            f"{owner}: {where} is the end scene {item.scene_id or type(item).__name__!r}; an end scene must be "
            "the experiment's last scene, outside RandomizeOrder and RepeatScene"
        )
    if isinstance(item, (Scene, RandomizeOrder, RepeatScene)):
        return
    if isinstance(item, Sequence) and not isinstance(item, (str, bytes)):
        if not item:
            raise SceneConfigError(f"{owner}: {where} is an empty block; a block (list) needs at least one scene")
        for index, inner in enumerate(item):
            _check_item(owner, f"{where}[{index}]", inner)
        return
    raise SceneConfigError(
        f"{owner}: {where} is {type(item).__name__} {item!r}, not a scene, a list of scenes, "
        "a RandomizeOrder or a RepeatScene"
    )


class RandomizeOrder:
    """Scenes (or blocks of scenes) shown in an order drawn for each participant.

    Args:
        scenes: the scenes to order; an item may be a list of scenes, kept together in its order
            (a block, e.g. a game with its instructions and survey), or another flow construct.
        keep_n: show only the first ``keep_n`` of the drawn order (None: all). ``keep_n=1`` gives
            each participant one of the items: a between-subjects condition.
        balanced: give each new participant the order (or, with ``keep_n=1``, the condition)
            assigned to the fewest participants so far, ties drawn at random: counterbalancing.
            Without it every order is drawn independently.

    The order a participant got is recorded (``participants`` column ``data.scene_order``).
    """

    def __init__(self, scenes: Sequence[FlowItem], keep_n: int | None = None, balanced: bool = False) -> None:
        self.scenes = _check_items("RandomizeOrder", "scenes", scenes)
        count = len(self.scenes)
        if keep_n is not None and (isinstance(keep_n, bool) or not isinstance(keep_n, int)):
            raise SceneConfigError(
                f"RandomizeOrder: keep_n must be an int or None, got {type(keep_n).__name__} {keep_n!r}"
            )
        if keep_n is not None and not 1 <= keep_n <= count:
            raise SceneConfigError(
                f"RandomizeOrder: keep_n must be between 1 and {count} (the number of scenes), got {keep_n}"
            )
        if not isinstance(balanced, bool):
            raise SceneConfigError(f"RandomizeOrder: balanced must be True or False, got {balanced!r}")
        self.keep_n = keep_n
        self.balanced = balanced
        orders = math.perm(count, self.kept)
        if balanced and orders > MAX_BALANCED_ORDERS:
            raise SceneConfigError(
                f"RandomizeOrder: balanced=True balances every possible order, and {count} scenes with keep_n="
                f"{keep_n} have {orders} orders (at most {MAX_BALANCED_ORDERS}); use keep_n, fewer scenes, "
                "or balanced=False"
            )

    @property
    def kept(self) -> int:
        """How many of the items a participant is shown."""
        return len(self.scenes) if self.keep_n is None else self.keep_n

    def __repr__(self) -> str:
        return f"RandomizeOrder({self.scenes!r}, keep_n={self.keep_n!r}, balanced={self.balanced!r})"


class RepeatScene:
    """A scene (or a block of scenes) shown ``n`` times in a row.

    Each repetition is its own scene in the data: scene ``"game"`` repeated 3 times is shown as
    ``"game.1"``, ``"game.2"``, ``"game.3"`` (its steps, forms and visits are told apart).
    """

    def __init__(self, scene: FlowItem, n: int) -> None:
        _check_item("RepeatScene", "scene", scene)
        if isinstance(n, bool) or not isinstance(n, int):
            raise SceneConfigError(f"RepeatScene: n must be an int, got {type(n).__name__} {n!r}")
        if not 1 <= n <= 1000:
            raise SceneConfigError(f"RepeatScene: n must be between 1 and 1000, got {n}")
        self.scene = scene
        self.n = n

    def __repr__(self) -> str:
        return f"RepeatScene({self.scene!r}, n={self.n})"


# -- the expanded flow ---------------------------------------------------------------------------


@dataclass
class _Leaf:
    scene: Scene

    def ids(self) -> list[str]:
        return [self.scene.scene_id or ""]


@dataclass
class _Block:
    children: list[_Node]

    def ids(self) -> list[str]:
        return [i for child in self.children for i in child.ids()]


@dataclass
class _Shuffle:
    items: list[_Node]
    keep: int
    balanced: bool
    owner: dict[str, int] = field(default_factory=dict)  # scene id -> the item holding it

    def ids(self) -> list[str]:
        return [i for item in self.items for i in item.ids()]


_Node: TypeAlias = "_Leaf | _Block | _Shuffle"


class SceneFlow:
    """The scenes of an experiment as defined, expanded: every scene it can show, and per-participant orders.

    ``scenes`` lists every scene once, in definition order, repetitions of a `RepeatScene` as
    copies with their own ids. ``prefix`` is how many scenes every participant sees first in a
    fixed order (before any `RandomizeOrder`): a participant's order is drawn only when they
    get past those, so visitors who never start do not count in balanced assignment.
    """

    def __init__(self, items: Sequence[FlowItem]) -> None:
        _check_items("Experiment", "scenes", items, end_last=True)
        leaves: list[Scene] = []
        _collect(items, leaves)
        seen: dict[int, int] = {}
        for index, scene in enumerate(leaves):
            if id(scene) in seen:
                raise SceneConfigError(
                    f"Experiment: the same {type(scene).__name__} object ({scene.scene_id!r}) appears twice in the "
                    "scenes; use RepeatScene to show a scene again, or make another scene"
                )
            seen[id(scene)] = index
            if scene.scene_id is None:
                scene.scene(f"{scene.scene_type}_{index}")
        self.root = _Block([_expand(item, "") for item in items])
        self.scenes: list[Scene] = []
        _leaves_of(self.root, self.scenes)
        self.randomized = _has_shuffle(self.root)
        self.prefix = _prefix(self.root)
        lengths = _lengths(self.root)
        self.min_length, self.max_length = min(lengths), max(lengths)

    def fixed_order(self) -> list[str] | None:
        """The one order every participant sees, or None when orders are drawn per participant."""
        return None if self.randomized else self.root.ids()

    def realize(self, previous: Iterable[Sequence[str]] = (), rng: random.Random | None = None) -> list[str]:
        """Draw one participant's order (scene ids); ``previous``: the orders assigned so far (for balancing)."""
        rng = rng or random.Random()
        earlier = [list(order) for order in previous]
        out: list[str] = []
        _realize(self.root, earlier, rng, out)
        return out

    def in_random_group(self, scene_id: str) -> bool:
        """Whether the scene lies inside a `RandomizeOrder` (not every participant meets it at one place)."""
        return scene_id in _shuffled_ids(self.root)

    def describe(self) -> Any:
        """A JSON-able description of the flow (scene ids; groups with their options), saved with the config."""
        return _describe(self.root)


def _collect(item: Any, out: list[Scene]) -> None:
    if isinstance(item, Scene):
        out.append(item)
    elif isinstance(item, RandomizeOrder):
        _collect(item.scenes, out)
    elif isinstance(item, RepeatScene):
        _collect(item.scene, out)
    else:
        for inner in item:
            _collect(inner, out)


def _expand(item: Any, suffix: str) -> _Node:
    """The node of a definition item; ``suffix`` (e.g. ``".2"``) renames the scenes of a repetition."""
    if isinstance(item, Scene):
        if not suffix:
            return _Leaf(item)
        clone = copy.copy(item)  # (options are shared: scenes are not changed once the experiment is built)
        clone.scene_id = f"{item.scene_id}{suffix}"
        return _Leaf(clone)
    if isinstance(item, RepeatScene):
        return _Block([_expand(item.scene, f"{suffix}.{k}") for k in range(1, item.n + 1)])
    if isinstance(item, RandomizeOrder):
        items = [_expand(inner, suffix) for inner in item.scenes]
        node = _Shuffle(items, item.kept, item.balanced)
        node.owner = {sid: index for index, inner in enumerate(items) for sid in inner.ids()}
        return node
    return _Block([_expand(inner, suffix) for inner in item])


def _leaves_of(node: _Node, out: list[Scene]) -> None:
    if isinstance(node, _Leaf):
        out.append(node.scene)
    else:
        for child in node.children if isinstance(node, _Block) else node.items:
            _leaves_of(child, out)


def _has_shuffle(node: _Node) -> bool:
    if isinstance(node, _Shuffle):
        return True
    return isinstance(node, _Block) and any(_has_shuffle(child) for child in node.children)


def _prefix(node: _Node) -> int:
    """How many scenes come before the first randomized part (all of them if there is none)."""
    if isinstance(node, _Leaf):
        return 1
    if isinstance(node, _Shuffle):
        return 0
    total = 0
    for child in node.children:
        size = _prefix(child)
        total += size
        if _has_shuffle(child):
            break
    return total


def _lengths(node: _Node) -> set[int]:
    """Every length a realized order of the node can have."""
    if isinstance(node, _Leaf):
        return {1}
    if isinstance(node, _Block):
        totals = {0}
        for child in node.children:
            totals = {a + b for a in totals for b in _lengths(child)}
        return totals
    sizes = [_lengths(item) for item in node.items]
    totals = set()
    for chosen in itertools.combinations(range(len(sizes)), node.keep):
        partial = {0}
        for index in chosen:
            partial = {a + b for a in partial for b in sizes[index]}
        totals |= partial
    return totals


def _shuffled_ids(node: _Node) -> set[str]:
    if isinstance(node, _Shuffle):
        return set(node.ids())
    if isinstance(node, _Block):
        return set().union(*(_shuffled_ids(child) for child in node.children))
    return set()


def _realize(node: _Node, earlier: list[list[str]], rng: random.Random, out: list[str]) -> None:
    if isinstance(node, _Leaf):
        out.append(node.scene.scene_id or "")
        return
    if isinstance(node, _Block):
        for child in node.children:
            _realize(child, earlier, rng, out)
        return
    for index in _draw(node, earlier, rng):
        _realize(node.items[index], earlier, rng, out)


def _draw(node: _Shuffle, earlier: list[list[str]], rng: random.Random) -> tuple[int, ...]:
    """The items (by index) a participant gets from a `RandomizeOrder`, in order."""
    if not node.balanced:
        return tuple(rng.sample(range(len(node.items)), node.keep))
    # What each earlier participant got here: their order projected onto this group's items (the
    # items are contiguous runs of scene ids, so first appearances give the item order). Someone
    # whose order never reached this group (another branch of an enclosing group) does not count.
    counts: Counter[tuple[int, ...]] = Counter()
    for order in earlier:
        got: list[int] = []
        for sid in order:
            index = node.owner.get(sid)
            if index is not None and index not in got:
                got.append(index)
        if got:
            counts[tuple(got)] += 1
    candidates = list(itertools.permutations(range(len(node.items)), node.keep))
    fewest = min(counts[c] for c in candidates)
    return rng.choice([c for c in candidates if counts[c] == fewest])


def _describe(node: _Node) -> Any:
    if isinstance(node, _Leaf):
        return node.scene.scene_id
    if isinstance(node, _Block):
        return [_describe(child) for child in node.children]
    return {"randomize": [_describe(item) for item in node.items], "keep_n": node.keep, "balanced": node.balanced}
