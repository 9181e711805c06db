"""mug.env must import and run without numpy or gymnasium (it also runs inside Pyodide)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The Pyodide worker ships mug/env on its own, so the probe installs a bare ``mug``
# package (no mug/__init__.py side effects) and blocks numpy and gymnasium.
PROBE = textwrap.dedent(
    """
    import sys, types
    for name in ("numpy", "gymnasium", "pandas", "PIL"):
        sys.modules[name] = None  # any import of them raises ImportError
    package = types.ModuleType("mug")
    package.__path__ = [sys.argv[1] + "/mug"]
    sys.modules["mug"] = package

    import mug.env
    from mug.env import (Surface, RenderDiffer, EnvAdapter, check_env, encode_png, png_data_url,
                         to_jsonable, validate_render_state, RGBFrame)
    from mug.env.examples import CatchEnv
    from mug.env.examples.catch import CatchEnv as Same

    s = Surface()
    s.rect(0, 0, 1, 1, fill="#ffffff", id="bg")
    s.image([[[1, 2, 3]]], id="img")
    validate_render_state(s.commit())
    assert encode_png(RGBFrame(4, 4)).startswith(b"\\x89PNG")

    env = CatchEnv()
    adapter = EnvAdapter(env, ["p"])
    adapter.reset(0)
    differ = RenderDiffer()
    for i in range(20):
        adapter.step({"p": i % 3})
        differ.diff(adapter.render())
    to_jsonable(env.get_state())
    assert check_env(CatchEnv, num_steps=40) == []
    assert check_env(lambda: CatchEnv(render_mode="rgb_array", width=60, height=40), num_steps=20) == []
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("numpy", "gymnasium") and sys.modules[m])
    assert not loaded, loaded
    print("pure")
    """
)


def test_env_package_and_example_run_without_numpy_or_gymnasium() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pure"


def test_env_modules_import_only_stdlib_and_mug_env() -> None:
    """Static check: no top-level import outside the stdlib and mug.env in any mug/env module."""
    import ast

    allowed_roots = set(sys.stdlib_module_names) | {"mug", "__future__"}
    for path in sorted((ROOT / "mug" / "env").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:  # top level only: lazy imports inside functions are allowed
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] in allowed_roots, f"{path.name} imports {name} at top level"
                if name.startswith("mug."):
                    assert name.startswith("mug.env"), f"{path.name} imports {name}"
