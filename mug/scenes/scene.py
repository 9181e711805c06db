"""The Scene base class: an id, a type, and the spec the participant page renders."""

from __future__ import annotations

from typing import Any, ClassVar

from mug.scenes._options import check_identifier, known_options


class Scene:
    """One stage of an experiment (consent, instructions, a game, a form, the end).

    Scenes are configured with chained methods, each validating its options at once::

        StaticScene().scene("instructions").display(scene_header="How to play", scene_body="...")
    """

    scene_type: ClassVar[str] = "scene"

    def __init__(self) -> None:
        self.scene_id: str | None = None

    @known_options
    def scene(self, scene_id: str) -> Scene:
        """Set the scene's id: it names the scene in the data, so keep it stable across runs."""
        self.scene_id = check_identifier(self, "scene", "scene_id", scene_id)
        return self

    def validate(self) -> None:
        """Check options that involve more than one method; called when the experiment is built."""

    def client_spec(self) -> dict[str, Any]:
        """What the participant page needs to show this scene (JSON-able; see docs/protocol.md)."""
        return {"scene_id": self.scene_id, "scene_type": self.scene_type}

    def config(self) -> dict[str, Any]:
        """A JSON-able description of the scene saved beside the data (callables by name)."""
        return self.client_spec()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scene_id={self.scene_id!r})"
