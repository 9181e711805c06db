"""The peer-to-peer side of the worker's Python bridge (bridge.py ``Game.execute``), in CPython.

The netcode's host requests for a tick run in one call; these tests play batches as the netcode
makes them (save/advance/load/discard/exportState/importState) against PaddlesEnv and check what
rollback relies on: a re-simulation gives the same results, two peers fed the same inputs agree
on every checksum, a state exported by one peer continues identically on another, and a state a
peer sends that cannot be used is refused with the reason. The browser tests and the resim
benchmark run the same file in Pyodide.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import math
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from mug.env import EnvAdapter, RenderDiffer

BRIDGE = Path(__file__).resolve().parents[2] / "mug" / "client" / "src" / "runtime" / "bridge.py"

PADDLES = "from mug.env.examples import PaddlesEnv\nenv = PaddlesEnv(points_to_win=2)\n"


@pytest.fixture(scope="module")
def bridge() -> Any:
    spec = importlib.util.spec_from_file_location("_mug_bridge_p2p", BRIDGE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def p2p_game(bridge: Any, code: str = PADDLES, **extra: Any) -> Any:
    spec = {
        "env_code": code,
        "agents": ["left", "right"],
        "humans": ["left", "right"],
        "p2p": True,
        "seed": 7,
        "max_steps": 5000,
        **extra,
    }
    g = bridge.Game(json.dumps(spec))
    loaded = json.loads(g.load())
    assert loaded["ok"], loaded
    assert json.loads(g.p2p_reset(1))["ok"]
    return g


def run(g: Any, requests: list[dict[str, Any]]) -> dict[str, Any]:
    out = json.loads(g.execute(json.dumps({"requests": requests})))
    assert out["ok"], out
    return out


def frames(first: int, inputs: list[list[list[int]]], checksum_every: int = 1) -> list[dict[str, Any]]:
    """The requests of frames first, first+1, ...: advance(f) then save(f + 1), as the netcode asks."""
    out: list[dict[str, Any]] = []
    for i, player_inputs in enumerate(inputs):
        f = first + i
        out.append({"kind": "advance", "frame": f, "inputs": player_inputs, "resimulation": False})
        out.append({"kind": "save", "frame": f + 1, "checksum": (f + 1) % checksum_every == 0})
    return out


def random_inputs(seed: int, count: int) -> list[list[list[int]]]:
    rng = random.Random(seed)
    return [[[rng.randrange(3), 1], [rng.randrange(3), rng.randrange(2)]] for _ in range(count)]


def test_an_env_without_snapshots_is_refused_naming_rollback(bridge):
    code = "from mug.env.examples import PaddlesEnv\nclass NoSnap(PaddlesEnv):\n    get_state = None\nenv = NoSnap()\n"
    g = bridge.Game(
        json.dumps({"env_code": code, "agents": ["left", "right"], "humans": ["left", "right"], "p2p": True})
    )
    out = json.loads(g.load())
    assert out["ok"] is False and out["stage"] == "no_snapshot"
    assert out["error"].startswith("rollback needs snapshots: the env (NoSnap) must define get_state() and set_state")


def test_human_agents_report_their_discrete_spaces_and_other_spaces_are_refused(bridge):
    g = bridge.Game(
        json.dumps({"env_code": PADDLES, "agents": ["left", "right"], "humans": ["left", "right"], "p2p": True})
    )
    assert json.loads(g.load())["actions"] == {"left": {"n": 3, "start": 0}, "right": {"n": 3, "start": 0}}
    code = PADDLES + "env.action_spaces['right'] = [0, 1]\n"
    g = bridge.Game(
        json.dumps({"env_code": code, "agents": ["left", "right"], "humans": ["left", "right"], "p2p": True})
    )
    out = json.loads(g.load())
    assert out["ok"] is False and out["stage"] == "action_space"
    assert "human agent 'right' of a peer-to-peer game needs a Discrete action space" in out["error"]


def test_steps_match_the_adapter_and_one_render_diff_per_batch(bridge):
    g = p2p_game(bridge)
    adapter, differ = EnvAdapter(bridge.run_env_code(PADDLES)["env"], ["left", "right"]), RenderDiffer()
    adapter.reset(seed=7)
    differ.diff(adapter.render())
    inputs = random_inputs(1, 40)
    out = run(g, [{"kind": "save", "frame": 0, "checksum": False}, *frames(0, inputs, checksum_every=10)])
    assert [c[0] for c in out["checksums"]] == [10, 20, 30, 40]
    assert [s["frame"] for s in out["steps"]] == list(range(40))
    for i, step in enumerate(out["steps"]):
        result = adapter.step({"left": inputs[i][0][0], "right": inputs[i][1][0]})
        assert step["episode"] == 1 and step["step"] == i + 1
        assert step["actions"] == {"left": inputs[i][0][0], "right": inputs[i][1][0]}
        assert step["rewards"] == result.rewards and step["infos"] == result.infos
        assert step["observations"] is None  # not recorded unless asked
    assert out["frame"] == differ.diff(adapter.render())  # the batch's last frame only
    assert out["live"] == {"episode": 1, "step": 40, "over": False, "freeze": 0}
    assert run(g, [{"kind": "discard", "before": 30}])["frame"] is None  # nothing changed, nothing drawn


def test_rollback_and_resimulation_reproduce_the_first_simulation(bridge):
    g = p2p_game(bridge, record_observations=True)
    inputs = random_inputs(2, 60)
    first = run(g, [{"kind": "save", "frame": 0, "checksum": False}, *frames(0, inputs)])
    # A late input for frame 30 turns out to be what was predicted: load 30, re-simulate 30..59.
    again = run(g, [{"kind": "load", "frame": 30}, *frames(30, inputs[30:])])
    assert again["steps"] == first["steps"][30:]
    assert again["checksums"] == first["checksums"][30:]
    assert again["frame"] == {"objects": [], "removed": []}  # back where it was: nothing to redraw
    # A different input at frame 45: the frames from there on change, the earlier ones do not.
    changed = [list(map(list, x)) for x in inputs]
    changed[45][1][0] = (changed[45][1][0] + 1) % 3
    other = run(g, [{"kind": "load", "frame": 45}, *frames(45, changed[45:])])
    assert other["checksums"][0] != first["checksums"][45]
    assert other["steps"][0]["actions"]["right"] == changed[45][1][0]


def test_two_peers_fed_the_same_inputs_agree_on_every_checksum(bridge):
    inputs = random_inputs(3, 300)
    long_game = "from mug.env.examples import PaddlesEnv\nenv = PaddlesEnv(points_to_win=20)\n"
    a, b = p2p_game(bridge, long_game), p2p_game(bridge, long_game)
    start = [{"kind": "save", "frame": 0, "checksum": False}]
    out_a = run(a, start + frames(0, inputs))
    # Peer b gets there in short batches with a rollback in between, as under latency.
    sums_b: list[list[int]] = []
    run(b, start)
    for f in range(0, 300, 25):
        sums_b += run(b, frames(f, inputs[f : f + 25]))["checksums"]
        if f >= 50:
            sums_b = sums_b[:-10]
            sums_b += run(b, [{"kind": "load", "frame": f + 15}, *frames(f + 15, inputs[f + 15 : f + 25])])["checksums"]
    assert sums_b == out_a["checksums"]
    assert len({c for _, c in out_a["checksums"]}) > 250  # the state really changes
    c = p2p_game(bridge, long_game)
    other = random_inputs(4, 300)
    out_c = run(c, start + frames(0, other))
    assert out_c["checksums"][-1] != out_a["checksums"][-1]


def test_an_exported_state_continues_identically_on_another_peer(bridge):
    inputs = random_inputs(5, 200)
    a, b = p2p_game(bridge), p2p_game(bridge, seed=99)  # b diverged (another seed): it is resynced
    run(a, [{"kind": "save", "frame": 0, "checksum": False}, *frames(0, inputs[:120])])
    exported = run(a, [{"kind": "exportState", "frame": 90}])["exports"]
    assert [f for f, _ in exported] == [90]
    text = exported[0][1]
    assert json.loads(text)["game"] == {"episode": 1, "step": 90, "over": False, "freeze": 0}
    tail_a = run(a, [{"kind": "load", "frame": 90}, *frames(90, inputs[90:])])
    run(b, [{"kind": "save", "frame": 0, "checksum": False}, *frames(0, inputs[:100])])
    tail_b = run(
        b,
        [{"kind": "importState", "frame": 90, "state": text}, {"kind": "load", "frame": 90}, *frames(90, inputs[90:])],
    )
    assert tail_b["checksums"] == tail_a["checksums"]
    assert tail_b["steps"] == tail_a["steps"]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("{not json", "the state received from a peer is not JSON"),
        ("[1, 2]", "expected an object with exactly the keys env, game and adapter"),
        (
            '{"env": {}, "game": {"episode": 1, "step": -1, "freeze": 0, "over": false}, "adapter": {}}',
            "game.step must be an int >= 0, got -1",
        ),
        (
            '{"env": {"left_y": 3}, "game": {"episode": 1, "step": 0, "freeze": 0, "over": false},'
            ' "adapter": {"done": {}, "flags": {}, "last_obs": {}}}',
            "the env refused it: ValueError: PaddlesEnv.set_state(): snapshot is missing",
        ),
        (
            '{"env": {}, "game": {"episode": 1, "step": 0, "freeze": 0, "over": false},'
            ' "adapter": {"done": {"nobody": true}, "flags": {}, "last_obs": {}}}',
            "adapter.done must map agent ids",
        ),
    ],
)
def test_a_bad_state_from_a_peer_is_refused_with_the_reason_and_changes_nothing(bridge, state, message):
    g = p2p_game(bridge)
    before = run(g, [{"kind": "save", "frame": 0, "checksum": True}, *frames(0, random_inputs(6, 10))])
    out = json.loads(g.execute(json.dumps({"requests": [{"kind": "importState", "frame": 5, "state": state}]})))
    assert out["ok"] is False and out["stage"] == "import_state" and out["frame"] == 5
    assert message in out["error"]
    # The live game and the saved state of frame 5 are untouched.
    assert out["live"] == before["live"]
    again = run(g, [{"kind": "load", "frame": 5}, *frames(5, random_inputs(6, 10)[5:])])
    assert again["steps"] == before["steps"][5:]


def test_loading_a_frame_that_was_never_saved_names_it(bridge):
    g = p2p_game(bridge)
    run(g, [{"kind": "save", "frame": 0, "checksum": False}, *frames(0, random_inputs(7, 3))])
    out = json.loads(
        g.execute(json.dumps({"requests": [{"kind": "discard", "before": 2}, {"kind": "load", "frame": 1}]}))
    )
    assert out["ok"] is False and out["stage"] == "snapshot" and out["frame"] == 1
    assert "no saved state for frame 1 to load (saved frames: 2..3)" in out["error"]


def test_random_bots_draw_a_pure_function_of_seed_episode_step_and_agent(bridge):
    g = p2p_game(bridge, humans=["left"], random_agents=["right"])
    inputs = [[[0, 1]] for _ in range(50)]
    first = run(g, [{"kind": "save", "frame": 0, "checksum": False}, *frames(0, inputs)])
    drawn = [s["actions"]["right"] for s in first["steps"]]
    assert drawn == [bridge.random_action(7, 1, step, "right", 3, 0) for step in range(50)]
    assert set(drawn) == {0, 1, 2}
    again = run(g, [{"kind": "load", "frame": 20}, *frames(20, inputs[20:])])
    assert [s["actions"]["right"] for s in again["steps"]] == drawn[20:]
    # Another peer's game (same seed) draws the same; another seed does not.
    assert run(p2p_game(bridge, humans=["left"], random_agents=["right"]), frames(0, inputs))["steps"] == first["steps"]
    other = run(p2p_game(bridge, seed=8, humans=["left"], random_agents=["right"]), frames(0, inputs))
    assert [s["actions"]["right"] for s in other["steps"]] != drawn


def test_frames_after_the_episode_is_over_and_in_the_reset_freeze_are_skipped(bridge):
    g = p2p_game(bridge, max_steps=10, freeze_frames=3)
    out = run(g, [{"kind": "save", "frame": 0, "checksum": False}, *frames(0, random_inputs(8, 14))])
    assert [s.get("step") for s in out["steps"][:10]] == list(range(1, 11))
    assert out["steps"][9]["over"] is True and out["steps"][9]["episode_over"] is False  # max_steps
    assert out["steps"][10:] == [{"frame": f, "skip": True} for f in range(10, 14)]
    reset = json.loads(g.p2p_reset(2))
    assert reset["live"] == {"episode": 2, "step": 0, "over": False, "freeze": 3}
    out = run(g, [{"kind": "save", "frame": 14, "checksum": False}, *frames(14, random_inputs(9, 5))])
    assert [s.get("step") for s in out["steps"]] == [None, None, None, 1, 2]
    assert out["steps"][3]["episode"] == 2


def test_the_desync_test_hook_changes_the_state_and_every_snapshot(bridge):
    inputs = random_inputs(10, 40)
    a, b = p2p_game(bridge), p2p_game(bridge)
    start = [{"kind": "save", "frame": 0, "checksum": False}]
    run(a, start + frames(0, inputs[:20]))
    run(b, start + frames(0, inputs[:20]))
    assert json.loads(b.perturb()) == {"ok": True, "changed": "ball_vx, salt"}
    # Even a rollback to a frame saved before the perturbation keeps it, and every later checksum
    # differs (the salt stays when the game overwrites the number: a ball's speed at a serve).
    tail_a = run(a, [{"kind": "load", "frame": 10}, *frames(10, inputs[10:])])
    tail_b = run(b, [{"kind": "load", "frame": 10}, *frames(10, inputs[10:])])
    assert tail_a["checksums"] and len(tail_a["checksums"]) == len(tail_b["checksums"])
    assert all(x[1] != y[1] for x, y in zip(tail_a["checksums"], tail_b["checksums"], strict=True))


# -- ONNX bots: the batch pauses for their actions; their state is part of every snapshot --------

BOT = {"n_actions": 3, "frame_skip": 1, "state_sizes": [2]}


def bot_game(bridge: Any, bot: dict[str, Any] | None = None, **extra: Any) -> Any:
    """Paddles with one human ("left") and an ONNX bot ("right")."""
    return p2p_game(bridge, humans=["left"], onnx_agents={"right": bot or BOT}, **extra)


def f32(values: list[float]) -> str:
    """Values as the worker sends a state tensor: base64 of little-endian float32."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def unf32(text: str) -> list[float]:
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def infer(query: dict[str, Any]) -> dict[str, Any]:
    """A stand-in for the worker's ONNX run: logits from the observation and a recurrent state that
    remembers the ball (float32, as a model's outputs), then the seeded draw samples the action."""
    from mug.policies.sampling import sample_index, softmax

    obs = query["observation"]
    h = unf32(query["memory"][0]) if query["memory"] else [0.0, 0.0]
    new_h = unf32(f32([0.8 * h[0] + obs[2] / 1000, 0.8 * h[1] + obs[3] / 600]))  # (rounded to float32)
    logits = [new_h[0] * 3, new_h[1] * 3, (obs[3] - obs[0]) / 200]
    return {"action": sample_index(softmax(logits), query["u"]), "memory": [f32(new_h)]}


