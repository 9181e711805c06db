"""``Surface``: the immediate-mode drawing API envs use to produce render states.

An env keeps one ``Surface``, draws its whole scene on it every frame, and
returns ``surface.commit()`` from ``render()``::

    def render(self):
        s = self.surface
        s.rect(0, 0, 1, 1, fill="#87ceeb", id="sky")        # persistent: sent only when it changes
        s.circle(self.ball_x, self.ball_y, 0.02, fill="#ff0000", id="ball")
        s.text(0.5, 0.02, f"Score {self.score}", align="center", id="score")
        return s.commit()

Coordinates are normalised to the game area: 0–1, x to the right, y down.
Objects drawn with an ``id`` are persistent: the server diffs frames per
connection and sends them only when they change (:class:`mug.env.RenderDiffer`).
Objects without an id are sent every frame. Pure Python (stdlib only), so the
same env code draws inside Pyodide.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mug.env.png import png_data_url
from mug.env.schema import COMMON_FIELDS, OBJECT_FIELDS

__all__ = ["Surface"]

Point = Sequence[float]

_ID, _DEPTH, _ALPHA = COMMON_FIELDS["id"], COMMON_FIELDS["depth"], COMMON_FIELDS["alpha"]
# Each type's own fields and their checkers, as tuples (iterated for every object drawn).
_FIELD_CHECKS = {kind: tuple(checks.items()) for kind, checks in OBJECT_FIELDS.items()}


class CommittedState(dict):  # type: ignore[type-arg]
    """A render state from `Surface.commit()`: complete and valid by construction.

    Every drawing call checked and normalised its arguments, so `EnvAdapter` hands such a state on
    without checking it again (a state whose object list changed after the commit is checked).
    """

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        super().__init__(objects=objects, removed=[])
        self.committed_count = len(objects)

    def unchanged(self) -> bool:
        """Whether the state is still as committed (same keys, as many objects, nothing removed)."""
        objects, removed = self.get("objects"), self.get("removed")
        return (
            len(self) == 2
            and type(objects) is list
            and len(objects) == self.committed_count
            and type(removed) is list
            and not removed
        )


class Surface:
    """Collects the drawing calls of one frame and turns them into a render state.

    Args:
        width: nominal width of the game area in pixels. Pixel-valued fields
            (``stroke_width``, line ``width``, text ``size``) are relative to this
            size; the renderer scales everything with the canvas. Use it to convert
            pixel measures, e.g. ``20 / surface.width``.
        height: nominal height of the game area in pixels.

    Every drawing method also takes the keywords ``id`` (a str makes the object
    persistent and diffable; ids must be unique within a frame), ``depth`` (int;
    higher is drawn on top, ties keep drawing order) and ``alpha`` (0–1 opacity,
    multiplied with any alpha in the colours). Bad arguments raise ``TypeError``
    or ``ValueError`` naming the method and argument.
    """

    def __init__(self, width: int = 600, height: int = 400) -> None:
        for name, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Surface(): argument {name!r} must be an int > 0, got {value!r}")
            if value <= 0:
                raise ValueError(f"Surface(): argument {name!r} must be an int > 0, got {value!r}")
        self.width = width
        self.height = height
        self._objects: list[dict[str, Any]] = []
        self._ids: set[str] = set()

    @property
    def aspect(self) -> float:
        """Width divided by height: multiply a width-relative size by it to get a height fraction."""
        return self.width / self.height

    def __len__(self) -> int:
        """Number of objects drawn since the last :meth:`commit`."""
        return len(self._objects)

    # -- internals ---------------------------------------------------------

    def _add(self, kind: str, common: tuple[Any, int, float], **fields: Any) -> None:
        """Check and normalise every field, then append the object to this frame."""
        object_id, depth, alpha = common
        obj: dict[str, Any] = {"type": kind}
        name = "id"  # the argument being checked, for the error message
        try:
            obj["id"] = None if object_id is None else _ID(object_id, False)
            name = "depth"
            obj["depth"] = depth if type(depth) is int else _DEPTH(depth, False)
            name = "alpha"
            obj["alpha"] = _ALPHA(alpha, False)
            for name, check in _FIELD_CHECKS[kind]:
                obj[name] = check(fields[name], False)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"Surface.{kind}(): argument {name!r} {exc}") from None
        object_id = obj["id"]
        if object_id is not None:
            if object_id in self._ids:
                raise ValueError(
                    f"Surface.{kind}(): id {object_id!r} was already drawn this frame; "
                    "ids must be unique within a frame"
                )
            self._ids.add(object_id)
        self._objects.append(obj)

    # -- drawing methods ---------------------------------------------------

    def rect(
        self, x: float, y: float, w: float, h: float, *,
        fill: str | None = "#000000", stroke: str | None = None, stroke_width: float = 0,
        angle: float = 0, id: str | None = None, depth: int = 0, alpha: float = 1.0,
    ) -> None:
        """A rectangle with top-left corner ``(x, y)``, width ``w`` and height ``h``.

        ``angle`` rotates it in degrees clockwise about its centre.
        """
        self._add("rect", (id, depth, alpha), x=x, y=y, w=w, h=h, fill=fill, stroke=stroke,
                  stroke_width=stroke_width, angle=angle)

    def circle(
        self, x: float, y: float, radius: float, *,
        fill: str | None = "#000000", stroke: str | None = None, stroke_width: float = 0,
        id: str | None = None, depth: int = 0, alpha: float = 1.0,
    ) -> None:
        """A circle centred on ``(x, y)``; ``radius`` is a fraction of the game **width**
        (so circles stay round on any aspect ratio)."""
        self._add("circle", (id, depth, alpha), x=x, y=y, radius=radius, fill=fill, stroke=stroke,
                  stroke_width=stroke_width)

    def ellipse(
        self, x: float, y: float, w: float, h: float, *,
        fill: str | None = "#000000", stroke: str | None = None, stroke_width: float = 0,
        id: str | None = None, depth: int = 0, alpha: float = 1.0,
    ) -> None:
        """An ellipse centred on ``(x, y)`` with full width ``w`` (fraction of game width)
        and full height ``h`` (fraction of game height)."""
        self._add("ellipse", (id, depth, alpha), x=x, y=y, w=w, h=h, fill=fill, stroke=stroke,
                  stroke_width=stroke_width)

    def arc(
        self, x: float, y: float, radius: float, start_angle: float, end_angle: float, *,
        fill: str | None = "#000000", stroke: str | None = None, stroke_width: float = 0,
        id: str | None = None, depth: int = 0, alpha: float = 1.0,
    ) -> None:
        """A circular arc centred on ``(x, y)`` (``radius`` as in :meth:`circle`).

        It sweeps clockwise from ``start_angle`` to ``end_angle``, in degrees measured
        clockwise from the +x axis (y points down). ``fill`` paints the pie slice
        between the angles; ``stroke`` draws the curved edge only, so
        ``fill=None, stroke="#..."`` gives an open arc (e.g. a progress ring).
        """
        self._add("arc", (id, depth, alpha), x=x, y=y, radius=radius, start_angle=start_angle,
                  end_angle=end_angle, fill=fill, stroke=stroke, stroke_width=stroke_width)

    def line(
        self, points: Sequence[Point], *, color: str = "#000000", width: float = 1,
        id: str | None = None, depth: int = 0, alpha: float = 1.0,
    ) -> None:
        """An open polyline through ``points`` (at least two ``(x, y)``); ``width`` in pixels."""
        self._add("line", (id, depth, alpha), points=points, color=color, width=width)

    def polygon(
        self, points: Sequence[Point], *,
        fill: str | None = "#000000", stroke: str | None = None, stroke_width: float = 0,
        id: str | None = None, depth: int = 0, alpha: float = 1.0,
    ) -> None:
        """A closed polygon through ``points`` (at least three ``(x, y)``)."""
        self._add("polygon", (id, depth, alpha), points=points, fill=fill, stroke=stroke,
                  stroke_width=stroke_width)

    def text(
        self, x: float, y: float, text: str, *, size: float = 16, color: str = "#000000",
        font: str = "sans-serif", align: str = "left",
        id: str | None = None, depth: int = 0, alpha: float = 1.0,
    ) -> None:
        """Text whose top edge is at ``y``; ``x`` is its left edge, centre or right edge
        depending on ``align`` (``"left"``, ``"center"``, ``"right"``).

        ``size`` is the font size in pixels, ``font`` a CSS font family; ``"\\n"`` breaks lines.
        """
        self._add("text", (id, depth, alpha), x=x, y=y, text=text, size=size, color=color, font=font,
                  align=align)

    def sprite(
        self, x: float, y: float, w: float, h: float, *, texture: str,
        frame: str | int | None = None, angle: float = 0,
        id: str | None = None, depth: int = 0, alpha: float = 1.0,
    ) -> None:
        """A texture (an image or atlas the scene preloads, by key) drawn with top-left
        ``(x, y)`` and size ``w`` × ``h``.

        ``frame`` picks an atlas / spritesheet frame by name or index; ``angle`` rotates
        in degrees clockwise about the centre.
        """
        self._add("sprite", (id, depth, alpha), x=x, y=y, w=w, h=h, texture=texture, frame=frame,
                  angle=angle)

    def image(
        self, data: Any, *, x: float = 0, y: float = 0, w: float = 1, h: float = 1,
        id: str | None = None, depth: int = 0, alpha: float = 1.0,
    ) -> None:
        """A raster image with top-left ``(x, y)`` stretched to ``w`` × ``h``.

        ``data`` is an HxWx3 or HxWx4 ``uint8`` array-like (numpy array,
        :class:`mug.env.RGBFrame` or nested lists) or the bytes of a PNG file. It is
        PNG-encoded into a ``data:image/png;base64,...`` URL (the object's ``src``).
        Give it an ``id`` so an unchanged image is not re-sent every frame.
        """
        try:
            src = png_data_url(data)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"Surface.image(): argument 'data' is not a valid image: {exc}") from None
        self._add("image", (id, depth, alpha), src=src, x=x, y=y, w=w, h=h)

    # -- frame -------------------------------------------------------------

    def commit(self) -> CommittedState:
        """Return this frame's full render state and start an empty frame.

        Returns ``{"objects": [...all objects drawn since the last commit...], "removed": []}``.
        Removals are worked out by the server's per-connection diff, so an env simply
        stops drawing an object to remove it.
        """
        state = CommittedState(self._objects)
        self._objects = []
        self._ids = set()
        return state

    def clear(self) -> None:
        """Drop everything drawn since the last :meth:`commit` without returning it."""
        self._objects = []
        self._ids = set()
