"""What a researcher reaches as attributes after a plain ``import mug`` (no ``from ... import``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_env_spaces_is_an_attribute_after_import_mug() -> None:
    # A fresh interpreter: inside pytest another test may already have imported mug.env.spaces,
    # which would set the attribute and hide the problem.
    probe = textwrap.dedent(
        """
        import mug
        space = mug.env.spaces.Discrete(3, seed=1)
        assert space.contains(space.sample())
        print(space.n)
        """
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"
