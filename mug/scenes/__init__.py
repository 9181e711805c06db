"""Declarative scene objects and their chained builder API."""

from mug.scenes._options import SceneConfigError
from mug.scenes.gym import GymScene, HudInfo
from mug.scenes.scene import Scene
from mug.scenes.static import CompletionCodeScene, EndScene, StartScene, StaticScene

__all__ = [
    "CompletionCodeScene",
    "EndScene",
    "GymScene",
    "HudInfo",
    "Scene",
    "SceneConfigError",
    "StartScene",
    "StaticScene",
]
