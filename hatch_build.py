"""Build hook: builds the browser client (npm ci + esbuild) into mug/client/dist before packaging.

This follows the Jupyter-extension convention: `pip install -e .` or building a wheel runs the
JavaScript build, and the wheel ships the built assets while git does not.
Set MUG_SKIP_CLIENT_BUILD=1 to package without building (the server then refuses to start and
says why).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

CLIENT = Path(__file__).parent / "mug" / "client"


class ClientBuildHook(BuildHookInterface):
    """Runs the client build for wheels (including editable installs)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("MUG_SKIP_CLIENT_BUILD") == "1":
            return
        npm = shutil.which("npm")
        node = shutil.which("node")
        if not npm or not node:
            raise RuntimeError(
                "Building mug-py needs Node.js (>= 20) and npm to build its browser client, and neither "
                "was found on PATH. Install Node.js (e.g. `apt-get install nodejs npm`, or from nodejs.org), "
                "then run the install again. Prebuilt wheels of mug-py already contain the client."
            )
        lock_stamp = CLIENT / "node_modules" / ".package-lock.json"
        lock = CLIENT / "package-lock.json"
        if not lock_stamp.exists() or lock_stamp.stat().st_mtime < lock.stat().st_mtime:
            self._run([npm, "ci", "--no-audit", "--no-fund"], "npm ci")
        self._run([node, "scripts/build.mjs"], "client build")

    def _run(self, cmd: list[str], what: str) -> None:
        result = subprocess.run(cmd, cwd=CLIENT, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(
                f"mug-py: the {what} failed (exit {result.returncode}) in {CLIENT}:\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
