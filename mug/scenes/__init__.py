"""Declarative scene objects and their chained builder API."""

from mug.scenes._options import SceneConfigError
from mug.scenes.flow import RandomizeOrder, RepeatScene
from mug.scenes.gym import GymScene, HudInfo
from mug.scenes.scene import Scene
from mug.scenes.static import CompletionCodeScene, EndScene, StartScene, StaticScene
from mug.scenes.surveys import MultipleChoice, OptionBoxesWithScalesAndTextBox, ScalesAndTextBox, TextBox

__all__ = [
    "CompletionCodeScene",
    "EndScene",
    "GymScene",
    "HudInfo",
    "MultipleChoice",
    "OptionBoxesWithScalesAndTextBox",
    "RandomizeOrder",
    "RepeatScene",
    "ScalesAndTextBox",
    "Scene",
    "SceneConfigError",
    "StartScene",
    "StaticScene",
    "TextBox",
]
