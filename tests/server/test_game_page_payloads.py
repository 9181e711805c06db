"""`content(game_page_html_fn=...)` in a P2P game, over the real protocol: each peer's game carries its
own text, called once per participant and game (a page that comes back gets the same text)."""

from __future__ import annotations

from test_p2p_signaling import Page, matched, p2p_scene

from mug import Experiment


def test_each_peer_of_a_p2p_game_gets_its_own_text_once(tmp_path) -> None:
    calls: list[tuple[str, str]] = []

    def page(participant_id: str, agent_id: str) -> str:
        calls.append((participant_id, agent_id))
        return f"<p>You play {agent_id}</p>"

    scene = p2p_scene(webrtc=False).content(in_game_scene_body="<p>Default</p>", game_page_html_fn=page)
    exp = Experiment("p2p-pages", [scene], data_dir=tmp_path)
    with exp.serve() as server:
        pages, games = matched(server, ["ann", "bob"])
        try:
            assert [g["page_html"] for g in games] == ["<p>You play p0</p>", "<p>You play p1</p>"]
            again = pages[0].call("start_game", {"scene_id": "duel"})["game"]  # a reloaded page's Start
            reloaded = Page(server, "bob")
            assert again["rejoin"] and again["page_html"] == "<p>You play p0</p>"
            assert reloaded.scene["game"]["page_html"] == "<p>You play p1</p>"
            assert reloaded.scene["in_game_body"] == "<p>Default</p>"  # (the scene's own text stays the same)
            reloaded.close()
        finally:
            for p in pages:
                p.close()
    assert sorted(calls) == [("ann", "p0"), ("bob", "p1")]
