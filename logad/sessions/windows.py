"""Window sessions for line-labelled logs (BGL, Thunderbird): pure functions, no Ray.

Line-count windows follow the global input ``order`` within each ``source``: a line's *rank* is
its position in that order (0-based). Window ``k`` holds ranks ``[k*step, k*step + size)``;
windows start at ``0, step, 2*step, ...`` and stop with the first window that reaches the last
line, so the tail is never a window nested in the previous one (the last window may be shorter).
Fixed windows are sliding windows with ``step == size``. Session id: ``<source>:w<first_order>``.

Time windows are aligned to the Unix epoch: window ``k`` covers
``[k*step, k*step + span)`` seconds, so they do not depend on where the data starts or how it is
split. Only windows holding at least one line exist. Lines without a timestamp cannot be placed
and are rejected. Session id: ``<source>:t<window start, ISO 8601>``.

A window is anomalous when any of its lines is (``label`` = max of line labels).
"""

from __future__ import annotations

import math
import re
from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logad.schema import require_columns
from logad.sessions.build import SESSION_COL, build_sequences, rejected_rows
from logad.sessions.schema import ERROR_LEVELS

__all__ = ["RANK_BUCKET_BITS", "parse_duration", "window_index", "last_window", "line_ranks",
           "count_window_rows", "time_window_rows", "fixed_windows", "sliding_windows",
           "time_windows"]

#: The distributed ranker groups lines by ``order >> RANK_BUCKET_BITS`` (at most 65,536 lines).
RANK_BUCKET_BITS = 16
_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*$")


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``"60s"``, ``"5m"``, ``"1.5h"``, ``"500ms"``, ``"2d"`` or a bare number.

    >>> parse_duration("5m"), parse_duration(30)
    (300.0, 30.0)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        secs = float(value)
    else:
        m = _DURATION.match(str(value).lower())
        if not m or m.group(2) not in ("", *_UNITS):
            raise ValueError(f"not a duration: {value!r} (use e.g. 60s, 5m, 1h, 500ms)")
        secs = float(m.group(1)) * _UNITS.get(m.group(2) or "s", 1.0)
    if secs <= 0:
        raise ValueError(f"duration must be positive, got {value!r}")
    return secs


def last_window(n_lines: int, size: int, step: int) -> int:
    """Index of the last window over ``n_lines`` lines: the first one reaching the last line."""
    return max(0, math.ceil((n_lines - size) / step))