def run_bots(g: Any, requests: list[dict[str, Any]], queries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """execute(), then answer every pause with `infer` until the batch is done (as the worker does)."""
    return finish(g, json.loads(g.execute(json.dumps({"requests": requests}))), queries)


def finish(g: Any, out: dict[str, Any], queries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Answer the batch's pauses with `infer` until it is done; the queries asked are added to `queries`."""
    while out.get("pending"):
        asked = out["pending"]["queries"]
        if queries is not None:
            queries += [{**q, "frame": out["pending"]["frame"]} for q in asked]
        out = json.loads(g.resume(json.dumps({q["agent"]: infer(q) for q in asked})))
    assert out["ok"], out
    return out


def bot_inputs(seed: int, count: int) -> list[list[list[int]]]:
    rng = random.Random(seed)
    return [[[rng.randrange(3), 1]] for _ in range(count)]


def test_a_batch_pauses_at_each_bot_step_with_its_observation_memory_and_seeded_draw(bridge):
    g = bot_game(bridge)
    inputs = bot_inputs(20, 30)
    batch = [{"kind": "save", "frame": 0, "checksum": False}, *frames(0, inputs)]
    out = json.loads(g.execute(json.dumps({"requests": batch})))
    pending = out["pending"]
    assert out["ok"] and pending["frame"] == 0 and set(out) == {"ok", "pending"}
    env = bridge.run_env_code(PADDLES)["env"]
    first_obs, _ = env.reset(seed=7)
    assert pending["queries"] == [
        {"agent": "right", "observation": first_obs["right"], "memory": None, "u": bridge.sample_draw(7, 1, 0, "right")}
    ]
    # Another batch cannot start while this one waits.
    refused = json.loads(g.execute(json.dumps({"requests": []})))
    assert refused["ok"] is False and "waiting for its bots' actions" in refused["error"]
    answer = infer(pending["queries"][0])
    out = json.loads(g.resume(json.dumps({"right": answer})))
    assert out["pending"]["frame"] == 1  # the next frame's step needs the bot again
    assert out["pending"]["queries"][0]["memory"] == answer["memory"]
    queries: list[dict[str, Any]] = []
    done = finish(g, out, queries)
    assert [q["frame"] for q in queries] == list(range(1, 30))
    assert [s["step"] for s in done["steps"]] == list(range(1, 31))
    assert done["steps"][0]["actions"] == {"left": inputs[0][0][0], "right": answer["action"]}
    assert all(0 <= q["u"] < 1 for q in queries) and len({q["u"] for q in queries}) == 29


def test_with_bots_a_rollback_replays_the_same_queries_and_two_peers_agree(bridge):
    inputs = bot_inputs(22, 240)
    long_game = "from mug.env.examples import PaddlesEnv\nenv = PaddlesEnv(points_to_win=20)\n"
    a, b = bot_game(bridge, code=long_game), bot_game(bridge, code=long_game)
    start = [{"kind": "save", "frame": 0, "checksum": False}]
    first: list[dict[str, Any]] = []
    out_a = run_bots(a, start + frames(0, inputs), first)
    drawn = [s["actions"]["right"] for s in out_a["steps"]]
    assert set(drawn) == {0, 1, 2}  # the bot's actions depend on what it sees and on the draw
    # A rollback to frame 100 re-simulates with the bot's memory as it was at frame 100.
    again: list[dict[str, Any]] = []
    replay = run_bots(a, [{"kind": "load", "frame": 100}, *frames(100, inputs[100:])], again)
    assert again == first[100:]
    assert replay["steps"] == out_a["steps"][100:] and replay["checksums"] == out_a["checksums"][100:]
    # Peer b gets there in short batches with rollbacks in between: the same checksums.
    sums_b: list[list[int]] = []
    run_bots(b, start)
    for f in range(0, 240, 20):
        sums_b += run_bots(b, frames(f, inputs[f : f + 20]))["checksums"]
        if f >= 40:
            sums_b = sums_b[:-7]
            sums_b += run_bots(b, [{"kind": "load", "frame": f + 13}, *frames(f + 13, inputs[f + 13 : f + 20])])[
                "checksums"
            ]
    assert sums_b == out_a["checksums"]
    # The bot's memory is in the checksum: the same env state with another memory differs.
    saved = a.snapshots[120]
    other = (saved[0], saved[1], saved[2], {"right": {**saved[3]["right"], "memory": [f32([0.5, 0.5])]}})
    assert bridge._canonical(other) != bridge._canonical(saved)


def test_with_bots_an_exported_state_carries_their_memory_and_continues_identically(bridge):
    inputs = bot_inputs(23, 160)
    a, b = bot_game(bridge), bot_game(bridge)
    run_bots(a, [{"kind": "save", "frame": 0, "checksum": False}, *frames(0, inputs[:100])])
    [(frame, text)] = run_bots(a, [{"kind": "exportState", "frame": 80}])["exports"]
    state = json.loads(text)
    assert frame == 80 and set(state) == {"env", "game", "adapter", "bots"}
    assert state["bots"]["right"]["action"] in (0, 1, 2) and len(unf32(state["bots"]["right"]["memory"][0])) == 2
    tail_a = run_bots(a, [{"kind": "load", "frame": 80}, *frames(80, inputs[80:])])
    run_bots(b, [{"kind": "save", "frame": 0, "checksum": False}, *frames(0, bot_inputs(28, 90))])  # b diverged
    tail_b = run_bots(
        b,
        [{"kind": "importState", "frame": 80, "state": text}, {"kind": "load", "frame": 80}, *frames(80, inputs[80:])],
    )
    assert tail_b["steps"] == tail_a["steps"] and tail_b["checksums"] == tail_a["checksums"]


def test_with_frame_skip_the_bot_is_asked_every_kth_step_and_repeats_its_action(bridge):
    g = bot_game(bridge, {**BOT, "frame_skip": 3}, max_steps=10)
    queries: list[dict[str, Any]] = []
    out = run_bots(g, [{"kind": "save", "frame": 0, "checksum": False}, *frames(0, bot_inputs(24, 14))], queries)
    assert [q["frame"] for q in queries] == [0, 3, 6, 9]  # steps 0, 3, 6, 9; frames 10.. are after the end
    actions = [s["actions"]["right"] for s in out["steps"][:10]]
    assert actions == [actions[0]] * 3 + [actions[3]] * 3 + [actions[6]] * 3 + [actions[9]]
    assert out["steps"][10:] == [{"frame": f, "skip": True} for f in range(10, 14)]
    # A new episode starts the bot over: zero memory, no last action, asked at its first step.
    json.loads(g.p2p_reset(2))
    more: list[dict[str, Any]] = []
    run_bots(g, [{"kind": "save", "frame": 14, "checksum": False}, *frames(14, bot_inputs(25, 2))], more)
    assert [(q["frame"], q["memory"], q["u"]) for q in more] == [(14, None, bridge.sample_draw(7, 2, 0, "right"))]


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({}, "bot answers for [], but the bots asked were ['right']"),
        ({"right": {"action": 3, "memory": [[0.0, 0.0]]}}, "bot 'right' answered action 3; expected an int in 0..2"),
        ({"right": {"action": True, "memory": [[0.0, 0.0]]}}, "answered action True"),
        ({"right": {"action": 1, "memory": [f32([0.0])]}}, "must hold 2 float32 values (base64) in state tensor 0"),
        ({"right": {"action": 1, "memory": ["@@@@@@@@@@@="]}}, "must hold 2 float32 values (base64) in state tensor 0"),
        ({"right": {"action": 1, "memory": [[0.0, 0.0]]}}, "must hold 2 float32 values (base64) in state tensor 0"),
        ({"right": {"action": 1, "memory": [f32([0.0, math.nan])]}}, "holds NaN or infinity in state tensor 0"),
        ({"right": {"action": 1, "memory": "h"}}, "must be a list of 1 base64 texts"),
    ],
)
def test_bad_bot_answers_stop_the_batch_naming_the_problem(bridge, answers, message):
    g = bot_game(bridge)
    out = json.loads(g.execute(json.dumps({"requests": frames(0, bot_inputs(26, 3))})))
    assert out["pending"]
    failed = json.loads(g.resume(json.dumps(answers)))
    assert failed["ok"] is False and failed["stage"] == "bot" and failed["frame"] == 0
    assert message in failed["error"]
    assert json.loads(g.resume("{}"))["error"] == "resume() without a batch waiting for bot actions"
    assert run_bots(g, frames(0, bot_inputs(26, 3)))["steps"][0]["step"] == 1  # the next batch runs


