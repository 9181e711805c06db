"""Notebook widgets: play a scene in the output cell, watch a running server, see the results.

Importing this package is cheap; anywidget and ipywidgets are imported only when a widget is made
(``pip install "mug-py[jupyter]"``)::

    exp.preview(game)            # PreviewWidget: the real participant page, env stepping in the kernel
    game                         # a scene as the last expression of a cell: the same
    server.monitor()             # MonitorWidget: participants, scenes, pings, games, waitroom, exclusions
    exp.replay(game_id)          # ReplayWidget: a recorded episode rebuilt, checked against the record, played
    await autopilot(server)      # a scripted participant walks through the experiment
    plots.summary(exp.results()) # from mug.widgets import plots
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mug.widgets.monitor import MonitorWidget
    from mug.widgets.pilot import autopilot
    from mug.widgets.preview import PreviewWidget
    from mug.widgets.replay import ReplayWidget

__all__ = ["MonitorWidget", "PreviewWidget", "ReplayWidget", "autopilot"]

_LAZY = {
    "PreviewWidget": "mug.widgets.preview",
    "MonitorWidget": "mug.widgets.monitor",
    "ReplayWidget": "mug.widgets.replay",
    "autopilot": "mug.widgets.pilot",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mug.widgets' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
