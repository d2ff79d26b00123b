"""False positives, false negatives and the raw log lines behind a session.

Raw lines are read back from the ``events`` table (``path``, ``line_no``, ``raw``) through the
``refs`` each session keeps, so they work for archives and remote files alike; only the rows
asked for are read (a filter on path and line range).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logad.io.stage import dataset_of, open_stage
from logad.io.store import is_remote

__all__ = ["events_files", "read_lines", "error_cases", "session_refs"]


def events_files(folder: str | Path | None) -> list[str]:
    """The parts of a finished ``logad parse`` (or ``ingest``) output: the folder itself or its
    ``events/``. Only parts its manifest lists are read (a run still going, or killed, is an
    :class:`~logad.errors.InputError` naming the folder); no folder given or none there: ``[]``.
    """
    if folder is None or (not is_remote(folder) and not Path(folder).is_dir()):
        return []
    return [str(f) for f in open_stage(folder, ("parse", "ingest")).files]


def read_lines(files: Sequence[str], wanted: Iterable[tuple[str, int]], context: int = 0
               ) -> dict[tuple[str, int], list[dict]]:
    """For each ``(path, line_no)``: the lines ``line_no - context .. line_no + context`` of it.

    Returns ``{(path, line_no): [{"line_no", "raw", "at"}...]}`` (``at`` marks the asked line);
    a line the events table does not hold is left out (an empty list).
    """
    wanted = sorted(set((str(p), int(n)) for p, n in wanted if p is not None and n is not None))
    out: dict[tuple[str, int], list[dict]] = {w: [] for w in wanted}
    if not wanted or not files:
        return out
    import pyarrow.dataset as pads

    ds = dataset_of(files)
    cols = [c for c in ("path", "line_no", "raw", "content") if c in ds.schema.names]
    by_path: dict[str, list[int]] = {}
    for p, n in wanted:
        by_path.setdefault(p, []).append(n)
    expr = None
    for p, ns in by_path.items():
        e = (pads.field("path") == p) & (pads.field("line_no") >= min(ns) - context) & \
            (pads.field("line_no") <= max(ns) + context)
        expr = e if expr is None else expr | e
    t = ds.to_table(columns=cols, filter=expr)
    text = t.column("raw" if "raw" in cols else "content").to_pylist()
    rows: dict[str, dict[int, str]] = {}
    for p, n, r in zip(t.column("path").to_pylist(), t.column("line_no").to_pylist(), text):
        rows.setdefault(p, {})[n] = r
    for p, n in wanted:
        lines = rows.get(p, {})
        out[(p, n)] = [{"line_no": k, "raw": lines[k], "at": k == n}
                       for k in range(n - context, n + context + 1) if k in lines]
    return out


def session_refs(sequences: pa.Table, limit: int) -> dict[str, list[tuple[str, int]]]:
    """The first ``limit`` refs (path, line_no) of each session of a sequences table."""
    out = {}
    for sid, refs in zip(sequences.column("session_id").to_pylist(), sequences.column("refs").to_pylist()):
        out[sid] = [(r["path"], r["line_no"]) for r in (refs or [])[:limit]]
    return out


def error_cases(scores: pa.Table, n: int = 20) -> dict[str, pa.Table]:
    """False positives (flagged normals, highest score first) and false negatives (missed
    anomalies, lowest score first: the most confident misses) among labelled sessions."""
    label = scores.column("label")
    known = pc.is_valid(label)
    t = scores.filter(known)
    flag = t.column("is_anomaly").to_numpy(zero_copy_only=False).astype(bool)
    y = t.column("label").to_numpy(zero_copy_only=False).astype(int)
    s = t.column("score").to_numpy()
    sid = np.asarray(t.column("session_id").to_pylist(), dtype=object)
    fp = np.flatnonzero(flag & (y == 0))
    fn = np.flatnonzero(~flag & (y == 1))
    fp = fp[np.lexsort((sid[fp], -s[fp]))][:n]
    fn = fn[np.lexsort((sid[fn], s[fn]))][:n]
    return {"false_positives": t.take(pa.array(fp, pa.int64())),
            "false_negatives": t.take(pa.array(fn, pa.int64()))}
