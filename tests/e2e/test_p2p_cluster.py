"""A P2P game whose two Chromium peers are connected to different `mug serve` processes, played to its end.

tests/server/test_cluster_p2p.py checks the server side of cross-process P2P games
(`mug.server.cluster.p2p_links`) with python-socketio clients; this file checks what only real
browsers show: WebRTC offers, answers and ICE candidates crossing the two processes over Redis, a
DataChannel opening between two Chromium contexts, two Pyodide workers playing the game to its end,
and both peers' records in PostgreSQL once. The DataChannel goes through a coturn relay on
127.0.0.1 (relay-only ICE), as in tests/e2e/test_p2p.py: Chromium never offers loopback host
candidates, and tests send no traffic beyond loopback.

* The first test opens each page on its own process directly by port, so where each one is
  connected is certain.
* The second test puts both processes behind one nginx address, as participants see a
  deployment: a page keeps its session secret (localStorage) and its unsent records (IndexedDB)
  per origin, so a page that "reloads onto the other process" must keep its origin; two ports are
  two origins, and a page opened on the other port would be a new browser to MUG (refused as
  ``open_elsewhere``). nginx here routes by a cookie (``mug_backend``), so the test chooses each
  page's process (a sticky-session cookie is what an ordinary load balancer would use too), and
  moving a page to the other process is setting its cookie and reloading it.

Measured here (2 cores shared with other engineers' test runs, so noisy): the first test takes
25-43 s, the second 39-64 s; loading Pyodide in the two pages' workers at once took up to ~20 s
of that, starting the two servers ~3 s.

When Ann's page reloads from the game's process onto the other one, the game's process sometimes
hears of her old page's end only after her new page has attached from the other process (the old
websocket closed ~1.8 s before the game's process logged it). The second test found that; the
game's process now takes the attach itself as her old page leaving (`P2PGames.page_moved`), so Ben
is told she went and came back, and ``p2p_peer_away`` is stored, as on one server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cluster import Cluster, MugServer
from helpers import eventually, wait_for
from postgres import Postgres
from turn import Turn, running_turn

from mug import load_results

EXPERIMENT = """
from mug import CompletionCodeScene, Experiment, GymScene, StartScene

duel = (
    GymScene()
    .scene("duel")
    .runtime(env_code="from mug.env.examples import PaddlesEnv\\nenv = PaddlesEnv(points_to_win=99)\\n")
    .multiplayer(mode="p2p", input_delay=2, reconnect_grace_s=60)
    .webrtc(turn_url={turn_url!r}, turn_username={username!r}, turn_credential={credential!r}, force_relay=True)
    .policies(policy_mapping={{"left": "human", "right": "human"}})
    .rendering(fps=30, game_width=400, game_height=240)
    .gameplay(action_mapping={{"ArrowUp": 1, "ArrowDown": 2}}, default_action=0, num_episodes=1, max_steps={steps})
    .environment(seed=3)
)
experiment = Experiment("p2p-cluster", [StartScene().scene("hello"), duel, CompletionCodeScene().scene("end")])
"""

#: nginx in front of the two processes, the process chosen by the page's ``mug_backend`` cookie
#: (``one`` by default, ``two``); each request's cookie and backend are logged (``route``, ``upstream``).
ROUTED_SITE = """\
map $http_upgrade $connection_upgrade {{
    default upgrade;
    ''      close;
}}

map $cookie_mug_backend $mug_backend {{
    default one;
    two     two;
}}

upstream one {{
    server 127.0.0.1:{one};
}}

upstream two {{
    server 127.0.0.1:{two};
}}

log_format mug_route escape=json '{{"uri":"$request_uri","status":"$status","upstream":"$upstream_addr",'
                                 '"route":"$cookie_mug_backend","request_time":"$request_time","msec":"$msec"}}';

