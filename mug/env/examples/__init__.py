"""Example envs for MUG, pure Python so they run on the server and inside Pyodide.

- :class:`CatchEnv` — catch falling fruit with a basket (single player, arrow keys).
"""

from mug.env.examples.catch import CatchEnv

__all__ = ["CatchEnv"]
