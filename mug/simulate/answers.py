"""Valid answers to a scene's form, made the way the participant page would send them.

A static scene's form is the ``<input>``, ``<select>`` and ``<textarea>`` elements with a ``name``
in its HTML body; the page sends them as ``mug/client/src/dom.ts`` ``collectAnswers`` does (a single
checkbox as true/false, several with one name as the list of checked values, a radio group as the
checked value, ``<select multiple>`` as a list, anything else as its string value). A survey
scene's questions come in the scene's spec (``survey``) and are answered typed, as the survey page
sends them (a scale point as an int, a multiple choice as a list, an option or a text as a string).
Required fields are always answered; optional ones sometimes are left empty.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

__all__ = ["Answer", "FormField", "form_answers", "form_fields", "survey_answers"]

#: What an answer may be (the `advance` message's answer values).
Answer = str | int | float | bool | list[str] | None

#: The text a simulated participant types into a free-text field.
SIMULATED_TEXT = "simulated answer"


@dataclass
class FormField:
    """One named form element of a static scene's body."""

    name: str
    tag: str  # input, select or textarea
    type: str = "text"  # an input's type (lower case); "select" / "textarea" for the others
    required: bool = False
    value: str = ""  # the value attribute (or a textarea's text)
    multiple: bool = False
    options: list[str] = field(default_factory=list)  # a select's option values, in order
    attrs: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    """Collects the named form elements of an HTML fragment, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: list[FormField] = []
        self._select: FormField | None = None
        self._option: dict[str, str | None] | None = None
        self._option_text: list[str] = []
        self._textarea: FormField | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k.lower(): (v if v is not None else "") for k, v in attrs}
        if tag == "option" and self._select is not None:
            self._option, self._option_text = dict(found), []
            return
        if tag not in ("input", "select", "textarea") or not found.get("name"):
            return
        kind = found.get("type", "text").lower() if tag == "input" else tag
        item = FormField(
            name=found["name"],
            tag=tag,
            type=kind,
            required="required" in found,
            value=found.get("value", ""),
            multiple="multiple" in found,
            attrs=found,
        )
        self.fields.append(item)
        if tag == "select":
            self._select = item
        elif tag == "textarea":
            self._textarea = item

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self._option_text.append(data)
        elif self._textarea is not None:
            self._textarea.value += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "option":
            self._close_option()
        elif tag == "select":
            self._close_option()
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def _close_option(self) -> None:
        if self._option is not None and self._select is not None:
            value = self._option.get("value")
            text = "".join(self._option_text).strip()
            self._select.options.append(value if value is not None else text)
        self._option = None


def form_fields(body: str) -> list[FormField]:
    """The named form elements of a static scene's HTML body, in document order."""
    parser = _FormParser()
    parser.feed(body or "")
    parser.close()
    return parser.fields


def form_answers(body: str, rng: random.Random) -> dict[str, Answer]:
    """The answers a page would send for this HTML body, every required field filled validly."""
    fields = form_fields(body)
    answers: dict[str, Answer] = {}
    checkboxes: dict[str, list[FormField]] = {}
    radios: dict[str, list[FormField]] = {}
    for item in fields:
        if item.tag == "input" and item.type == "checkbox":
            checkboxes.setdefault(item.name, []).append(item)
        elif item.tag == "input" and item.type == "radio":
            radios.setdefault(item.name, []).append(item)
        elif item.tag == "input" and item.type in ("submit", "button", "reset", "image", "file"):
            answers[item.name] = item.value
        elif item.tag == "select":
            answers[item.name] = _select(item, rng)
        else:
            answers[item.name] = _text(item, rng)
    for name, group in radios.items():
        answers[name] = rng.choice(group).value or "on"
    for name, group in checkboxes.items():
        if len(group) == 1:
            answers[name] = True if group[0].required else rng.random() < 0.5
        else:
            checked = [c for c in group if c.required or rng.random() < 0.5]
            answers[name] = [c.value or "on" for c in checked]
    return answers


def _select(item: FormField, rng: random.Random) -> Answer:
    choices = [o for o in item.options if o != ""] or item.options
    if item.multiple:
        if not choices:
            return []
        count = rng.randint(1 if item.required else 0, len(choices))
        return sorted(rng.sample(choices, count), key=choices.index)
    if not choices:
        return ""
    return rng.choice(choices)


def _text(item: FormField, rng: random.Random) -> str:
    """A value for a text-like input or textarea, within its declared limits."""
    if item.type == "hidden":
        return item.value
    if not item.required and rng.random() < 0.3:
        return item.value
    kind = item.type
    if kind in ("number", "range"):
        low = _number(item.attrs.get("min"), 0.0)
        high = _number(item.attrs.get("max"), low + 10.0)
        step = _number(item.attrs.get("step"), 1.0) or 1.0
        count = max(0, int((high - low) // step))
        value = low + step * rng.randint(0, count)
        return str(int(value)) if float(value).is_integer() else str(value)
    fixed = {
        "email": "simulated@example.org",
        "url": "https://example.org/",
        "tel": "5550100",
        "date": "2026-01-01",
        "time": "12:00",
        "datetime-local": "2026-01-01T12:00",
        "month": "2026-01",
        "week": "2026-W01",
        "color": "#336699",
    }
    if kind in fixed:
        return fixed[kind]
    text = item.value or SIMULATED_TEXT
    minimum = int(_number(item.attrs.get("minlength"), 0))
    maximum = int(_number(item.attrs.get("maxlength"), 0))
    if minimum and len(text) < minimum:
        text = (text + " ") * (minimum // (len(text) + 1) + 1)
    if maximum:
        text = text[:maximum]
    return text


def _number(text: str | None, default: float) -> float:
    try:
        return float(text) if text not in (None, "") else default
    except ValueError:
        return default


def survey_answers(survey: list[dict[str, Any]], rng: random.Random) -> dict[str, Answer]:
    """Typed answers to a survey scene's questions (its spec's ``survey`` list), as its page sends them."""
    answers: dict[str, Answer] = {}
    for question in survey:
        kind, name = question.get("kind"), question.get("name")
        if kind == "heading" or not isinstance(name, str):
            continue
        required = bool(question.get("required"))
        skip = not required and rng.random() < 0.3
        if kind == "scale":
            answers[name] = None if skip else rng.randint(1, int(question["size"]))
        elif kind == "choice":
            choices = list(question.get("choices") or [])
            if skip or not choices:
                answers[name] = []
            elif question.get("multi"):
                picked = rng.sample(choices, rng.randint(1, len(choices)))
                answers[name] = sorted(picked, key=choices.index)
            else:
                answers[name] = [rng.choice(choices)]
        elif kind == "option":
            choices = list(question.get("choices") or [])
            answers[name] = None if skip or not choices else rng.choice(choices)
        else:  # text
            limit = int(question.get("max_length") or len(SIMULATED_TEXT))
            answers[name] = "" if skip else SIMULATED_TEXT[:limit]
    return answers