server {{
    listen 127.0.0.1:{port};
    access_log access.log mug_route;

    location / {{
        proxy_pass http://$mug_backend;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header Host $http_host;
        proxy_read_timeout 1h;
        proxy_send_timeout 1h;
    }}
}}
"""


@pytest.fixture
def turn(tmp_path: Path) -> Iterator[Turn]:
    with running_turn(tmp_path / "turn") as relay:
        yield relay


@pytest.fixture
def contexts(browser: Any) -> Iterator[list[Any]]:
    """The test's browser contexts (one per participant), closed after the test, also when it fails."""
    opened: list[Any] = []
    yield opened
    for context in opened:
        with contextlib.suppress(Exception):
            context.close()


def start_cluster(tmp_path: Path, cluster: Cluster, turn: Turn, database: str, steps: int) -> list[MugServer]:
    """Redis and two `mug serve --redis --database` processes of the P2P experiment (one data folder)."""
    path = tmp_path / "experiment.py"
    path.write_text(EXPERIMENT.format(turn_url=turn.url, username=turn.username, credential=turn.credential,
                                      steps=steps))  # fmt: skip
    args = ["--redis", cluster.redis().url, "--database", database]
    return cluster.servers(f"{path}:experiment", 2, extra_args=args, separate_data=False)


def open_page(browser: Any, contexts: list[Any], url: str, backend: str | None = None) -> Any:
    """A participant's own browser (context) on `url`; `backend`: its routing cookie behind nginx."""
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    contexts.append(context)
    if backend is not None:
        context.add_cookies([{"name": "mug_backend", "value": backend, "url": url}])
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(url)
    return page


def into_one_game(pages: list[Any]) -> str:
    """Both pages through the start scene and into the game's waitroom, then one P2P game: its id.

    The first page is in the waitroom before the second presses start, so its process runs the
    waitroom (and, with one peer on each process, keeps the game).
    """
    for page in pages:
        wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
        page.get_by_test_id("continue").click()
        wait_for(page, "m.sceneId === 'duel' && m.status === 'waiting_start'", timeout=60_000)
    pages[0].get_by_test_id("start-game").click()
    wait_for(pages[0], "m.status === 'waitroom'")
    pages[1].get_by_test_id("start-game").click()
    for page in pages:  # (Pyodide loads in each page's worker)
        wait_for(page, "m.p2p && m.status === 'running'", timeout=90_000)
    game_ids = {page.evaluate("window.mug.p2p.gameId") for page in pages}
    assert len(game_ids) == 1, game_ids  # matched across the processes into ONE game
    return game_ids.pop()


def wait_for_datachannel(pages: list[Any], timeout: float = 20_000) -> None:
    """Each page's link to the other is a DataChannel through the TURN relay (not the server relay)."""
    for page in pages:
        other = 1 - page.evaluate("window.mug.p2p.peer")
        wait_for(page, f"m.p2p.transports[{other}] === 'turn'", timeout=timeout)
        assert page.evaluate(f"window.mug.p2p.candidateTypes[{other}]") == "relay"


def refused_records(servers: list[MugServer]) -> list[str]:
    """The pages' records the servers refused (``mug.server.sessions.refusals`` logs each): a refused record
    may be a lost one. (A closing page's packet that reaches its server after its disconnect is
    refused too, as "EVENT before CONNECT": not counted here.)"""
    lines = [line for s in servers for line in s.log.read_text().splitlines()]
    return [line for line in lines if "sessions.refusals" in line and "'client_records'" in line]


def hosts(database: str) -> list[str]:
    with psycopg.connect(database) as conn:
        return [row[0] for row in conn.execute("SELECT host FROM games ORDER BY started_at")]


