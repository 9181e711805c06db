"""Survey scenes: every bad option is refused at definition, naming it; answers are checked and typed."""

from __future__ import annotations

import pytest

from mug import MultipleChoice, OptionBoxesWithScalesAndTextBox, ScalesAndTextBox, SceneConfigError, TextBox
from mug.scenes.surveys import AnswerError


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: TextBox(text_box_header=""), "TextBox(): option 'text_box_header' must be a non-empty string"),
        (lambda: TextBox(required="no"), "TextBox(): option 'required' must be True or False"),
        (lambda: MultipleChoice(questions="Q?", choices=["a", "b"]), "option 'questions' must be a list of strings"),
        (lambda: MultipleChoice(questions=["Q?"], choices=["a"]), "option 'choices' must have at least 2 entries"),
        (lambda: MultipleChoice(questions=["Q?"], choices=["a", "a"]), "option 'choices' must not repeat an entry"),
        (lambda: MultipleChoice(questions=["Q1", "Q2"], choices=[["a", "b"]]), "has 1 lists for 2 questions"),
        (lambda: MultipleChoice(questions=["Q?"], choices=["a", "b"], images=[]), "option 'images' must be a list"),
        (lambda: MultipleChoice(questions={"1st": "Q?"}, choices=["a", "b"]), "keys name the forms columns"),
        (lambda: ScalesAndTextBox(scale_questions=["Fun?"], scale_size=1), "'scale_size' must be an int between 2"),
        (
            lambda: ScalesAndTextBox(scale_questions=["Fun?"], scale_size=3, scale_labels=list("abcd")),
            "has 4 labels for a 3-point scale",
        ),
        (lambda: ScalesAndTextBox(scale_questions=[]), "must have at least 1 entries"),
        (
            lambda: ScalesAndTextBox(scale_questions={"text": "Fun?"}, text_box_header="More?"),
            "two questions share the forms column 'text'",
        ),
        (lambda: OptionBoxesWithScalesAndTextBox(options=["only"]), "'options' must have at least 2 entries"),
    ],
)
def test_bad_survey_options_are_refused_when_defined(make, message) -> None:
    with pytest.raises(SceneConfigError) as err:
        make()
    assert message in str(err.value)


def test_survey_answers_are_checked_and_typed_by_the_scene() -> None:
    scene = OptionBoxesWithScalesAndTextBox(
        options=["A", "B"], option_box_header="Which?", scale_questions=["Fun?"], scale_size=5, text_box_header="Why?"
    )
    assert scene.form_fields() == ["option", "scale_1", "text"]
    assert scene.clean_answers({"option": "B", "scale_1": 5, "text": "x", "extra": 1}) == {
        "option": "B", "scale_1": 5, "text": "x"
    }  # fmt: skip
    assert scene.clean_answers({"option": "A", "scale_1": 1}) == {"option": "A", "scale_1": 1, "text": ""}
    for bad, problem in (
        ({"scale_1": 3}, "the answer to 'Which?' (option) is required"),
        ({"option": "C", "scale_1": 3}, "must be one of the options"),
        ({"option": "A", "scale_1": 6}, "must be an int from 1 to 5"),
        ({"option": "A", "scale_1": "3"}, "must be an int from 1 to 5"),
        ({"option": "A", "scale_1": True}, "must be an int from 1 to 5"),
    ):
        with pytest.raises(AnswerError) as err:
            scene.clean_answers(bad)
        assert problem in str(err.value)
    choice = MultipleChoice(questions=["Q?"], choices=["a", "b", "c"])
    assert choice.clean_answers({"choice_1": ["b"]}) == {"choice_1": ["b"]}
    with pytest.raises(AnswerError, match="takes one choice"):
        choice.clean_answers({"choice_1": ["a", "b"]})
    many = MultipleChoice(questions=["Q?"], choices=["a", "b", "c"], multi_select=True, required=False)
    assert many.clean_answers({"choice_1": ["c", "a"]}) == {"choice_1": ["a", "c"]}
    assert many.clean_answers({}) == {"choice_1": []}
