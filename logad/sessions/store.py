"""Read a ``sequences`` folder written by ``logad sessionize`` (local paths)."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from logad.errors import InputError
from logad.schema import require_columns
from logad.sessions.schema import SEQUENCES_SCHEMA
from logad.sessions.split import session_order

__all__ = ["read_sequences"]


def read_sequences(path: str | os.PathLike, *, splits: str | Sequence[str] | None = None,
                   columns: Sequence[str] | None = None) -> pa.Table:
    """All sessions of a sessionize output, in session order (independent of how Ray wrote files).

    Parameters
    ----------
    path : path
        The sessionize ``--out`` folder, or its ``sequences/`` folder.
    splits : str or sequence of str, optional
        Keep only these splits (``"train"``, ``"val"``, ``"test"``).
    columns : sequence of str, optional
        Columns to read (``session_id``, ``start_time``, ``first_order`` are always read, for the order).

    Returns
    -------
    pyarrow.Table
        :data:`SEQUENCES_SCHEMA` columns (or the requested subset), rows sorted by start time,
        first line order, session id.
    """
    folder = Path(path)
    if (folder / "sequences").is_dir():
        folder = folder / "sequences"
    files = sorted(glob.glob(str(folder / "*.parquet")))
    if not files:
        raise InputError(f"{path}: no sequences Parquet files; run `logad sessionize` first")
    want = list(dict.fromkeys([*(columns or SEQUENCES_SCHEMA.names), "session_id", "start_time",
                               "first_order", *(["split"] if splits is not None else [])]))
    require_columns(pq.read_schema(files[0]), want, f"{files[0]}")
    schema = pa.schema([SEQUENCES_SCHEMA.field(c) for c in want])
    table = pa.concat_tables([pq.read_table(f, columns=want).cast(schema) for f in files])
    if splits is not None:
        names = [splits] if isinstance(splits, str) else list(splits)
        table = table.filter(pc.is_in(table.column("split"), value_set=pa.array(names, pa.string())).fill_null(False))
    table = table.take(pa.array(session_order(table)))
    return table.select(list(columns)) if columns else table
