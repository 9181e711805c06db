"""MUG's data layer: the experiment's store (SQLite or PostgreSQL), results as DataFrames, export.

* :class:`Store` -- what the server writes through (participants, scene visits,
  forms, steps, episodes, games, events, client-side records, metadata);
  :func:`open_store` opens an experiment's (its ``database`` URL, else its data folder).
* :mod:`mug.data.backends` -- what differs between SQLite and PostgreSQL.
* :func:`load_results` -- an experiment's data as pandas DataFrames.
* :func:`export_results` -- the same tables as CSV or Parquet files.
* :mod:`mug.data.parity` -- peer-to-peer games: every peer's rows, and whether they agree.

See ``docs/data.md`` for where data lives and every column.
"""

from ._json import RecordError
from .export import EXPORT_FORMATS, export_results
from .results import RESULT_TABLES, Results, load_results
from .schema import DB_FILENAME, METADATA_FILENAME, SCHEMA_VERSION
from .store import ParticipantRecord, Store, open_store

__all__ = [
    "DB_FILENAME",
    "EXPORT_FORMATS",
    "METADATA_FILENAME",
    "RESULT_TABLES",
    "SCHEMA_VERSION",
    "ParticipantRecord",
    "RecordError",
    "Results",
    "Store",
    "export_results",
    "load_results",
    "open_store",
]
