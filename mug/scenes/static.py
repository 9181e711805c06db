"""Static scenes: HTML pages with Continue controls; form inputs inside them are recorded."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from mug.scenes._options import (
    NOT_PROVIDED,
    check_identifier,
    check_str,
    fail,
    known_options,
    text_or_file,
)
from mug.scenes.scene import Scene


class StaticScene(Scene):
    """A page of HTML (header and body) with a Continue button.

    Every named ``<input>``, ``<select>`` and ``<textarea>`` in the body is recorded in the
    ``forms`` table when the participant continues; ``required`` inputs must be filled first.
    """

    scene_type: ClassVar[str] = "static"
    has_continue: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.scene_header: str | None = None
        self.scene_body: str = ""
        self.continue_label: str = "Continue"

    @known_options
    def display(
        self,
        scene_header: str | None = NOT_PROVIDED,
        scene_body: str = NOT_PROVIDED,
        scene_body_filepath: str = NOT_PROVIDED,
        continue_label: str = NOT_PROVIDED,
    ) -> StaticScene:
        """Set the page's header and HTML body (inline, or read from ``scene_body_filepath``)."""
        body = text_or_file(self, "display", "scene_body", scene_body, scene_body_filepath)
        if scene_header is not NOT_PROVIDED:
            self.scene_header = check_str(self, "display", "scene_header", scene_header, allow_none=True)
        if body is not NOT_PROVIDED:
            self.scene_body = body
        if continue_label is not NOT_PROVIDED:
            label = check_str(self, "display", "continue_label", continue_label)
            if not label:
                raise fail(self, "display", "continue_label", "must not be empty")
            self.continue_label = label
        return self

    def form_fields(self) -> list[str]:
        """Names of the form inputs found in the body (what the forms table will hold)."""
        return sorted(set(re.findall(r"<(?:input|select|textarea)\b[^>]*\bname=[\"']([^\"']+)[\"']", self.scene_body)))

    def client_spec(self) -> dict[str, Any]:
        return {
            **super().client_spec(),
            "header": self.scene_header,
            "body": self.scene_body,
            "continue": self.continue_label if self.has_continue else None,
        }


class StartScene(StaticScene):
    """The first scene of an experiment (welcome, consent)."""

    scene_type: ClassVar[str] = "start"


class EndScene(StaticScene):
    """The last scene: a thank-you page, optionally with a button that redirects the participant."""

    scene_type: ClassVar[str] = "end"
    has_continue: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self.redirect_url: str | None = None
        self.append_subject_id: bool = False
        self.redirect_param: str = "participant"

    @known_options
    def redirect(self, url: str, append_subject_id: bool = False, param_name: str = "participant") -> EndScene:
        """Send the participant to ``url`` (e.g. a recruitment platform) when they press Finish.

        ``url`` may hold placeholders filled in per participant: ``{participant_id}``, ``{code}`` (in a
        CompletionCodeScene: the code it shows) and ``{query.NAME}`` (a query parameter of their link);
        see docs/crowdsourcing.md. With ``append_subject_id`` the participant id is added as the query
        parameter ``param_name``.
        """
        from mug.scenes.redirects import redirect_problem

        problem = redirect_problem(url, code=isinstance(self, CompletionCodeScene))
        if problem:
            raise fail(self, "redirect", "url", problem)
        if not isinstance(append_subject_id, bool):
            raise fail(self, "redirect", "append_subject_id", f"must be True or False, got {append_subject_id!r}")
        self.redirect_url = url
        self.append_subject_id = append_subject_id
        self.redirect_param = check_identifier(self, "redirect", "param_name", param_name)
        return self

    def client_spec(self) -> dict[str, Any]:
        return {
            **super().client_spec(),
            "redirect_url": self.redirect_url,
            "append_subject_id": self.append_subject_id,
            "redirect_param": self.redirect_param,
        }


class CompletionCodeScene(EndScene):
    """An end scene that shows the participant a unique completion code (recorded with them)."""

    scene_type: ClassVar[str] = "completion_code"

    def __init__(self) -> None:
        super().__init__()
        self.scene_header = "Thank you!"
        self.scene_body = "<p>Your completion code is below. Copy it into the study page.</p>"
