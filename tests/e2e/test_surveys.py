"""Survey scenes in Chromium: each refuses a missing required answer and names it; answers are stored typed."""

from __future__ import annotations

from helpers import wait_for
from playwright.sync_api import expect

from mug import (
    EndScene,
    Experiment,
    MultipleChoice,
    OptionBoxesWithScalesAndTextBox,
    ScalesAndTextBox,
    StartScene,
    TextBox,
)

MARKUP = '<img src=x onerror="window.injected=1"><b>bold</b>'


def survey_experiment() -> Experiment:
    return Experiment(
        "surveys",
        [
            StartScene().scene("hello"),
            TextBox(text_box_header="What did you think of <i>the game</i>?").scene("feedback"),
            MultipleChoice(
                questions={"colors": "Which colours did you see?", "shape": "Which shape was it?"},
                choices=[["red", "green", "blue"], ["circle", "square"]],
                multi_select=True,
                pre_questions_header="About the game",
            ).scene("choices"),
            ScalesAndTextBox(
                scale_questions=["The game was fun.", "The controls were easy."],
                scale_size=5,
                scale_labels=["Disagree", "Neutral", "Agree"],
                text_box_header="Anything else?",
            ).scene("scales"),
            OptionBoxesWithScalesAndTextBox(
                options=["Partner A", "Partner B"],
                option_box_header="Which partner did you prefer?",
                scale_questions={"trust": "I trusted my partner."},
                scale_size=7,
                text_box_header="Why?",
                text_box_required=True,
            ).scene("partners"),
            EndScene().scene("bye"),
        ],
    )


def at(page, scene_id: str) -> None:
    wait_for(page, "m.sceneId === arg && m.status === 'ready'", scene_id)


def refused(page, scene_id: str, *missing: str) -> None:
    """Continue with answers missing: the page stays in the scene and names every missing answer."""
    page.get_by_test_id("continue").click()
    error = page.get_by_test_id("continue-error")
    for prompt in missing:
        expect(error).to_contain_text(prompt)
    assert page.evaluate("window.mug.sceneId") == scene_id
    assert page.evaluate("window.mug.status") == "ready"


def test_each_survey_scene_refuses_a_missing_answer_and_records_typed_answers(serve, participant) -> None:
    exp = survey_experiment()
    server = serve(exp)
    page = participant(server.url + "?participant=sam")
    at(page, "hello")
    page.get_by_test_id("continue").click()

    # TextBox: the question is shown as text (its markup is not parsed); blank text is no answer.
    at(page, "feedback")
    expect(page.get_by_test_id("question-text")).to_contain_text("What did you think of <i>the game</i>?")
    page.locator("textarea[name=text]").fill("   ")
    refused(page, "feedback", "What did you think of <i>the game</i>?")
    page.locator("textarea[name=text]").fill(MARKUP)
    page.get_by_test_id("continue").click()

    # MultipleChoice: both questions named; once one is answered, only the other.
    at(page, "choices")
    refused(page, "choices", "Which colours did you see?", "Which shape was it?")
    page.get_by_test_id("question-colors").get_by_label("red").check()
    page.get_by_test_id("question-colors").get_by_label("blue").check()
    refused(page, "choices", "Which shape was it?")
    expect(page.get_by_test_id("continue-error")).not_to_contain_text("colours")
    page.get_by_test_id("question-shape").get_by_label("square").check()
    page.get_by_test_id("continue").click()

    # ScalesAndTextBox: the text box is optional, the scales are not.
    at(page, "scales")
    page.get_by_test_id("question-scale_1").get_by_label("4").check()
    refused(page, "scales", "The controls were easy.")
    page.get_by_test_id("question-scale_2").get_by_label("5").check()
    page.get_by_test_id("continue").click()

    # OptionBoxesWithScalesAndTextBox: option, scale and (required here) text.
    at(page, "partners")
    refused(page, "partners", "Which partner did you prefer?", "I trusted my partner.", "Why?")
    page.get_by_text("Partner B").click()
    page.get_by_test_id("question-trust").get_by_label("6").check()
    refused(page, "partners", "Why?")
    page.locator("textarea[name=text]").fill("steady")
    page.get_by_test_id("continue").click()

    wait_for(page, "m.sceneId === 'bye' && m.status === 'ended'")
    assert page.evaluate("window.injected") is None  # the participant's text was never HTML

    forms = exp.results().forms.set_index("scene_id")
    assert forms.loc["feedback", "text"] == MARKUP
    assert forms.loc["choices", "colors"] == ["red", "blue"] and forms.loc["choices", "shape"] == ["square"]
    scales = forms.loc["scales"]
    assert (scales["scale_1"], scales["scale_2"]) == (4, 5) and scales["text"] == ""
    assert forms["scale_1"].dtype == "Int64" and forms["trust"].dtype == "Int64"  # ints, not floats beside NaN
    partners = forms.loc["partners"]
    assert (partners["option"], partners["trust"], partners["text"]) == ("Partner B", 6, "steady")
