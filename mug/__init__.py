"""MUG (Multi-User Gymnasium): turn a Python environment into a real-time browser experiment.

The public surface is small; everything else lives in private or sub-modules::

    import mug
    exp = mug.Experiment("pilot", scenes=[mug.StartScene()..., mug.GymScene()..., mug.EndScene()])
    server = exp.serve()
    exp.results().steps
"""

from typing import TYPE_CHECKING, Any

from mug.env import Surface, check_env
from mug.experiment import Experiment
from mug.matchmaking import (
    FIFOMatchmaker,
    GroupReunionMatchmaker,
    LatencyFIFOMatchmaker,
    Match,
    MatchCandidate,
    Matchmaker,
)
from mug.scenes import (
    CompletionCodeScene,
    EndScene,
    GymScene,
    HudInfo,
    MultipleChoice,
    OptionBoxesWithScalesAndTextBox,
    RandomizeOrder,
    RepeatScene,
    ScalesAndTextBox,
    SceneConfigError,
    StartScene,
    StaticScene,
    TextBox,
)
from mug.scenes.hooks import GameCallback, GameContext

if TYPE_CHECKING:
    from mug.data import Results, load_results
    from mug.server.sessions.intake import ClientLimits

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The data layer needs pandas; importing it lazily keeps `import mug.env` light enough for
    # Pyodide, where the env runtime runs without numpy or pandas.
    if name in ("Results", "load_results"):
        import mug.data

        return getattr(mug.data, name)
    if name == "ClientLimits":  # (the server and its dependencies load only when asked for)
        from mug.server.sessions.intake import ClientLimits

        return ClientLimits
    raise AttributeError(f"module 'mug' has no attribute {name!r}")


def _register_ipython_display() -> None:
    # Inside IPython (Jupyter), scenes, servers and results display as widgets, links and plots.
    # Only when IPython is already running: a plain `import mug` imports no notebook machinery.
    import sys

    if "IPython" not in sys.modules:
        return
    try:
        shell = sys.modules["IPython"].get_ipython()
        if shell is not None:
            from mug.widgets._ipython import register

            register(shell)
    except Exception:  # display niceties must never break `import mug`
        import logging

        logging.getLogger("mug").debug("registering IPython display formatters failed", exc_info=True)


_register_ipython_display()

__all__ = [
    "ClientLimits",
    "CompletionCodeScene",
    "EndScene",
    "Experiment",
    "FIFOMatchmaker",
    "GameCallback",
    "GameContext",
    "GroupReunionMatchmaker",
    "GymScene",
    "HudInfo",
    "LatencyFIFOMatchmaker",
    "Match",
    "MatchCandidate",
    "Matchmaker",
    "MultipleChoice",
    "OptionBoxesWithScalesAndTextBox",
    "RandomizeOrder",
    "RepeatScene",
    "Results",
    "ScalesAndTextBox",
    "SceneConfigError",
    "StartScene",
    "StaticScene",
    "Surface",
    "TextBox",
    "check_env",
    "load_results",
]
