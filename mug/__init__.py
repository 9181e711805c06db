"""MUG (Multi-User Gymnasium): turn a Python environment into a real-time browser experiment.

The public surface is small; everything else lives in private or sub-modules::

    import mug
    exp = mug.Experiment("pilot", scenes=[mug.StartScene()..., mug.GymScene()..., mug.EndScene()])
    server = exp.serve()
    exp.results().steps
"""

from mug.data import Results, load_results
from mug.env import Surface, check_env
from mug.experiment import Experiment
from mug.scenes import (
    CompletionCodeScene,
    EndScene,
    GymScene,
    HudInfo,
    SceneConfigError,
    StartScene,
    StaticScene,
)

__version__ = "0.1.0"

__all__ = [
    "CompletionCodeScene",
    "EndScene",
    "Experiment",
    "GymScene",
    "HudInfo",
    "Results",
    "SceneConfigError",
    "StartScene",
    "StaticScene",
    "Surface",
    "check_env",
    "load_results",
]
