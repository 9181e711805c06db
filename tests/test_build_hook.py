"""Installing from source without Node gives a clear error saying what to install."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_no_node_means_a_clear_error(monkeypatch) -> None:
    spec = importlib.util.spec_from_file_location("hatch_build", ROOT / "hatch_build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module.shutil, "which", lambda name: None)
    monkeypatch.delenv("MUG_SKIP_CLIENT_BUILD", raising=False)
    hook = module.ClientBuildHook.__new__(module.ClientBuildHook)
    monkeypatch.setattr(type(hook), "target_name", property(lambda self: "wheel"))
    with pytest.raises(RuntimeError, match=r"needs Node.js \(>= 20\) and npm .* Install Node.js"):
        hook.initialize("standard", {})
