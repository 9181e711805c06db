"""The import layout of docs/development.md and DESIGN's table, checked on the source (issue 15:
"no import circle between experiment, server and widgets; widgets use the server handle only").

A static check of every ``import`` in ``mug/`` (also those inside functions: a lazy import is still
an arrow between two parts), so an arrow the layout forbids fails here with the file and line
rather than surfacing later as an import circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

MUG = Path(__file__).resolve().parents[1] / "mug"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(MUG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str | None = None) -> list[tuple[int, str, bool]]:
    """(line, imported module, at top level) of every import in ``path`` (the module ``name``, by
    default the one its place under mug/ gives), relative ones resolved.

    An import under ``if TYPE_CHECKING:`` counts as not at top level (it never runs).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (name or _module_name(path)).split(".")
    if path.name != "__init__.py":
        package.pop()
    top_level: set[int] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            top_level.add(id(node))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from mug import widgets` names the sub-package as a member: count it as imported.
            found += [(node.lineno, f"{module}.{alias.name}", id(node) in top_level) for alias in node.names]
            found.append((node.lineno, module, id(node) in top_level))
    return found


def _sources(part: str) -> list[Path]:
    where = MUG / part
    return sorted(where.rglob("*.py")) if where.is_dir() else [where]


def _inside(module: str, part: str) -> bool:
    return module == part or module.startswith(part + ".")


@pytest.mark.parametrize(
    ("part", "forbidden"),
    [
        ("server", ("mug.widgets",)),
        ("scenes", ("mug.server", "mug.widgets")),
        ("env", ("mug.server", "mug.widgets")),
        ("policies", ("mug.server", "mug.widgets")),
        ("data", ("mug.server", "mug.widgets")),
    ],
)
def test_a_part_never_imports_the_parts_above_it_not_even_lazily(part: str, forbidden: tuple[str, ...]) -> None:
    wrong = [
        f"{path.relative_to(MUG.parent)}:{line} imports {module}"
        for path in _sources(part)
        for line, module, _ in _imports(path)
        if any(_inside(module, f) for f in forbidden)
    ]
    assert wrong == [], "\n".join(wrong)


def test_the_experiment_reaches_server_and_widgets_only_inside_its_facade_methods() -> None:
    """``import mug`` must not start the server or the widgets' dependencies, and the experiment
    must not form a circle with the server (which imports the experiment at its top)."""
    wrong = [
        f"mug/experiment.py:{line} imports {module} at top level"
        for line, module, top in _imports(MUG / "experiment.py")
        if top and (_inside(module, "mug.server") or _inside(module, "mug.widgets"))
    ]
    assert wrong == [], "\n".join(wrong)


def test_the_check_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself: an import inside a function and a relative one are both found."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from ..widgets import monitor\n    import mug.widgets.preview\n")
    modules = {module for _, module, _ in _imports(probe, "mug.server.probe")}
    assert {"mug.widgets", "mug.widgets.monitor", "mug.widgets.preview"} <= modules


def test_the_widgets_reach_the_server_only_through_its_handle() -> None:
    """Widgets start a server with `mug.server.start_server` and use the `ServerHandle` it returns;
    its inner modules only as types (under ``TYPE_CHECKING``, which never runs)."""
    surface = {"mug.server", "mug.server.start_server", "mug.server.ServerHandle"}
    wrong = [
        f"{path.relative_to(MUG.parent)}:{line} imports {module}"
        for path in _sources("widgets")
        for line, module, _ in _imports(path)
        if _inside(module, "mug.server") and module not in surface and not _typing_only(path, line)
    ]
    assert wrong == [], "\n".join(wrong)


def _typing_only(path: Path, line: int) -> bool:
    """Whether the import at ``line`` sits under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    guards = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
    ]
    return any(getattr(inner, "lineno", None) == line for g in guards for c in g.body for inner in ast.walk(c))
