"""Window sessions checked against brute-force definitions."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pyarrow as pa
import pytest

from logad.sessions import fixed_windows, parse_duration, sliding_windows, time_windows
from logad.sessions.windows import last_window, time_window_rows, window_index
from tests.sessions.factory import make_events, ts


def _brute_windows(n: int, size: int, step: int) -> list[list[int]]:
    """Rank lists of the windows: starts 0, step, ... up to the first window reaching the end."""
    out, start = [], 0
    while True:
        out.append(list(range(start, min(start + size, n))))
        if start + size >= n:
            return out
        start += step


@pytest.mark.parametrize("n,size,step", [(10, 4, 4), (10, 4, 2), (9, 3, 1), (3, 5, 2), (1, 1, 1), (17, 6, 5)])
def test_window_index_matches_brute_force(n, size, step):
    rows, k = window_index(np.arange(n), size, step, last_window(n, size, step))
    got: dict[int, list[int]] = {}
    for r, w in zip(rows.tolist(), k.tolist()):
        got.setdefault(w, []).append(r)
    assert [got[w] for w in sorted(got)] == _brute_windows(n, size, step)


def test_window_index_rejects_bad_step():
    with pytest.raises(ValueError, match="step"):
        window_index(np.arange(3), 2, 3)
    with pytest.raises(ValueError, match="size"):
        window_index(np.arange(3), 0, 1)


def _lines(n: int, anomalous: set[int], source: str = "B", shuffle: bool = True) -> pa.Table:
    rows = [{"source": source, "line_no": i + 1, "order": 100 + 3 * i, "t": i,
             "template_id": f"e{i}", "label": int(i in anomalous)} for i in range(n)]
    if shuffle:
        random.Random(4).shuffle(rows)
    return make_events(rows)


def test_fixed_windows_cover_all_lines_in_global_order_and_label_any_anomalous():
    seqs = fixed_windows(_lines(10, anomalous={5}), 4).sort_by("first_order")
    assert seqs.column("event_ids").to_pylist() == [[f"e{i}" for i in r] for r in ([0, 1, 2, 3], [4, 5, 6, 7], [8, 9])]
    assert seqs.column("label").to_pylist() == [0, 1, 0]
    assert seqs.column("session_id").to_pylist() == ["B:w100", "B:w112", "B:w124"]


def test_sliding_windows_match_brute_force_and_labels():
    n, size, step, bad = 11, 4, 3, {6}
    seqs = sliding_windows(_lines(n, anomalous=bad), size, step).sort_by("first_order")
    want = _brute_windows(n, size, step)
    assert seqs.column("event_ids").to_pylist() == [[f"e{i}" for i in w] for w in want]
    assert seqs.column("label").to_pylist() == [int(bool(bad & set(w))) for w in want]
    assert len(set(seqs.column("session_id").to_pylist())) == len(want)


def test_windows_are_per_source():
    ev = pa.concat_tables([_lines(5, set(), "A"), _lines(3, {0}, "B")])
    seqs = fixed_windows(ev, 2)
    assert sorted(seqs.column("session_id").to_pylist()) == ["A:w100", "A:w106", "A:w112", "B:w100", "B:w106"]
    for row in seqs.to_pylist():
        assert row["source"] == row["session_id"].split(":")[0]


def test_time_windows_match_brute_force_and_reject_lines_without_time():
    times = [0, 10, 29, 30, 31, 59, 61, 130, None]
    ev = make_events([{"t": t, "template_id": f"e{i}", "label": int(i == 4)} for i, t in enumerate(times)])
    keyed, rejected = time_window_rows(ev, 60, 30)
    assert rejected.column("line_no").to_pylist() == [9]
    assert rejected.column("reason").to_pylist() == ["no timestamp"]
    seqs = time_windows(ev, 60, 30)
    epoch = dt.datetime(1970, 1, 1)
    base = int((ts(0) - epoch).total_seconds())  # T0 in seconds since the epoch (naive = UTC)
    want: dict[int, list[int]] = {}
    for i, t in enumerate(times):
        if t is None:
            continue
        for start in range(((base + t) // 30 - 3) * 30, base + t + 1, 30):
            if start <= base + t < start + 60:
                want.setdefault(start, []).append(i)
    got = {int((dt.datetime.fromisoformat(r["session_id"].split(":t")[1]) - epoch).total_seconds()): r
           for r in seqs.to_pylist()}
    assert sorted(got) == sorted(want)
    for start, idx in want.items():
        assert got[start]["event_ids"] == [f"e{i}" for i in idx]
        assert got[start]["label"] == int(4 in idx)
    assert "S:t2023-12-31T23:59:30" in seqs.column("session_id").to_pylist()  # epoch-aligned, 30 s before T0


def test_time_windows_tumbling_by_default_and_reject_bad_step():
    ev = make_events([{"t": t} for t in (0, 59, 60, 200)])
    assert sorted(time_windows(ev, 60).column("seq_len").to_pylist()) == [1, 1, 2]
    with pytest.raises(ValueError, match="step"):
        time_windows(ev, 60, 90)


@pytest.mark.parametrize("text,secs", [("60s", 60.0), ("5m", 300.0), ("1.5h", 5400.0), ("500ms", 0.5),
                                       ("2d", 172800.0), ("45", 45.0), (30, 30.0)])
def test_parse_duration(text, secs):
    assert parse_duration(text) == pytest.approx(secs)


@pytest.mark.parametrize("bad", ["", "10x", "-5s", "0", "s"])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)
