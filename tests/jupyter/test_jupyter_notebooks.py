"""Every notebook in notebooks/ runs top to bottom in a fresh kernel, headless."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ has no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_jupyter_notebook_runs_headless(path: Path, tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    work = tmp_path / "work"
    shutil.copytree(path.parent, work, ignore=shutil.ignore_patterns("data", ".ipynb_checkpoints"))
    book = nbformat.read(work / path.name, as_version=4)
    client = NotebookClient(
        book, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(work)}}, allow_errors=False
    )
    client.execute()
    outputs = [output for cell in book.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    errors = [
        output
        for output in outputs
        if output.get("output_type") == "error"
        or (output.get("name") == "stderr" and "Traceback" in output.get("text", ""))
    ]
    assert not errors, errors