@pytest.mark.parametrize(
    ("bots", "message"),
    [
        (None, "expected an object with exactly the keys env, game, adapter and bots"),
        ({}, "bots must map the ONNX agents (['right']) to their state"),
        ({"right": {"obs": [], "action": -1, "memory": None}}, "bots.right.action must be null or an int >= 0"),
        ({"right": {"obs": [], "action": 1, "memory": [f32([1.0])]}}, "bots.right.memory must hold 2 float32 values"),
    ],
)
def test_a_state_from_a_peer_with_bad_bot_state_is_refused(bridge, bots, message):
    g = bot_game(bridge)
    run_bots(g, [{"kind": "save", "frame": 0, "checksum": False}, *frames(0, bot_inputs(27, 10))])
    [(_, text)] = run_bots(g, [{"kind": "exportState", "frame": 5}])["exports"]
    state = json.loads(text)
    if bots is None:
        del state["bots"]
    else:
        state["bots"] = bots
    out = json.loads(
        g.execute(json.dumps({"requests": [{"kind": "importState", "frame": 5, "state": json.dumps(state)}]}))
    )
    assert out["ok"] is False and out["stage"] == "import_state" and message in out["error"]


def test_an_onnx_bot_needs_a_discrete_space_from_0_the_size_of_its_logits(bridge):
    def load(code: str, bot: dict[str, Any]) -> dict[str, Any]:
        spec = {
            "env_code": code,
            "agents": ["left", "right"],
            "humans": ["left"],
            "p2p": True,
            "onnx_agents": {"right": bot},
        }
        return json.loads(bridge.Game(json.dumps(spec)).load())

    assert load(PADDLES, BOT)["ok"]
    out = load(PADDLES, {**BOT, "n_actions": 5})
    assert out["stage"] == "action_space"
    assert "its ONNX model outputs 5 logits, but its action space Discrete(3) has 3 actions" in out["error"]
    shifted = PADDLES + "from mug.env.spaces import Discrete\nenv.action_spaces['right'] = Discrete(3, start=1)\n"
    assert "must be Discrete(n) starting at 0" in load(shifted, BOT)["error"]