def assert_one_completed_game(database: str, game_id: str, steps: int) -> Any:
    """The store holds one completed P2P game, both participants completed, every step once (per
    peer and canonically), both peers' records identical; returns the results."""
    results = load_results(database, peer_rows=True)
    games = results.games
    assert list(games["game_id"]) == [game_id]
    assert list(games["outcome"]) == ["completed"] and list(games["mode"]) == ["client_p2p"]
    people = results.participants.set_index("participant_id")
    assert list(people.loc[["ann", "ben"], "status"]) == ["completed", "completed"]
    assert list(results.episodes["parity"]) == ["match"]
    canonical = results.steps
    assert list(canonical.sort_values("step")["step"]) == list(range(1, steps + 1))  # each once, none missing
    peer_steps = results.peer_steps
    recorded = ("action.", "reward.", "terminated", "truncated")
    columns = [c for c in peer_steps.columns if c.startswith(recorded)]
    by_peer = {
        pid: rows.sort_values(["episode", "step"])[["episode", "step", *columns]].reset_index(drop=True)
        for pid, rows in peer_steps.groupby("participant_id")
    }
    assert sorted(by_peer) == ["ann", "ben"]
    assert list(by_peer["ann"]["step"]) == list(range(1, steps + 1))
    assert by_peer["ben"].astype(str).equals(by_peer["ann"].astype(str))
    return results


def test_peers_on_two_processes_open_a_datachannel_and_play_one_game_to_its_end(
    tmp_path: Path, postgres_server: Postgres, turn: Turn, browser: Any, contexts: list[Any]
) -> None:
    database = postgres_server.create_database()
    steps = 150
    with Cluster(tmp_path / "cluster") as cluster:
        one, two = start_cluster(tmp_path, cluster, turn, database, steps)
        ann = open_page(browser, contexts, f"{one.url}?participant=ann")
        ben = open_page(browser, contexts, f"{two.url}?participant=ben")
        pages = [ann, ben]
        game_id = into_one_game(pages)
        # The offer, answer and candidates crossed the processes: a DataChannel through the relay.
        wait_for_datachannel(pages)

        ann.keyboard.down("ArrowUp")
        ben.keyboard.down("ArrowDown")
        wait_for(ann, "m.p2p.confirmedFrame >= 30")
        ann.keyboard.up("ArrowUp")
        ben.keyboard.up("ArrowDown")
        for page in pages:  # mid-game, the inputs still go over the DataChannel, not the server relay
            assert page.evaluate("Object.values(window.mug.p2p.transports)") == ["turn"]
        for page in pages:
            wait_for(page, "m.sceneType === 'completion_code' && m.status === 'ended'", timeout=60_000)
            assert page.evaluate("window.mug.errors") == []

        eventually(lambda: list(load_results(database).games["outcome"]) == ["completed"], timeout=20)
        results = assert_one_completed_game(database, game_id, steps)
        assert hosts(database) == [one.server_id()]  # the waitroom's process kept the game
        actions = results.steps
        assert (actions["action.left"] == 1).any() and (actions["action.right"] == 2).any()  # both peers' keys
        events = results.events
        changes = events[events["kind"] == "p2p_transport"]
        assert set(changes["data.transport"]) >= {"turn"}, changes[["participant_id", "data.transport"]]
        assert not events["kind"].isin(["runtime_error", "env_error", "p2p_desync"]).any()
        assert refused_records([one, two]) == []


def reload_onto(page: Any, lb_url: str, backend: str) -> None:
    """The participant's browser is sent to the other process (its routing cookie) and the page
    reloads there: same origin, so the same session secret and outbox."""
    page.context.add_cookies([{"name": "mug_backend", "value": backend, "url": lb_url}])
    page.reload()


def served(lb: Any, participant: str) -> list[str]:
    """The backends (host:port) that served `participant`'s page loads through nginx, in order."""
    return [r["upstream"] for r in lb.access_log() if r["uri"] == f"/?participant={participant}"]


