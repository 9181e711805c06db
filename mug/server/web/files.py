"""The researcher's own files (images, media) for scene HTML: `Experiment.static_files(directory)`.

Served under a relative URL (``files/`` by default, so ``<img src="files/cue.png">`` works at ``/``
and behind any proxy prefix). Nothing outside the directory is reachable: a path with a ``..`` or
``.`` segment (also when percent-encoded), a backslash or a NUL, a hidden name (``.git``, ``.env``),
a directory, or a symlink leading outside the directory answers 404, as a missing file does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import tornado.web

__all__ = ["ResearcherFileHandler", "file_routes"]


class ResearcherFileHandler(tornado.web.StaticFileHandler):
    """One researcher directory: regular files inside it (after resolving symlinks), else 404."""

    def parse_url_path(self, url_path: str) -> str:
        # Tornado has percent-decoded the path already, so "%2e%2e" arrives here as "..".
        if "\x00" in url_path or "\\" in url_path or url_path.startswith("/"):
            raise tornado.web.HTTPError(404)
        if any(part in ("", ".", "..") or part.startswith(".") for part in url_path.split("/")):
            raise tornado.web.HTTPError(404)
        return super().parse_url_path(url_path)

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        real_root = os.path.realpath(root)
        real = os.path.realpath(absolute_path)
        if os.path.commonpath([real_root, real]) != real_root or not os.path.isfile(real):
            raise tornado.web.HTTPError(404)
        return real

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")  # revalidated: a researcher may change a file


def file_routes(directories: dict[str, Path]) -> list[tuple[str, type, dict[str, Any]]]:
    """Routes for ``{url prefix: directory}`` (see `Experiment.static_files`)."""
    return [
        (rf"/{prefix}/(.*)", ResearcherFileHandler, {"path": str(Path(directory).resolve())})
        for prefix, directory in directories.items()
    ]
