"""Redirect URL templates: where a participant is sent when their study ends, with what they carry.

Recruitment platforms want something back in the URL a participant returns with: Prolific a
study's completion code (`?cc=...`), SONA the participant's survey code, MTurk the worker's
assignment. A redirect URL (``EndScene.redirect``, ``waitroom(timeout_redirect_url=...)``) may hold
placeholders that the server fills in for each participant (each value URL-encoded):

* ``{participant_id}`` — the participant's id;
* ``{code}`` — the completion code recorded with them (scenes that show one, and early endings);
* ``{query.NAME}`` — the query parameter ``NAME`` of the link they came with (e.g. ``SESSION_ID``),
  empty when the link had none.

An unknown placeholder is refused when the scene is defined, naming it. docs/crowdsourcing.md has
each platform's templates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, urlparse

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_QUERY = re.compile(r"^query\.[A-Za-z0-9_.\-]{1,64}$")


def redirect_problem(url: object, *, code: bool) -> str | None:
    """What is wrong with a redirect URL option (None: nothing): it must be an absolute http(s) URL
    whose placeholders are known (`template_problem`)."""
    parsed = urlparse(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        return f"must be an absolute http(s) URL, got {url!r}"
    return template_problem(url, code=code)  # type: ignore[arg-type]


def template_problem(url: str, *, code: bool) -> str | None:
    """What is wrong with the placeholders of `url` (None: nothing); `code`: whether ``{code}`` has a value there."""
    for match in PLACEHOLDER.finditer(url):
        name = match.group(1)
        if name == "participant_id" or _QUERY.match(name):
            continue
        if name == "code":
            if code:
                continue
            return "uses {code}, but there is no completion code here: use a CompletionCodeScene"
        return f"has an unknown placeholder {{{name}}}: use {{participant_id}}, {{code}} or {{query.NAME}}"
    return None


def fill(url: str, *, participant_id: str, code: str | None, query: Mapping[str, str]) -> str:
    """`url` with its placeholders replaced by this participant's values (URL-encoded)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "participant_id":
            text = participant_id
        elif name == "code":
            text = code or ""
        elif name.startswith("query."):
            text = query.get(name[len("query.") :], "")
        else:  # (refused at definition; a URL from elsewhere keeps it as it is)
            return match.group(0)
        return quote(str(text), safe="")

    return PLACEHOLDER.sub(value, url)
