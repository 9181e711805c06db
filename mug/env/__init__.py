"""The env side of MUG: the env contract, the drawing API and the render-state schema.

- :class:`Surface` — immediate-mode drawing API; ``commit()`` gives a render state.
- :func:`validate_render_state` — check a render state against the schema.
- :class:`RenderDiffer` — per-connection diffing of render states.
- :func:`encode_png` / :func:`png_data_url` — pure-Python PNG encoding of RGB frames.
- :class:`EnvAdapter` / :class:`StepResult` — one interface over Gymnasium and
  PettingZoo-parallel envs.
- :func:`to_jsonable` — JSON-safe copies of observations, actions and infos.
- :func:`check_env` — check an env against the contract before running an experiment.
- :mod:`mug.env.spaces` — pure-Python action spaces (``Discrete``) for envs that run without
  gymnasium.

Everything importable from here is pure Python (stdlib only) because the same
modules run inside Pyodide, where numpy may be missing; numpy and gymnasium are
only imported lazily, inside :func:`check_env`.
"""

from typing import TYPE_CHECKING, Any

from mug.env import spaces
from mug.env.adapter import FRAME_ID, EnvAdapter, StepResult
from mug.env.differ import RenderDiffer
from mug.env.errors import EnvCheckError, EnvContractError, RenderStateError
from mug.env.frame import RGBFrame
from mug.env.jsonable import to_jsonable
from mug.env.png import encode_png, png_data_url
from mug.env.schema import OBJECT_TYPES, validate_render_state
from mug.env.surface import Surface

if TYPE_CHECKING:
    from mug.env.check import check_env


def __getattr__(name: str) -> Any:
    # check_env pulls in `inspect` and more; loading it only when asked keeps `import mug.env`
    # quick where it matters most: a browser starting a client-side game (~0.1 s in Pyodide).
    if name == "check_env":
        from mug.env.check import check_env

        return check_env
    raise AttributeError(f"module 'mug.env' has no attribute {name!r}")


__all__ = [
    "FRAME_ID",
    "OBJECT_TYPES",
    "EnvAdapter",
    "EnvCheckError",
    "EnvContractError",
    "RGBFrame",
    "RenderDiffer",
    "RenderStateError",
    "StepResult",
    "Surface",
    "check_env",
    "encode_png",
    "png_data_url",
    "spaces",
    "to_jsonable",
    "validate_render_state",
]
