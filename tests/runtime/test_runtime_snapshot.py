"""Pyodide memory snapshots in headless Chromium: the first load of an origin makes one and stores it
(IndexedDB), the next load starts Pyodide from it and plays exactly as a plain start does; a stale,
damaged or unrestorable snapshot, or none, falls back to a plain start (which stores a new one).

The snapshot API is private to Pyodide (docs/runtime.md): if a Pyodide upgrade changes it, the
second load below is no longer "loaded" and these tests fail instead of warm starts getting slow.
Real parts only: the client build's worker and Pyodide, served by the MUG server's static routes
(runtime_site.py); every request leaving that server is aborted and fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from runtime_site import SiteServer, build_site, check_build, game_spec, guard_network

# CatchEnv whose step infos carry a number drawn from Python's unseeded `random` when the env code
# ran: two loads from the same snapshot must not draw the same one (the worker reseeds `random`).
DRAW_CODE = """
import random

from mug.env.examples import CatchEnv

DRAWN = random.random()


class Drawing(CatchEnv):
    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated, truncated, dict(info, drawn=DRAWN)


env = Drawing(render_mode="mug")
"""

SNAPSHOT = "window.mugRuntimeHarness.loadInfo().snapshot"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[dict[str, Any]]:
    check_build()  # a missing build fails the fixture with the command to run
    server = SiteServer(build_site(tmp_path_factory.mktemp("snapshot_site")))
    url = server.start()
    try:
        # As the MUG page does: Pyodide under static/v/<build>/ (the snapshot's key names it).
        yield {"url": url, "page": f"{url}?v={server.version}", "version": server.version}
    finally:
        server.stop()


@pytest.fixture
def context(browser, site) -> Iterator[Any]:
    """A browser context (its own IndexedDB, kept across its pages) whose requests stay on the site."""
    context = browser.new_context()
    outside = guard_network(context, site["url"])
    yield context
    context.close()
    assert not outside, f"the page tried to reach the network: {outside}"


def open_runtime(context: Any, url: str) -> tuple[Any, dict[str, Any]]:
    """A new page of the context with a preloaded runtime, and how its preload went."""
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_function("window.mugRuntimeHarness && window.mugRuntimeHarness.ready")
    page.evaluate("window.mugRuntimeHarness.preload()")
    assert not errors, errors
    return page, page.evaluate(SNAPSHOT)


def wait_saved(page: Any) -> dict[str, Any]:
    """Wait until the page's snapshot is stored (or failed to be); its final state."""
    page.wait_for_function(f"{SNAPSHOT}.save !== 'pending'")
    return page.evaluate(SNAPSHOT)


def play(page: Any, code: str = DRAW_CODE) -> dict[str, Any]:
    # The human holds the default action: an unpaced game is then a function of the seed alone.
    spec = game_spec(envCode=code, numEpisodes=2, maxSteps=40, seed=11, pace="unpaced")
    log = page.evaluate("(s) => window.mugRuntimeHarness.run(s)", spec)
    assert log["result"] == "done", log["errors"]
    return log


def trajectory(log: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """Records (without wall-clock times and the drawn number) and frames of a game."""
    records = []
    for record in log["records"]:
        payload = {k: v for k, v in record["payload"].items() if k not in ("t", "started_at", "ended_at")}
        if record["kind"] == "step":
            payload["infos"] = {a: {k: v for k, v in i.items() if k != "drawn"} for a, i in payload["infos"].items()}
        records.append((record["kind"], payload))
    return records, log["frames"]


def drawn(log: dict[str, Any]) -> float:
    step = next(r["payload"] for r in log["records"] if r["kind"] == "step")
    return step["infos"]["player"]["drawn"]


def test_a_second_load_starts_from_the_snapshot_and_plays_like_a_plain_start(context, site) -> None:
    first, info = open_runtime(context, site["page"])
    assert info["loaded"] is False and info["reason"] == "none stored"
    assert info["save"] in ("pending", "saved")  # no game waiting: stored after an idle second
    assert wait_saved(first) == {"loaded": False, "reason": "none stored", "save": "saved", "saveError": None}
    stored = first.evaluate("window.mugRuntimeHarness.snapshot.stored()")
    assert stored["intact"] and stored["size"] > 10_000_000
    assert "pyodide 0.29.5" in stored["key"] and f"static/v/{site['version']}/vendor/pyodide/" in stored["key"]
    plain = play(first)
    first.close()

    second, info = open_runtime(context, site["page"])
    assert info == {"loaded": True, "reason": None, "save": "none", "saveError": None}
    marks = second.evaluate("window.mugRuntimeHarness.preloadMarks()")
    print(f"\n[snapshot] loadPyodide from the snapshot: {marks['pyodideStarted'] - marks['pyodideImported']:.0f} ms")
    restored = play(second)
    assert trajectory(restored) == trajectory(plain)
    second.close()

    third, info = open_runtime(context, site["page"])
    assert info["loaded"] is True
    again = play(third)
    assert trajectory(again) == trajectory(plain)
    # Python's `random` is reseeded after a restore: two loads from one snapshot draw differently.
    assert len({drawn(plain), drawn(restored), drawn(again)}) == 3


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        ("stale", "stale (made for format 0; "),
        ("damaged", "damaged (checksum mismatch)"),
        ("other-build", "could not be restored: Snapshot build id mismatch"),
        ("delete", "none stored"),
    ],
)
def test_a_spoiled_snapshot_falls_back_to_a_plain_start_and_is_replaced(context, site, spoil, reason) -> None:
    first, _ = open_runtime(context, site["page"])
    assert wait_saved(first)["save"] == "saved"
    first.evaluate("(how) => window.mugRuntimeHarness.snapshot.spoil(how)", spoil)
    first.close()

    second, info = open_runtime(context, site["page"])
    assert info["loaded"] is False
    assert info["reason"].startswith(reason), info["reason"]
    play(second)  # a plain start plays (the first frame also triggers storing the new snapshot)
    assert wait_saved(second)["save"] == "saved"
    assert second.evaluate("window.mugRuntimeHarness.snapshot.stored()")["intact"]
    second.close()

    third, info = open_runtime(context, site["page"])
    assert info["loaded"] is True, info
    play(third)


def test_a_snapshot_that_restores_but_breaks_the_runtime_is_replaced_by_a_plain_start(context, site) -> None:
    # Intact and for the right key, but the interpreter it restores cannot import anything.
    planter = context.new_page()
    planter.set_default_timeout(30_000)
    planter.goto(f"{site['page']}&snapshot=0")  # this page's own worker stores nothing
    planter.wait_for_function("window.mugRuntimeHarness && window.mugRuntimeHarness.ready")
    planter.evaluate("window.mugRuntimeHarness.snapshot.plant('import sys\\nsys.path.clear()')")
    planter.close()

    page, info = open_runtime(context, site["page"])
    assert info["loaded"] is False
    assert info["reason"].startswith("the runtime failed to load after restoring it: "), info["reason"]
    play(page)
    assert wait_saved(page)["save"] == "saved"
    page.close()

    again, info = open_runtime(context, site["page"])
    assert info["loaded"] is True, info
    play(again)


def test_memory_snapshots_can_be_turned_off(context, site) -> None:
    page, info = open_runtime(context, f"{site['page']}&snapshot=0")
    assert info == {"loaded": False, "reason": "disabled", "save": "none", "saveError": None}
    play(page)
    assert page.evaluate("window.mugRuntimeHarness.snapshot.stored()") is None
