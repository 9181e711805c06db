"""Example envs for MUG, pure Python so they run on the server and inside Pyodide.

- :class:`CatchEnv` — catch falling fruit with a basket (single player, arrow keys).
- :class:`PaddlesEnv` — two players bounce a ball past each other (peer-to-peer example).
"""

from mug.env.examples.catch import CatchEnv
from mug.env.examples.paddles import PaddlesEnv

__all__ = ["CatchEnv", "PaddlesEnv"]
