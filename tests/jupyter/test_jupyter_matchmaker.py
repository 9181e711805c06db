"""A matchmaker written in a notebook cell groups the participants of serve() started from that kernel."""

from __future__ import annotations

import json
from pathlib import Path

CELL = """
import json, tempfile, threading
import socketio
import mug
from mug.env import Surface
from mug.env.spaces import Discrete

class Duo:
    possible_agents = ["left", "right"]
    def __init__(self):
        self.agents = list(self.possible_agents)
        self.surface = Surface(200, 100)
    def action_space(self, agent):
        return Discrete(2)
    def reset(self, seed=None, options=None):
        self.t = 0
        return {a: [0] for a in self.agents}, {a: {} for a in self.agents}
    def step(self, actions):
        self.t += 1
        done = {a: self.t >= 5 for a in self.agents}
        return ({a: [self.t] for a in self.agents}, {a: 0.0 for a in self.agents}, done,
                {a: False for a in self.agents}, {a: {} for a in self.agents})
    def render(self):
        self.surface.text(0.1, 0.1, f"t={self.t}", id="clock")
        return self.surface.commit()

class SameCondition(mug.Matchmaker):  # the researcher's own, defined right here
    def find_match(self, arriving, waiting, group_size):
        mine = arriving.data["query"].get("condition")
        same = [c for c in waiting if c.data["query"].get("condition") == mine]
        if len(same) < group_size - 1:
            return None
        return mug.Match([arriving, *same[: group_size - 1]], reason=f"both in condition {mine}")

game = (
    mug.GymScene().scene("duo").environment(env_creator=Duo, seed=1)
    .rendering(fps=30).gameplay(action_mapping={"ArrowRight": 1}, default_action=0)
    .policies(policy_mapping={"left": "human", "right": "human"})
    .multiplayer(matchmaker=SameCondition())
)
exp = mug.Experiment("nb-match", [game, mug.EndScene().scene("end")], data_dir=tempfile.mkdtemp())
server = exp.serve()
matched = {}
clients = {}
for pid, condition in [("ann", "red"), ("bob", "blue"), ("cyd", "blue")]:
    client = socketio.Client(reconnection=False)
    got = threading.Event()
    client.on("matched", lambda payload, pid=pid, got=got: (matched.setdefault(pid, payload["game_id"]), got.set()))
    client.connect(f"http://127.0.0.1:{server.port}", transports=["websocket"], socketio_path="socket.io")
    client.call("join", {"query": {"participant": pid, "condition": condition}})
    reply = client.call("start_game", {"scene_id": "duo"})
    if reply.get("game"):
        matched.setdefault(pid, reply["game"]["game_id"])
    clients[pid] = (client, got)
clients["bob"][1].wait(10)
for client, _ in clients.values():
    client.disconnect()
server.stop()
events = exp.results().events
proposals = events[events["kind"] == "match_proposal"]
print(json.dumps({
    "matched": matched,
    "members": [list(m) for m in proposals["data.members"]],
    "reasons": list(proposals["data.reason"]),
    "deciders": [m["matchmaker"] for m in proposals["data.matchmaker"]],
    "errors": int((events["kind"] == "matchmaker_error").sum()),
}))
"""


def test_a_matchmaker_defined_in_a_notebook_cell_groups_the_participants_of_serve(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(CELL)]
    NotebookClient(book, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(o.get("text", "") for o in book.cells[0].outputs if o.get("output_type") == "stream")
    report = json.loads(text.strip().splitlines()[-1])
    # Bob and Cyd share a condition; Ann, who came first, is not grouped with either.
    assert set(report["matched"]) == {"bob", "cyd"} and len(set(report["matched"].values())) == 1, report
    assert report["members"] == [["bob", "cyd"]], report  # (asked about in order of arrival: Bob first)
    assert report["reasons"] == ["both in condition blue"], report
    assert report["deciders"] == ["SameCondition"], report
    assert report["errors"] == 0, report
