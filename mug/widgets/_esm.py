"""The widgets' front-end modules, built from ``mug/client/src/widgets/*.ts`` into the client bundle."""

from __future__ import annotations

from functools import cache

from mug._bundle import ClientNotBuiltError, client_dist


@cache
def widget_module(name: str) -> str:
    """The bundled ES module of widget ``name`` (``dist/widgets/<name>.js``), as text for anywidget."""
    path = client_dist() / "widgets" / f"{name}.js"
    if not path.is_file():
        raise ClientNotBuiltError(
            f"The MUG notebook widget {name!r} is not built ({path} is missing). Rebuild the client: "
            "`pip install -e .`, or `node scripts/build.mjs` in mug/client."
        )
    return path.read_text(encoding="utf-8")


def require_widgets() -> None:
    """Import anywidget, or say how to install it."""
    try:
        import anywidget  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            'MUG\'s notebook widgets need anywidget and ipywidgets: pip install "mug-py[jupyter]"'
        ) from exc