def window_index(rank: np.ndarray, size: int, step: int,
                 k_max: np.ndarray | int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(row, k)``: row ``i`` (rank ``rank[i]``) lies in windows ``k`` of the sliding windows.

    Parameters
    ----------
    rank : ndarray of int64, shape (n,)
    size, step : int
        Window length and distance between window starts, in lines; ``1 <= step <= size``.
    k_max : int or ndarray, optional
        Last window (per row), see :func:`last_window`; no limit when ``None``.

    Returns
    -------
    rows, k : ndarray of int64, shape (m,)
        ``m = sum over rows of the number of windows each row is in``; rows ascend.

    >>> window_index(np.array([0, 1, 2, 3]), size=2, step=1, k_max=2)[1].tolist()
    [0, 0, 1, 1, 2, 2]
    """
    if not (isinstance(size, (int, np.integer)) and size >= 1):
        raise ValueError(f"window size must be an integer >= 1, got {size!r}")
    if not (isinstance(step, (int, np.integer)) and 1 <= step <= size):
        raise ValueError(f"window step must be an integer in [1, size={size}], got {step!r}")
    rank = np.asarray(rank, dtype=np.int64)
    k_lo = np.maximum(0, (rank - size + step) // step)
    k_hi = rank // step
    if k_max is not None:
        k_hi = np.minimum(k_hi, np.asarray(k_max, dtype=np.int64))
    counts = k_hi - k_lo + 1
    rows = np.repeat(np.arange(len(rank), dtype=np.int64), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    k = np.repeat(k_lo, counts) + (np.arange(len(rows), dtype=np.int64) - first)
    return rows, k


def line_ranks(events: pa.Table) -> np.ndarray:
    """Rank of each row within its ``source`` by ``order`` (in-memory version of the runner's ranker)."""
    idx = pc.sort_indices(events, sort_keys=[("source", "ascending"), ("order", "ascending")])
    idx = idx.to_numpy()
    src = events.column("source").take(pa.array(idx)).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
    pos = np.arange(len(idx), dtype=np.int64)
    rank_sorted = pos - np.repeat(starts, np.diff(np.r_[starts, len(idx)]))
    rank = np.empty(len(idx), dtype=np.int64)
    rank[idx] = rank_sorted
    return rank


def count_window_rows(events: pa.Table, rank: np.ndarray, totals: Mapping[str, int],
                      size: int, step: int) -> pa.Table:
    """Rows of ``events`` repeated once per line-count window they are in, keyed by ``_session``.

    ``totals`` maps each source to its number of lines (fixes the last window). The key is
    internal (``<source>\\x1f<k>``); :func:`build_sequences` with ``id_mode="first_order"``
    turns it into ``<source>:w<first_order>``.
    """
    src = events.column("source").to_numpy(zero_copy_only=False)
    k_max = np.array([last_window(int(totals[s]), size, step) for s in src], dtype=np.int64) \
        if len(src) else np.zeros(0, np.int64)
    rows, k = window_index(rank, size, step, k_max)
    out = events.take(pa.array(rows))
    keys = [f"{s}\x1f{w}" for s, w in zip(src[rows], k.tolist())]
    return out.append_column(SESSION_COL, pa.array(keys, pa.string()))


def time_window_rows(events: pa.Table, span_sec: float, step_sec: float | None = None
                     ) -> tuple[pa.Table, pa.Table]:
    """Rows repeated once per epoch-aligned time window they are in, and the rejected rows.

    Returns ``(keyed, rejected)``; ``keyed`` carries ``_session`` = ``<source>:t<start>``;
    ``rejected`` holds the lines without a timestamp (reason ``"no timestamp"``).
    """
    step_sec = span_sec if step_sec is None else step_sec
    span_us, step_us = int(round(span_sec * 1e6)), int(round(step_sec * 1e6))
    if not (0 < step_us <= span_us):
        raise ValueError(f"time window step must be in (0, span={span_sec}s], got {step_sec}s")
    require_columns(events, ["source", "timestamp", "path", "line_no"], "events")
    ts = events.column("timestamp").cast(pa.timestamp("us"))
    has_ts = np.asarray(pc.is_valid(ts).to_numpy(zero_copy_only=False), dtype=bool)
    rejected = rejected_rows(events, ~has_ts, "no timestamp")
    ev = events.filter(pa.array(has_ts))
    t = ev.column("timestamp").cast(pa.timestamp("us")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    k_lo = (t - span_us) // step_us + 1
    k_hi = t // step_us
    counts = k_hi - k_lo + 1
    rows = np.repeat(np.arange(len(t), dtype=np.int64), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    k = np.repeat(k_lo, counts) + (np.arange(len(rows), dtype=np.int64) - first)
    start = pa.array(k * step_us, pa.timestamp("us"))
    whole = span_us % 1_000_000 == 0 and step_us % 1_000_000 == 0
    start_txt = pc.strftime(start.cast(pa.timestamp("s"), safe=False) if whole else start,
                            format="%Y-%m-%dT%H:%M:%S")
    out = ev.take(pa.array(rows))
    keys = pc.binary_join_element_wise(out.column("source").cast(pa.string()), start_txt, ":t")
    return out.append_column(SESSION_COL, keys), rejected


def sliding_windows(events: pa.Table, size: int, step: int, *,
                    error_levels: Sequence[str] = ERROR_LEVELS, keep_messages: bool = True) -> pa.Table:
    """Sessions of ``size`` lines every ``step`` lines in global ``order`` (per source).

    Examples
    --------
    >>> ev = pa.table({"source": ["B"] * 3, "path": ["f"] * 3, "line_no": [1, 2, 3], "order": [1, 2, 3],
    ...                "timestamp": pa.array([None] * 3, pa.timestamp("us")), "level": ["I"] * 3,
    ...                "content": ["a", "b", "c"], "label": pa.array([0, 1, 0], pa.int8()),
    ...                "template_id": ["x", "y", "z"]})
    >>> sliding_windows(ev, 2, 1).select(["session_id", "label"]).to_pylist()
    [{'session_id': 'B:w1', 'label': 1}, {'session_id': 'B:w2', 'label': 1}]
    """
    if events.num_rows == 0:
        return build_sequences(events.append_column(SESSION_COL, pa.nulls(0, pa.string())))
    rank = line_ranks(events)
    vals, counts = np.unique(events.column("source").to_numpy(zero_copy_only=False), return_counts=True)
    keyed = count_window_rows(events, rank, dict(zip(vals, counts.tolist())), size, step)
    return build_sequences(keyed, id_mode="first_order", error_levels=error_levels,
                           keep_messages=keep_messages)


def fixed_windows(events: pa.Table, size: int, *, error_levels: Sequence[str] = ERROR_LEVELS,
                  keep_messages: bool = True) -> pa.Table:
    """Sessions of ``size`` consecutive lines (the last one may be shorter); see :func:`sliding_windows`."""
    return sliding_windows(events, size, size, error_levels=error_levels, keep_messages=keep_messages)


def time_windows(events: pa.Table, span_sec: float, step_sec: float | None = None, *,
                 error_levels: Sequence[str] = ERROR_LEVELS, keep_messages: bool = True) -> pa.Table:
    """Sessions of ``span_sec`` seconds every ``step_sec`` seconds (default: ``span_sec``).

    Lines without a timestamp are dropped; :func:`time_window_rows` returns them as rejected.
    """
    keyed, _ = time_window_rows(events, span_sec, step_sec)
    return build_sequences(keyed, error_levels=error_levels, keep_messages=keep_messages)
