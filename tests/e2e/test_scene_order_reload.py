"""A participant's randomized order of scenes in Chromium: a reload keeps it, and the data records it."""

from __future__ import annotations

from helpers import wait_for

from mug import EndScene, Experiment, RandomizeOrder, StartScene, StaticScene


def test_a_reload_keeps_the_participants_order_of_scenes(serve, participant) -> None:
    blocks = [StaticScene().scene(name).display(scene_header=f"Block {name}") for name in ("x", "y", "z")]
    exp = Experiment("order", [StartScene().scene("hello"), RandomizeOrder(blocks), EndScene().scene("bye")])
    server = serve(exp)
    page = participant(server.url + "?participant=robin")
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    page.get_by_test_id("continue").click()

    seen: list[str] = []
    for position in range(3):
        # The next block: a scene the page is ready in that is neither the start nor one seen before.
        scene = wait_for(page, "m.status === 'ready' && !['hello', ...arg].includes(m.sceneId) && m.sceneId", seen)
        # Reload in every block: the page comes back to the same block, not to a new draw.
        page.reload()
        wait_for(page, "m.status === 'ready' && m.sceneId", None)
        assert page.evaluate("window.mug.sceneId") == scene, f"position {position}"
        assert page.get_by_test_id("scene-header").inner_text() == f"Block {scene}"
        seen.append(str(scene))
        page.get_by_test_id("continue").click()
    wait_for(page, "m.sceneId === 'bye' && m.status === 'ended'")

    assert sorted(seen) == ["x", "y", "z"]
    results = exp.results()
    assert results.participants.iloc[0]["data.scene_order"] == ["hello", *seen, "bye"]
    visits = results.scene_visits
    assert list(visits["scene_id"]) == ["hello", *seen, "bye"]
    assert list(visits["reloads"])[1:4] == [1, 1, 1]  # each block's visit resumed, none added
