"""Options of client-side scenes: the env runs in the participant's browser (Pyodide in a Web Worker)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from mug.scenes._options import NOT_PROVIDED, fail, text_or_file


@dataclass
class RuntimeOptions:
    """What the browser needs to run a scene's env (see ``GymScene.runtime``)."""

    env_code: str = ""
    packages_to_install: list[str] = field(default_factory=list)
    wheels: dict[str, Path] = field(default_factory=dict)  # served file name -> path on disk
    package_index_url: str | None = None

    def package_targets(self, scene_id: str) -> list[str]:
        """What micropip installs: our served wheels (relative URLs) and Pyodide package names."""
        targets = []
        for package in self.packages_to_install:
            wheel = self._wheel_for(package)
            targets.append(f"wheels/{quote(scene_id)}/{quote(wheel)}" if wheel else package)
        return targets

    def _wheel_for(self, package: str) -> str | None:
        if package in self.wheels:
            return package
        prefix = re.sub(r"[-_.]+", "_", package).lower() + "-"
        matches = sorted(name for name in self.wheels if name.lower().startswith(prefix))
        return matches[-1] if matches else None


def runtime_options(scene: Any, current: RuntimeOptions | None, given: dict[str, Any]) -> RuntimeOptions:
    """Validate ``GymScene.runtime(**given)`` on top of the current options."""
    opts = current or RuntimeOptions()
    code = text_or_file(
        scene, "runtime", "env_code", given.get("env_code", NOT_PROVIDED), given.get("env_code_filepath", NOT_PROVIDED)
    )
    if code is not NOT_PROVIDED:
        try:
            compile(code, f"<{getattr(scene, 'scene_id', None) or 'scene'} env_code>", "exec")
        except SyntaxError as exc:
            raise fail(scene, "runtime", "env_code", f"is not valid Python: {exc.msg} (line {exc.lineno})") from None
        if not re.search(r"^\s*env\s*(:[^=]*)?=|^\s*(def|class)\s+env\b|^\s*env\s*,|,\s*env\s*=", code, re.M):
            raise fail(scene, "runtime", "env_code", "must define `env` (e.g. `env = CatchEnv()`) at module level")
        opts.env_code = code
    if "packages_to_install" in given:
        packages = given["packages_to_install"]
        if not isinstance(packages, (list, tuple)) or not all(isinstance(p, str) and p for p in packages):
            raise fail(scene, "runtime", "packages_to_install", f"must be a list of package names, got {packages!r}")
        opts.packages_to_install = list(packages)
    if "wheels_dir" in given:
        folder = Path(given["wheels_dir"])
        if not folder.is_dir():
            raise fail(scene, "runtime", "wheels_dir", f"must be a folder of .whl files, got {str(folder)!r}")
        opts.wheels = {p.name: p.resolve() for p in sorted(folder.glob("*.whl"))}
        for name in opts.wheels:
            if not name.endswith("-none-any.whl") and "emscripten" not in name and "pyodide" not in name:
                raise fail(
                    scene, "runtime", "wheels_dir",
                    f"holds {name}, which is not a pure-Python (py3-none-any) or Pyodide wheel",
                )  # fmt: skip
    if "package_index_url" in given:
        url = given["package_index_url"]
        if url is not None:
            parsed = urlparse(url) if isinstance(url, str) else None
            if parsed is None or (not (parsed.scheme in ("http", "https") and parsed.netloc) and not url.endswith("/")):
                raise fail(
                    scene, "runtime", "package_index_url",
                    f"must be an http(s) URL or a path ending in '/' of a full Pyodide distribution, got {url!r}",
                )  # fmt: skip
        opts.package_index_url = url
    return opts
