"""100 injected disconnects and reloads across a server-authoritative and a client-side game lose no
step the page was told is saved.

Why: a participant's network drops and their page reloads at any moment, and each time the data
path has a seam — frames a server game already sent, records the page's outbox keeps in IndexedDB
and resends. Single interruptions are covered elsewhere; this test hammers those seams 50 times per
game, alternating a dropped connection (the browser context goes offline, which closes the page's
websocket; the server sees the disconnect) with a full page reload, and then checks the database
against what the page was told:

* server-authoritative game: every step the page received in a frame is in the database once the
  game has ended (the server records a step before it sends its frame);
* client-side game (the env runs in Pyodide in the page): every step record the server
  acknowledged as committed to the page's outbox is in the database.

And no step is stored twice. What the page was told is read off the wire: an init script wraps the
page's WebSocket and reports, through a binding to the test, each frame received and each
`client_records` acknowledgement (with the records of the batch it answers), so the reports
survive reloads without relying on the page's own state.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from envs import Walk, walk_scene
from helpers import wait_for
from test_client_side import DUEL as DUEL_ENV

from mug import CompletionCodeScene, Experiment, GymScene, StartScene

INTERRUPTIONS_PER_GAME = 50
RECOVERY_MS = 60_000  # a reload of the client-side game loads Pyodide again (from the HTTP cache)

# The page's websocket, tapped: frames and acknowledged record batches go to the test through the
# `__stormTap` binding; nothing the page does changes.
TAP = """
(() => {
  const Native = window.WebSocket;
  const sent = new Map();  // this page load's ack id -> the records of a client_records batch
  const report = (kind, data) => { try { window.__stormTap(kind, data); } catch (e) {} };
  const inbound = (text) => {
    if (text.startsWith('42["frame",')) {
      const [, f] = JSON.parse(text.slice(2));
      report("frame", { game_id: f.game_id, episode: f.episode, step: f.step });
      return;
    }
    const ack = /^43(\\d+)(\\[.*)$/s.exec(text);
    if (!ack || !sent.has(ack[1])) return;
    const records = sent.get(ack[1]);
    sent.delete(ack[1]);
    const [reply] = JSON.parse(ack[2]);
    if (!reply || reply.ok !== true) return;
    const bySeq = new Map(records.map((r) => [r.seq, r]));
    const told = (seqs) => (seqs || []).map((seq) => {
      const r = bySeq.get(seq) || { kind: "?", payload: {} };
      const p = r.payload || {};
      return { seq, kind: r.kind, game_id: p.game_id ?? null, episode: p.episode ?? null, step: p.step ?? null };
    });
    report("acked", { committed: told(reply.committed), refused: told(reply.refused) });
  };
  const outbound = (text) => {
    const m = /^42(\\d+)\\["client_records",(.*)\\]$/s.exec(text);
    if (m) sent.set(m[1], JSON.parse(m[2]).records || []);
  };
  class Tapped extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (ev) => { if (typeof ev.data === "string") inbound(ev.data); });
    }
    send(data) {
      if (typeof data === "string") outbound(data);
      return super.send(data);
    }
  }
  window.WebSocket = Tapped;
})();
"""

# The client-side tests' pure-Python duel (Pyodide has no numpy), with short episodes so the storm
# crosses episode boundaries; the scene plays many of them, so no game ends during the storm.
DUEL = DUEL_ENV + "\nenv = Duel(length=40)\n"


# The server-authoritative game lasts until the storm is over: then the test sets this and the
# episode (the game's only one) ends at the next step.
STORM_OVER = threading.Event()


class StormWalk(Walk):
    """The test envs' Walk, ending its episode when the test says the storm is over."""

    def step(self, action: int) -> tuple[list[float], float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated or STORM_OVER.is_set(), truncated, info


class Tap:
    """What one browser context's pages were told, collected across reloads."""

    def __init__(self, context: Any) -> None:
        self.frames: list[tuple[str, int, int]] = []
        self.committed: list[dict[str, Any]] = []
        self.refused: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        context.expose_binding("__stormTap", self._report)
        context.add_init_script(TAP)

    def _report(self, _source: Any, kind: str, data: dict[str, Any]) -> None:
        with self.lock:
            if kind == "frame":
                self.frames.append((data["game_id"], data["episode"], data["step"]))
            else:
                self.committed.extend(data["committed"])
                self.refused.extend(data["refused"])


def open_tapped(browser: Any, url: str) -> tuple[Any, Any, Tap]:
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    tap = Tap(context)
    page = context.new_page()
    page.set_default_timeout(RECOVERY_MS)
    page.goto(url)
    return context, page, tap


def server_game() -> GymScene:
    return walk_scene(env=StormWalk, length=10**6).gameplay(max_steps=10**6)


def browser_game() -> GymScene:
    return (
        GymScene()
        .scene("duel")
        .runtime(env_code=DUEL)
        .rendering(fps=30, game_width=400, game_height=200)
        .gameplay(action_mapping={"ArrowLeft": 0, "ArrowRight": 2}, default_action=1, num_episodes=10_000)
        .policies(policy_mapping={"me": "human", "bot": "random"})
        .environment(seed=5)
    )


def experiment(name: str, game: GymScene) -> Experiment:
    return Experiment(name, [StartScene().scene("hello"), game, CompletionCodeScene().scene("end")])


def start(page: Any, scene_id: str) -> None:
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.sceneId === arg && m.status === 'waiting_start'", scene_id)
    page.get_by_test_id("start-game").click()
    wait_for(page, "m.status === 'running' && m.step > 3", timeout=RECOVERY_MS)


def interrupt(context: Any, page: Any, kind: str) -> None:
    """Drop the page's connection (until the page has seen it drop) or reload the page."""
    if kind == "reload":
        page.reload()
        return
    context.set_offline(True)
    wait_for(page, "!m.connected", timeout=RECOVERY_MS)
    context.set_offline(False)


def test_a_storm_of_disconnects_and_reloads_loses_no_step_the_page_was_told_is_saved(serve, browser) -> None:
    STORM_OVER.clear()
    server_exp, browser_exp = experiment("storm_server", server_game()), experiment("storm_browser", browser_game())
    s_server, b_server = serve(server_exp), serve(browser_exp)
    s_context, s_page, s_tap = open_tapped(browser, s_server.url + "?participant=stormy")
    b_context, b_page, b_tap = open_tapped(browser, b_server.url + "?participant=squally")
    try:
        start(s_page, "walk")
        start(b_page, "duel")
        for i in range(INTERRUPTIONS_PER_GAME):
            # Each round interrupts both games, one each way, and swaps the ways next round.
            s_kind, b_kind = ("offline", "reload") if i % 2 == 0 else ("reload", "offline")
            s_step = int(s_page.evaluate("window.mug.step"))
            b_acked = int(b_page.evaluate("window.mug.outbox ? window.mug.outbox.acked : 0"))
            interrupt(s_context, s_page, s_kind)
            interrupt(b_context, b_page, b_kind)
            # Back: connected, running, and the server game went on from where it was.
            wait_for(s_page, "m.connected && m.status === 'running' && m.step > arg", s_step, timeout=RECOVERY_MS)
            if b_kind == "reload":  # a new page: a new game, its acknowledgements counted afresh
                back = "m.connected && m.status === 'running' && m.outbox && m.outbox.acked > 0"
                wait_for(b_page, back, timeout=RECOVERY_MS)
            else:
                back = "m.connected && m.status === 'running' && m.outbox.acked > arg"
                wait_for(b_page, back, b_acked, timeout=RECOVERY_MS)

        # The storm is over: whatever the last page left unsent reaches the server...
        wait_for(b_page, "m.connected && m.outbox.pending === 0", timeout=RECOVERY_MS)
        # ...and the server game ends, so every step it recorded is committed.
        STORM_OVER.set()
        wait_for(s_page, "m.sceneId === 'end'", timeout=RECOVERY_MS)
    finally:
        STORM_OVER.set()
        s_context.close()
        b_context.close()

    # Server-authoritative: every step seen in a frame is stored, once, in order, and none is missing.
    s_results = server_exp.results()
    s_steps = s_results.steps
    stored = list(zip(s_steps["game_id"], s_steps["episode"], s_steps["step"], strict=True))
    assert not [key for key, n in Counter(stored).items() if n > 1], "steps stored twice"
    seen = {frame for frame in s_tap.frames if frame[2] > 0}  # (step 0: the frame after a reset)
    assert len(seen) > 100
    missing = sorted(seen - set(stored))
    assert not missing, f"{len(missing)} steps shown to the page are not in the database: {missing[:20]}"
    assert list(s_steps["step"]) == list(range(1, len(s_steps) + 1))  # no gap either
    assert list(s_results.games["outcome"]) == ["completed"]
    s_events = s_results.events
    assert (s_events["kind"] == "disconnect").sum() >= INTERRUPTIONS_PER_GAME  # the server saw every drop

    # Client-side: every step record the server acknowledged is stored, once.
    b_results = browser_exp.results()
    b_steps = b_results.steps
    stored = list(zip(b_steps["game_id"], b_steps["episode"], b_steps["step"], strict=True))
    assert not [key for key, n in Counter(stored).items() if n > 1], "steps stored twice"
    assert b_tap.refused == [], f"the server refused records: {b_tap.refused[:10]}"
    acked = {(r["game_id"], r["episode"], r["step"]) for r in b_tap.committed if r["kind"] == "step"}
    assert len(acked) > 100
    missing = sorted(acked - set(stored))
    assert not missing, f"{len(missing)} acknowledged steps are not in the database: {missing[:20]}"
    # Each reload started a new game; each game's steps are whole episodes then a prefix of the
    # last one: only records the page never got to keep can be missing, never one in between.
    games = b_results.games
    assert len(games) == INTERRUPTIONS_PER_GAME // 2 + 1
    for game_id, mine in b_steps.groupby("game_id", sort=False):
        for episode, numbers in mine.groupby("episode")["step"]:
            assert sorted(numbers) == list(range(1, len(numbers) + 1)), f"gap in game {game_id} episode {episode}"
    b_events = b_results.events
    assert (b_events["kind"] == "disconnect").sum() >= INTERRUPTIONS_PER_GAME
