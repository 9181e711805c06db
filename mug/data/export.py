"""Exporting an experiment's data to CSV or Parquet files."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from .results import Results, load_results
from .schema import METADATA_FILENAME

__all__ = ["EXPORT_FORMATS", "export_results"]

#: Formats :func:`export_results` writes.
EXPORT_FORMATS: tuple[str, ...] = ("csv", "parquet")


def export_results(
    path: str | os.PathLike[str] | Results,
    out_dir: str | os.PathLike[str],
    format: str = "csv",
    *,
    simulated: bool | Literal["only"] = False,
) -> list[Path]:
    """Write one file per table (``steps.csv``, ``episodes.csv``, ...) plus ``experiment.json``.

    Args:
        path: the experiment's data folder or database file, its PostgreSQL database URL (or
            already loaded :class:`Results`).
        out_dir: folder to write into (created if missing). Existing files of
            the same names are replaced; each file is written to a temporary
            name first and renamed, so a reader never sees a half-written file.
        format: ``"csv"`` or ``"parquet"`` (Parquet needs ``pyarrow``).
        simulated: simulated participants' data (docs/simulate.md) is left out unless ``True``
            (with it) or ``"only"``, as in :func:`~mug.data.load_results` (not used with ``Results``).

    Returns:
        The written paths, tables in :data:`~mug.data.results.RESULT_TABLES`
        order, then ``experiment.json`` when the experiment has metadata.

    In the files, list and dict cells (e.g. multi-discrete actions, list
    answers) are JSON text; in Parquet a column whose values have mixed types
    is JSON text as well.
    """
    if format not in EXPORT_FORMATS:
        allowed = ", ".join(repr(f) for f in EXPORT_FORMATS)
        raise ValueError(f"unknown export format {format!r}; allowed: {allowed}")
    if format == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise ImportError("Parquet export needs pyarrow: pip install pyarrow (or mug-py[parquet])")
    results = path if isinstance(path, Results) else load_results(path, simulated=simulated)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, frame in results.tables().items():
        target = out / f"{name}.{format}"
        if format == "csv":
            frame = _json_cells(frame)
            _atomic(target, lambda tmp, frame=frame: frame.to_csv(tmp, index=False))
        else:
            frame = _parquet_ready(frame)
            _atomic(target, lambda tmp, frame=frame: frame.to_parquet(tmp, index=False, engine="pyarrow"))
        written.append(target)
    # (a SQLite data folder has the file; a PostgreSQL database keeps it in its metadata table)
    source = results.path / METADATA_FILENAME if isinstance(results.path, Path) else None
    target = out / METADATA_FILENAME
    if source is not None and source.is_file():
        if source.resolve() != target.resolve():
            _atomic(target, lambda tmp: shutil.copyfile(source, tmp))
        written.append(target)
    elif results.metadata:
        text = json.dumps(results.metadata, indent=2) + "\n"
        _atomic(target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        written.append(target)
    return written


def _to_json(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def _json_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with list/dict cells turned into JSON text."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if column.dtype == object and column.map(lambda v: isinstance(v, (list, dict))).any():
            out[name] = column.map(_to_json)
    return out


def _parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Like :func:`_json_cells`, and mixed-type object columns become JSON text too."""
    import pyarrow as pa

    out = _json_cells(frame)
    for name in out.columns:
        column = out[name]
        if column.dtype != object:
            continue
        try:
            pa.array(column, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            out[name] = column.map(lambda v: v if v is None or v is pd.NA else json.dumps(v))
    return out


def _atomic(target: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
