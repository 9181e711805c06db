"""What a replay needs to rebuild a GymScene's env, saved with the experiment's config.

`GymScene.config()` stores the result of :func:`replay_provenance` under ``"replay"``, so the data
folder alone says where the env came from: for a server-run scene, the importable name of its
``env_creator`` (``module:qualname``), the distribution and version it belongs to and a SHA-256 of
its source file; for a client-side or P2P scene, a SHA-256 of the env code (the code itself is in
the config's ``runtime.env_code``) and the browser's Python version. ``mug.replay`` reads it back
(docs/replay.md).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from functools import cache
from importlib import metadata
from typing import Any

from mug.scenes._options import is_json_value

__all__ = ["creator_provenance", "creator_reference", "replay_provenance"]


def creator_reference(creator: Any) -> str | None:
    """``"module:qualname"`` when ``creator`` can be imported back by that name, else None.

    A lambda, a nested function or anything defined in a notebook or script run as ``__main__``
    has no such name: such a scene is replayed from the Experiment object (``exp.replay``).
    """
    module = getattr(creator, "__module__", None)
    qualname = getattr(creator, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or module == "__main__" or "<" in qualname:
        return None
    found: Any = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return f"{module}:{qualname}" if found is creator else None


@cache
def _distributions() -> dict[str, list[str]]:
    try:
        return dict(metadata.packages_distributions())
    except Exception:  # a broken installation must not stop a server from starting
        return {}


def _distribution(module: str) -> tuple[str | None, str | None]:
    """The installed distribution providing ``module`` and its version, when there is one."""
    names = _distributions().get(module.split(".")[0]) or []
    for name in names:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None, None


def _source_sha256(creator: Any) -> str | None:
    try:
        path = inspect.getsourcefile(creator)
        if path is None:
            return None
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except (OSError, TypeError):
        return None


@cache
def browser_python() -> str | None:
    """The Python version of the Pyodide the built client runs env code with, if the client is built."""
    from mug._bundle import CLIENT_DIST

    try:
        lock = json.loads((CLIENT_DIST / "vendor" / "pyodide" / "pyodide-lock.json").read_text(encoding="utf-8"))
        version = lock.get("info", {}).get("python")
        return version if isinstance(version, str) else None
    except (OSError, ValueError):
        return None


def creator_provenance(creator: Any) -> dict[str, Any]:
    """Where a server-run env creator comes from: importable name, distribution, version, source SHA-256."""
    reference = creator_reference(creator) if creator is not None else None
    distribution, version = _distribution(reference.split(":")[0]) if reference else (None, None)
    return {
        "env": "env_creator",
        "env_creator": reference,
        "distribution": distribution,
        "version": version,
        "source_sha256": _source_sha256(creator) if creator is not None else None,
    }


def replay_provenance(scene: Any) -> dict[str, Any]:
    """Where a GymScene's env comes from, as JSON data (see the module's docstring)."""
    runtime = getattr(scene, "runtime_options", None)
    if runtime is not None:
        return {
            "env": "env_code",
            "env_code_sha256": hashlib.sha256(runtime.env_code.encode("utf-8")).hexdigest(),
            "browser_python": browser_python(),
        }
    return {
        **creator_provenance(getattr(scene, "env_creator", None)),
        # env_config values that are not JSON are saved as their repr: a replay from the saved
        # config alone cannot rebuild them.
        "unsaved_env_config": sorted(k for k, v in getattr(scene, "env_config", {}).items() if not is_json_value(v)),
        "python": ".".join(map(str, sys.version_info[:3])),
    }