def test_pages_reloaded_onto_the_other_process_mid_game_play_on_to_the_end(
    tmp_path: Path, postgres_server: Postgres, turn: Turn, browser: Any, contexts: list[Any]
) -> None:
    """Ben's page moves from the process keeping a stand-in to the one keeping the game, then Ann's
    from the game's process to the other: the game goes on each time, over a new DataChannel."""
    database = postgres_server.create_database()
    steps = 450
    with Cluster(tmp_path / "cluster") as cluster:
        one, two = start_cluster(tmp_path, cluster, turn, database, steps)
        lb = cluster.load_balancer(
            [one.port, two.port], site=lambda port: ROUTED_SITE.format(port=port, one=one.port, two=two.port)
        )
        at_one, at_two = f"127.0.0.1:{one.port}", f"127.0.0.1:{two.port}"
        ann = open_page(browser, contexts, f"{lb.url}?participant=ann", backend="one")
        ben = open_page(browser, contexts, f"{lb.url}?participant=ben", backend="two")
        pages = [ann, ben]
        game_id = into_one_game(pages)
        wait_for_datachannel(pages)
        assert (served(lb, "ann"), served(lb, "ben")) == ([at_one], [at_two])
        peer = {name: page.evaluate("window.mug.p2p.peer") for name, page in (("ann", ann), ("ben", ben))}

        ben.keyboard.down("ArrowUp")
        wait_for(ben, "m.p2p.confirmedFrame >= 60")
        reload_onto(ben, lb.url, "one")
        wait_for(ann, "m.p2p.peerLeft.length >= 1")
        wait_for(ben, "m.sceneId === 'duel' && m.p2p && m.status === 'running'", timeout=90_000)
        assert ben.evaluate("window.mug.p2p.gameId") == game_id and ben.evaluate("window.mug.p2p.peer") == peer["ben"]
        wait_for(ann, "m.p2p.peerBack.includes(arg)", peer["ben"])
        wait_for_datachannel(pages)  # a new offer and answer, now both pages on the game's process
        assert served(lb, "ben") == [at_two, at_one]

        ben.keyboard.down("ArrowUp")
        wait_for(ben, "m.p2p.confirmedFrame >= 180", timeout=60_000)
        reload_onto(ann, lb.url, "two")  # the game's process now has no page of its own
        # (Ben's page is told Ann's went only if the game's process hears of the old page's end
        # before her new page attaches from process two: checked at the end, see the report there.)
        wait_for(ann, "m.sceneId === 'duel' && m.p2p && m.status === 'running'", timeout=90_000)
        assert ann.evaluate("window.mug.p2p.gameId") == game_id and ann.evaluate("window.mug.p2p.peer") == peer["ann"]
        wait_for(ben, "m.p2p.peerBack.includes(arg)", peer["ann"])
        wait_for_datachannel(pages)
        assert served(lb, "ann") == [at_one, at_two]

        for page in pages:
            wait_for(page, "m.sceneType === 'completion_code' && m.status === 'ended'", timeout=90_000)
        ben.keyboard.up("ArrowUp")

        eventually(lambda: list(load_results(database).games["outcome"]) == ["completed"], timeout=20)
        results = assert_one_completed_game(database, game_id, steps)
        assert hosts(database) == [one.server_id()]  # the game stayed with the process that started it
        events = results.events
        rejoined = events[(events["kind"] == "p2p_peer") & (events["data.change"] == "rejoined")]
        assert list(rejoined["participant_id"]) == ["ben", "ann"]
        moved = set(results.steps["action.right" if peer["ben"] == 1 else "action.left"].astype(int))
        assert 1 in moved  # ben's held key reached the game
        assert not events["kind"].isin(["runtime_error", "env_error", "p2p_desync"]).any()
        assert refused_records([one, two]) == []
        # Each reload is a page that went away and came back, as on one server: the partner's page
        # was told both times, and the store records both absences.
        assert ann.evaluate("window.mug.p2p.peerLeft") == []  # (Ann's page since her reload)
        assert ben.evaluate("window.mug.p2p.peerLeft") == [{"peer": peer["ann"], "final": False}], (
            "Ben's page (on the game's process) was never told Ann's page went: her old page's end reached "
            "the game's process after her new page had attached from the other process"
        )
        away = events[events["kind"] == "p2p_peer_away"]
        assert list(away["participant_id"]) == ["ben", "ann"], list(away["participant_id"])
