"""A P2P page that comes back to its game in progress learns what the store holds of its records.

The returning page (docs/p2p.md, "Rejoining") asks ``start_game`` once its outbox has sent what the
page before it kept; ``recorded`` says where its records stop, so it sends no step twice and leaves
none out.
"""

from __future__ import annotations

import time
from typing import Any

from test_p2p_signaling import Page, matched, p2p_scene

from mug import Experiment
from mug.server.sessions.p2p_game import recorded_through


def step(gid: str, episode: int, n: int, seq: int) -> dict[str, Any]:
    return {"seq": seq, "kind": "step", "payload": {
        "game_id": gid, "episode": episode, "step": n, "scene_id": "duel", "t": 1.0 + n,
        "actions": {"p0": 0, "p1": 1, "bot": 0}, "rewards": {"p0": 0.0, "p1": 0.0, "bot": 0.0},
        "terminated": False, "truncated": False, "infos": {}, "observations": None, "focus": {"p0": True, "p1": True},
    }}  # fmt: skip


def episode(gid: str, seed: int, number: int, steps: int, seq: int) -> dict[str, Any]:
    now = time.time()
    return {"seq": seq, "kind": "episode", "payload": {
        "game_id": gid, "episode": number, "scene_id": "duel", "participant_ids": [], "seed": seed,
        "started_at": now - 1, "ended_at": now, "num_steps": steps, "returns": {"p0": 0.0},
        "terminated": True, "truncated": False, "outcome": "completed",
    }}  # fmt: skip


def test_a_returning_page_is_told_the_last_step_of_its_records_the_store_holds(tmp_path) -> None:
    exp = Experiment("p2p-rejoin", [p2p_scene(reconnect_grace_s=30)], data_dir=tmp_path)
    with exp.serve() as server:
        (a, b), (game, _) = matched(server, ["a", "b"])
        gid = game["game_id"]
        try:
            again = a.call("start_game", {"scene_id": "duel"})["game"]
            assert again["rejoin"] is True and again["recorded"] == {"episode": 1, "step": 0, "closed": False}
            batch = [step(gid, 1, n, n) for n in range(1, 6)]
            assert len(a.call("client_records", {"source": "outbox-a", "records": batch})["committed"]) == 5
            assert a.call("start_game", {"scene_id": "duel"})["game"]["recorded"] == {
                "episode": 1, "step": 5, "closed": False
            }  # fmt: skip
            done = a.call("client_records", {"source": "outbox-a", "records": [episode(gid, game["seed"], 1, 5, 6)]})
            assert done["committed"] == [6]
            assert a.call("start_game", {"scene_id": "duel"})["game"]["recorded"] == {
                "episode": 1, "step": 5, "closed": True
            }  # fmt: skip
            batch = [step(gid, 2, n, 6 + n) for n in range(1, 4)]
            assert len(a.call("client_records", {"source": "outbox-a", "records": batch})["committed"]) == 3
            # The other peer's records are its own: they do not count for this one.
            b.call("client_records", {"source": "outbox-b", "records": [step(gid, 1, n, n) for n in range(1, 9)]})
            assert a.call("start_game", {"scene_id": "duel"})["game"]["recorded"] == {
                "episode": 2, "step": 3, "closed": False
            }  # fmt: skip
            assert b.call("start_game", {"scene_id": "duel"})["game"]["recorded"] == {
                "episode": 1, "step": 8, "closed": False
            }  # fmt: skip
            fresh = Page(server, "a")  # a reloaded page's scene has the game (what it recorded comes with start_game)
            assert fresh.scene["game"]["rejoin"] is True
            fresh.close()
        finally:
            a.close()
            b.close()


def test_recorded_through_reads_a_prefix_of_episodes_then_steps() -> None:
    assert recorded_through({"episodes": [], "steps": 0}) == {"episode": 1, "step": 0, "closed": False}
    assert recorded_through({"episodes": [], "steps": 7}) == {"episode": 1, "step": 7, "closed": False}
    one = {"episode": 1, "num_steps": 10, "stored_steps": 10}
    assert recorded_through({"episodes": [one], "steps": 10}) == {"episode": 1, "step": 10, "closed": True}
    assert recorded_through({"episodes": [one], "steps": 14}) == {"episode": 2, "step": 4, "closed": False}
    two = {"episode": 2, "num_steps": 3, "stored_steps": 3}
    assert recorded_through({"episodes": [two, one], "steps": 13}) == {"episode": 2, "step": 3, "closed": True}
