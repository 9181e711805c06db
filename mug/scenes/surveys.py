"""Ready-made survey scenes: a text box, multiple choice, rating scales and option boxes.

Each is a `StaticScene` (so ``.scene()`` and ``.display()`` work as for any page) whose questions
the participant page builds itself from the scene's spec: question texts are shown as text, never
as HTML. The page will not continue while a required answer is missing and names it; the server
checks the answers again (`SurveyScene.clean_answers`) and stores them typed in ``forms``: scale
answers as ints, multiple-choice answers as lists of strings, option boxes and text as strings.

Upstream names and options are kept (``TextBox``, ``MultipleChoice``, ``ScalesAndTextBox``,
``OptionBoxesWithScalesAndTextBox``); see docs/scenes.md, Survey scenes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from mug.scenes._options import SceneConfigError
from mug.scenes.static import StaticScene

__all__ = [
    "AnswerError",
    "MultipleChoice",
    "OptionBoxesWithScalesAndTextBox",
    "ScalesAndTextBox",
    "SurveyScene",
    "TextBox",
]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
#: The longest answer a text box takes (characters); the page's box stops there too.
MAX_TEXT = 10_000


class AnswerError(ValueError):
    """A submitted survey answer is missing or not one the question allows (the message says which)."""


@dataclass(frozen=True)
class Question:
    """One question of a survey scene, as the page builds it and the server checks it."""

    name: str  # the forms column
    kind: str  # "text", "scale", "choice" or "option"
    prompt: str
    required: bool
    choices: tuple[str, ...] = ()  # choice: the choices; option: the option boxes
    multi: bool = False  # choice: several may be checked
    size: int = 0  # scale: points 1..size
    labels: tuple[str, ...] = ()  # scale: labels spread along the scale
    image: str | None = None  # choice: an image shown above it (a URL)

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": self.name, "kind": self.kind, "prompt": self.prompt, "required": self.required}
        if self.kind in ("choice", "option"):
            spec["choices"] = list(self.choices)
        if self.kind == "choice":
            spec["multi"] = self.multi
            spec["image"] = self.image
        if self.kind == "scale":
            spec["size"] = self.size
            spec["labels"] = list(self.labels)
        if self.kind == "text":
            spec["max_length"] = MAX_TEXT
        return spec

    def clean(self, value: Any) -> Any:
        """The answer as stored (typed), or AnswerError naming the question."""
        missing = value is None or value == "" or value == []
        if missing:
            if self.required:
                raise AnswerError(f"the answer to {self.prompt or self.name!r} ({self.name}) is required")
            return "" if self.kind == "text" else [] if self.kind == "choice" else None
        if self.kind == "text":
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                raise AnswerError(f"answer {self.name!r} must be a text of at most {MAX_TEXT} characters")
            return value
        if self.kind == "scale":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= self.size:
                raise AnswerError(f"answer {self.name!r} must be an int from 1 to {self.size}, got {value!r}")
            return value
        if self.kind == "option":
            if value not in self.choices:
                raise AnswerError(f"answer {self.name!r} must be one of the options, got {value!r}")
            return value
        if (
            not isinstance(value, list)
            or not all(isinstance(v, str) and v in self.choices for v in value)
            or len(set(value)) != len(value)
        ):
            raise AnswerError(f"answer {self.name!r} must be a list of its choices, got {value!r}")
        if not self.multi and len(value) > 1:
            raise AnswerError(f"answer {self.name!r} takes one choice, got {len(value)}")
        return [c for c in self.choices if c in value]  # (in the order the choices are shown)


@dataclass(frozen=True)
class Heading:
    """Text shown between questions (a survey's headers)."""

    text: str

    def spec(self) -> dict[str, Any]:
        return {"kind": "heading", "text": self.text}


class SurveyScene(StaticScene):
    """A page of questions with a Continue button; the base of the ready-made survey scenes."""

    scene_type: ClassVar[str] = "survey"

    def __init__(self) -> None:
        super().__init__()
        self.items: list[Question | Heading] = []

    @property
    def questions(self) -> list[Question]:
        """The questions, in the order they are shown."""
        return [item for item in self.items if isinstance(item, Question)]

    def form_fields(self) -> list[str]:
        return sorted({*super().form_fields(), *(q.name for q in self.questions)})

    def clean_answers(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """The answers as stored: every question's (typed), nothing else; AnswerError if one is refused."""
        return {q.name: q.clean(answers.get(q.name)) for q in self.questions}

    def client_spec(self) -> dict[str, Any]:
        return {**super().client_spec(), "survey": [item.spec() for item in self.items]}

    # -- building (shared by the scenes below) ----------------------------------------------

    def _fail(self, option: str, problem: str) -> SceneConfigError:
        return SceneConfigError(f"{type(self).__name__}(): option {option!r} {problem}")

    def _text(self, option: str, value: Any, *, allow_none: bool = True) -> str | None:
        if value is None and allow_none:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self._fail(option, f"must be a non-empty string{' or None' if allow_none else ''}, got {value!r}")
        return value

    def _flag(self, option: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self._fail(option, f"must be True or False, got {value!r}")
        return value

    def _strings(self, option: str, value: Any, *, minimum: int) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise self._fail(option, f"must be a list of strings, got {value!r}")
        if len(value) < minimum:
            raise self._fail(option, f"must have at least {minimum} entries, got {len(value)}")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise self._fail(option, f"must hold non-empty strings; entry {index} is {item!r}")
        if len(set(value)) != len(value):
            raise self._fail(option, f"must not repeat an entry, got {list(value)!r}")
        return tuple(value)

    def _named(self, option: str, value: Any, prefix: str) -> list[tuple[str, str]]:
        """Questions given as a list (named ``<prefix>_1``...) or a dict of column name -> question."""
        if isinstance(value, Mapping):
            for name in value:
                if not isinstance(name, str) or not _NAME.fullmatch(name):
                    raise self._fail(
                        option, f"keys name the forms columns: letters, digits, '_' (not first a digit); got {name!r}"
                    )
            pairs = list(value.items())
            if not pairs:
                raise self._fail(option, "must have at least 1 question")
            for name, text in pairs:
                self._text(f"{option}[{name!r}]", text, allow_none=False)
            return [(str(name), str(text)) for name, text in pairs]
        texts = self._strings(option, value, minimum=1)
        return [(f"{prefix}_{index}", text) for index, text in enumerate(texts, start=1)]

    def _scale_size(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 21:
            raise self._fail("scale_size", f"must be an int between 2 and 21, got {value!r}")
        return value

    def _scale_labels(self, value: Any, size: int) -> tuple[str, ...]:
        if value is None:
            return ()
        labels = self._strings("scale_labels", value, minimum=2)
        if len(labels) > size:
            raise self._fail(
                "scale_labels", f"has {len(labels)} labels for a {size}-point scale (at most one per point)"
            )
        return labels

    def _add_scales(
        self, questions: Any, size: Any, labels: Any, header: Any, required: bool, *, allow_empty: bool = False
    ) -> None:
        if allow_empty and questions in (None, [], (), {}):
            return
        points = self._scale_size(size)
        marks = self._scale_labels(labels, points)
        heading = self._text("pre_scale_header", header)
        if heading:
            self.items.append(Heading(heading))
        for name, text in self._named("scale_questions", questions, "scale"):
            self.items.append(Question(name, "scale", text, required, size=points, labels=marks))

    def _add_text_box(self, header: Any, required: bool) -> None:
        text = self._text("text_box_header", header)
        if text is not None:
            self.items.append(Question("text", "text", text, required))

    def _check_names(self) -> None:
        names = [q.name for q in self.questions]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise SceneConfigError(
                f"{type(self).__name__}(): two questions share the forms column {', '.join(map(repr, twice))}; "
                "name them apart"
            )
        if not names:
            raise SceneConfigError(f"{type(self).__name__}(): the scene has no question; give at least one")


class TextBox(SurveyScene):
    """One free-text question (recorded as the string column ``text``)."""

    def __init__(self, text_box_header: str = "Do you have any feedback?", required: bool = True) -> None:
        super().__init__()
        self._add_text_box(self._text("text_box_header", text_box_header, allow_none=False),
                           self._flag("required", required))  # fmt: skip
        self._check_names()


class MultipleChoice(SurveyScene):
    """Questions answered by checking choices; each answer is recorded as a list of the checked choices.

    Args:
        questions: the questions, as a list (columns ``choice_1``, ``choice_2``...) or a dict of
            column name -> question.
        choices: the choices of every question (a list of strings), or one list per question.
        multi_select: whether several choices may be checked (checkboxes) or one (radio buttons);
            the answer is a list either way, so each column has one type.
        images: an image URL (or None) per question, shown above it.
        pre_questions_header: text shown above the questions.
        required: every question needs an answer.
    """

    def __init__(
        self,
        questions: Sequence[str] | Mapping[str, str],
        choices: Sequence[str] | Sequence[Sequence[str]],
        multi_select: bool = False,
        images: Sequence[str | None] | None = None,
        pre_questions_header: str | None = None,
        required: bool = True,
    ) -> None:
        super().__init__()
        named = self._named("questions", questions, "choice")
        if isinstance(choices, Sequence) and choices and all(not isinstance(c, str) for c in choices):
            if len(choices) != len(named):
                raise self._fail(
                    "choices", f"has {len(choices)} lists for {len(named)} questions (one list per question)"
                )
            per_question = [self._strings(f"choices[{i}]", c, minimum=2) for i, c in enumerate(choices)]
        else:
            per_question = [self._strings("choices", choices, minimum=2)] * len(named)
        if images is not None:
            if isinstance(images, str) or not isinstance(images, Sequence) or len(images) != len(named):
                raise self._fail("images", f"must be a list with one image URL (or None) per question, got {images!r}")
            for index, url in enumerate(images):
                if url is not None and (not isinstance(url, str) or not url.strip()):
                    raise self._fail("images", f"entry {index} must be an image URL or None, got {url!r}")
        multi = self._flag("multi_select", multi_select)
        must = self._flag("required", required)
        heading = self._text("pre_questions_header", pre_questions_header)
        if heading:
            self.items.append(Heading(heading))
        for index, ((name, text), options) in enumerate(zip(named, per_question, strict=True)):
            image = images[index] if images is not None else None
            self.items.append(Question(name, "choice", text, must, choices=options, multi=multi, image=image))
        self._check_names()


class ScalesAndTextBox(SurveyScene):
    """Rating-scale (Likert) questions, then an optional free-text box.

    Each scale is a row of ``scale_size`` points; the answer is the point's number, 1 to
    ``scale_size`` (an int). ``scale_labels`` are shown along the scale: one per point, or
    anchors spread from the first point to the last (e.g. ``["Disagree", "Neutral", "Agree"]``).
    Without ``text_box_header`` there is no text box.
    """

    def __init__(
        self,
        scale_questions: Sequence[str] | Mapping[str, str],
        scale_size: int = 7,
        scale_labels: Sequence[str] | None = None,
        pre_scale_header: str | None = None,
        text_box_header: str | None = None,
        required: bool = True,
        text_box_required: bool = False,
    ) -> None:
        super().__init__()
        must = self._flag("required", required)
        self._add_scales(scale_questions, scale_size, scale_labels, pre_scale_header, must)
        self._add_text_box(text_box_header, self._flag("text_box_required", text_box_required))
        self._check_names()


class OptionBoxesWithScalesAndTextBox(SurveyScene):
    """One pick among option boxes (recorded as the string column ``option``), then scales and a text box.

    ``scale_questions`` and ``text_box_header`` may be left out for a scene of option boxes only.
    """

    def __init__(
        self,
        options: Sequence[str],
        option_box_header: str | None = None,
        scale_questions: Sequence[str] | Mapping[str, str] | None = None,
        scale_size: int = 7,
        scale_labels: Sequence[str] | None = None,
        pre_scale_header: str | None = None,
        text_box_header: str | None = None,
        required: bool = True,
        text_box_required: bool = False,
    ) -> None:
        super().__init__()
        boxes = self._strings("options", options, minimum=2)
        must = self._flag("required", required)
        header = self._text("option_box_header", option_box_header)
        self.items.append(Question("option", "option", header or "", must, choices=boxes))
        self._add_scales(scale_questions, scale_size, scale_labels, pre_scale_header, must, allow_empty=True)
        self._add_text_box(text_box_header, self._flag("text_box_required", text_box_required))
        self._check_names()
