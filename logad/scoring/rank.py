"""The pure parts of the rank pass: keys in rank order, samples, cut points and bounded buckets.

A model's rank order is (score descending, session id ascending), NaN scores last, as
:func:`logad.scoring.parts.sort_for_rank` sorts. Every staged part is written in that order, so
the rows of a part between two keys are one contiguous slice, found by binary search
(:func:`key_positions`). Cut points are keys, not scores: a run of equal scores can be cut
between two session ids, so buckets stay balanced whatever the score distribution.

The runner samples every :func:`sample_step`-th key of each part, from a start of its own
(:func:`sample_keys`, :func:`sample_offset`: a systematic sample, unbiased), cuts the
pooled sample every :func:`cut_every`-th key (:func:`cut_keys`) and splits every part along
those cuts into bucket fragments. A bucket that still holds more than ``rows_per_bucket`` rows
(unlikely: the sample is 32 keys per bucket size) is cut again from all of its own keys
(:func:`exact_cuts`), so no worker ever sorts more than ``rows_per_bucket`` rows (as long as
session ids are unique within a model).

Staged parts and fragments are Arrow IPC files (:func:`write_staged`, :func:`read_staged`):
read through a memory map, a slice costs only the pages it touches.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logad.io import atomic_path, is_remote

__all__ = ["Key", "SAMPLES_PER_BUCKET", "sample_step", "cut_every", "rank_key", "sample_keys",
           "sample_offset",
           "cut_keys", "key_positions", "exact_cuts", "write_staged", "read_staged", "staged_files"]

#: A row's place in rank order: (score, session id).
Key = tuple[float, str]

#: Keys sampled per ``rows_per_bucket`` rows: more keys, more even buckets, more driver memory.
SAMPLES_PER_BUCKET = 32


def sample_step(rows_per_bucket: int) -> int:
    """Every how many rows of a sorted part one key is sampled."""
    return max(1, int(rows_per_bucket) // SAMPLES_PER_BUCKET)


def cut_every(rows_per_bucket: int) -> int:
    """Every how many pooled sample keys a bucket is cut: buckets of about half the bound."""
    return max(1, int(rows_per_bucket) // (2 * sample_step(rows_per_bucket)))


def rank_key(key: Key) -> tuple[bool, float, str]:
    """A sort key for Python's ``sorted`` in rank order (NaN scores last)."""
    score, sid = key
    nan = math.isnan(score)
    return nan, 0.0 if nan else -score, sid


def sample_keys(score: np.ndarray, session_id: Sequence[str], step: int, offset: int = 0) -> list[Key]:
    """Keys at rows ``offset, offset + step, ...`` of one model's rows in rank order.

    Each part should start at its own ``offset`` in ``[0, step)`` (:func:`sample_offset`): with
    one fixed start every part would give keys of the same quantile, and a part smaller than
    ``step`` either none or always one.

    >>> sample_keys(np.array([0.9, 0.5, 0.5, 0.1]), ["a", "b", "c", "d"], 2, 1)
    [(0.5, 'b'), (0.1, 'd')]
    """
    return [(float(score[i]), str(session_id[i])) for i in range(offset, len(score), step)]


def sample_offset(name: str, step: int) -> int:
    """Where in ``[0, step)`` the sample of the part called ``name`` starts (from its name only,
    so never from the workers).

    >>> 0 <= sample_offset("part-0.parquet", 7) < 7
    True
    """
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % max(1, int(step))


def cut_keys(samples: Sequence[Key], every: int) -> list[Key]:
    """Every ``every``-th key of the pooled ``samples`` in rank order: bucket ``k`` holds the
    rows after cut ``k - 1`` up to and including cut ``k`` (the last bucket: all rows after the
    last cut), so ``len(cuts) + 1`` buckets.

    >>> cut_keys([(0.1, "d"), (0.9, "a"), (0.5, "c"), (0.5, "b")], 2)
    [(0.5, 'b'), (0.1, 'd')]
    """
    ordered = sorted(samples, key=rank_key)
    return ordered[every - 1::every]


def key_positions(score: np.ndarray, session_id: np.ndarray, cuts: Sequence[Key]) -> np.ndarray:
    """For each cut, how many rows of a slice in rank order come at or before it (int64).

    ``session_id`` is an object array; within a run of equal scores it is ascending.

    >>> key_positions(np.array([0.9, 0.5, 0.5, 0.1]), np.array(list("abcd"), dtype=object),
    ...               [(0.5, "b"), (0.5, "bb"), (0.0, "a")]).tolist()
    [2, 2, 4]
    """
    neg = -np.asarray(score, dtype=np.float64)  # ascending, NaN last (numpy's order, and Arrow's)
    out = np.empty(len(cuts), dtype=np.int64)
    for k, (s, sid) in enumerate(cuts):
        lo = int(np.searchsorted(neg, -s, "left"))
        hi = int(np.searchsorted(neg, -s, "right"))
        out[k] = bisect.bisect_right(session_id, sid, lo, hi) if hi > lo else lo
    return out


def exact_cuts(score: np.ndarray, session_id: np.ndarray, rows_per_bucket: int) -> list[Key]:
    """Cuts that split rows (in any order) into buckets of exactly ``rows_per_bucket`` rows
    (the last one the rest), from all of their keys.

    >>> exact_cuts(np.array([0.1, 0.5, 0.9]), np.array(list("abc"), dtype=object), 2)
    [(0.5, 'b')]
    """
    t = pa.table({"score": pa.array(score, pa.float64()), "session_id": pa.array(session_id, pa.string())})
    t = t.take(pc.sort_indices(t, sort_keys=[("score", "descending"), ("session_id", "ascending")]))
    pos = np.arange(rows_per_bucket - 1, t.num_rows - 1, rows_per_bucket)
    s = t.column("score").to_numpy()
    ids = t.column("session_id").to_pylist()
    return [(float(s[i]), ids[i]) for i in pos]


def write_staged(table: pa.Table, path: str | Path) -> None:
    """Write ``table`` as one Arrow IPC file, atomically (temp name, then rename; on object
    storage one upload)."""
    with atomic_path(path) as tmp:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)


def read_staged(path: str | Path, columns: Sequence[str] | None = None) -> pa.Table:
    """A staged IPC file through a memory map (on object storage: its bytes), only
    ``columns`` when given."""
    if is_remote(path):
        from fsspec.core import url_to_fs

        fs, where = url_to_fs(str(path))
        source = pa.BufferReader(fs.cat_file(where))
    else:
        source = pa.memory_map(str(path))
    table = pa.ipc.open_file(source).read_all()
    return table.select(list(columns)) if columns is not None else table


def staged_files(folder: str | Path) -> list[str | Path]:
    """The staged ``*.arrow`` files of a bucket folder, by name (local or object storage)."""
    if is_remote(folder):
        from fsspec.core import url_to_fs

        url = str(folder).rstrip("/")
        fs, where = url_to_fs(url)
        scheme = url.split("://", 1)[0]
        return sorted(f"{scheme}://{p}" for p in fs.glob(f"{where}/*.arrow"))
    return sorted(Path(folder).glob("*.arrow"))
