"""A participant goes through the whole demo with the keyboard; the data comes back as DataFrames."""

from __future__ import annotations

from helpers import hold_key_for_steps, wait_for

from mug.demo import make_demo_experiment


def test_participant_completes_the_demo_with_the_keyboard(serve, participant) -> None:
    exp = make_demo_experiment(fps=30, max_drops=3)
    server = serve(exp)
    page = participant(server.url + "?participant=alice")

    # Consent: Continue stays disabled until the required box is ticked.
    wait_for(page, "m.sceneId === 'consent' && m.status === 'ready'")
    assert page.get_by_test_id("continue").is_disabled()
    page.get_by_test_id("consent").check()
    page.get_by_test_id("continue").click()

    wait_for(page, "m.sceneId === 'instructions' && m.status === 'ready'")
    page.keyboard.press("Tab")  # keyboard navigation reaches the Continue button
    page.get_by_test_id("continue").press("Enter")

    wait_for(page, "m.sceneId === 'catch' && m.status === 'waiting_start'")
    page.get_by_test_id("start-game").press("Enter")
    wait_for(page, "m.status === 'running' && m.episode === 1 && m.render.framesApplied > 0")
    left = hold_key_for_steps(page, "ArrowLeft", 8)
    right = hold_key_for_steps(page, "ArrowRight", 8)
    assert page.get_by_test_id("hud").inner_text().startswith("Round 1 of 2")

    # Episode 2 starts after the reset freeze; the game then hands over to the feedback form.
    wait_for(page, "m.episode === 2 && m.status === 'running'", timeout=60_000)
    wait_for(page, "m.sceneId === 'feedback' && m.status === 'ready'", timeout=60_000)
    page.get_by_test_id("difficulty").select_option("just right")
    page.get_by_test_id("comments").fill("fun")
    page.get_by_test_id("continue").click()

    wait_for(page, "m.sceneId === 'end' && m.status === 'ended'")
    code = page.get_by_test_id("completion-code").inner_text()
    assert len(code) == 10

    results = exp.results()
    steps = results.steps
    assert set(steps["participant_id"]) == {"alice"}
    # One row per step: each episode's steps are 1..n with no gap or duplicate.
    for _, episode in steps.groupby("episode"):
        assert list(episode["step"]) == list(range(1, len(episode) + 1))
    assert sorted(steps["episode"].unique()) == [1, 2]
    episodes = results.episodes
    assert list(episodes["num_steps"]) == [len(g) for _, g in steps.groupby("episode")]

    # The recorded actions are those of the keys held: from the step the press reached the server
    # (a tick or two after the step the page showed; more when the machine is busy) to the release.
    ep1 = steps[steps["episode"] == 1].set_index("step")
    for (pressed, released), action in ((left, 1), (right, 2)):
        held = list(ep1.loc[pressed:released, "action"])
        arrived = held.index(action)
        assert arrived <= 6 and set(held[arrived:]) == {action}, held
    assert 0 in set(steps["action"])  # no key held → the default action

    forms = results.forms.set_index("scene_id")
    assert forms.loc["feedback", "difficulty"] == "just right"
    assert forms.loc["feedback", "comments"] == "fun"
    assert bool(forms.loc["consent", "consent"]) is True

    people = results.participants.set_index("participant_id")
    assert people.loc["alice", "status"] == "completed"
    assert people.loc["alice", "completion_code"] == code
    visited = list(results.scene_visits.sort_values("entered_at")["scene_id"])
    assert visited == ["consent", "instructions", "catch", "feedback", "end"]
