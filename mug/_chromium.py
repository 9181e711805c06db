"""Debian's Chromium, headless, as MUG's tests and benchmarks drive it (with Playwright)."""

from __future__ import annotations

import os
from typing import Any

#: The browser binary: Debian's package by default (never a downloaded browser build).
CHROMIUM_PATH = os.environ.get("MUG_CHROMIUM", "/usr/bin/chromium")

#: Flags that work headless as root on a machine without GPU or internet.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright: Any, **options: Any) -> Any:
    """Launch headless Chromium through a Playwright (sync or async) instance."""
    return playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, **options)
