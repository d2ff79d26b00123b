"""Id sessions: keys, explode, ordering, labels and the aggregated columns."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from logad.sessions import SEQUENCES_SCHEMA, apply_session_labels, build_sequences, key_rows, sessions_by_key
from tests.sessions.factory import make_events, ts

BLOCKS = {"block_ids": pa.list_(pa.string())}
INSTANCE = {"instance_id": pa.string()}


def _by_id(table: pa.Table) -> dict[str, dict]:
    return {r["session_id"]: r for r in table.to_pylist()}


def test_explode_puts_a_two_block_line_in_both_sessions_and_rejects_lines_without_block():
    ev = make_events([
        {"block_ids": ["blk_1"], "t": 0},
        {"block_ids": ["blk_1", "blk_2"], "t": 1, "content": "both"},
        {"block_ids": [], "t": 2},
        {"block_ids": None, "t": 3},
        {"block_ids": ["blk_2", "blk_2"], "t": 4, "content": "twice"},
    ], extra=BLOCKS)
    keyed, rejected = key_rows(ev, "block_ids", explode=True)
    assert sorted(rejected.column("line_no").to_pylist()) == [3, 4]
    assert set(rejected.column("reason").to_pylist()) == {"no session key: block_ids is null or empty"}
    assert rejected.column("raw").to_pylist() == ["raw 3", "raw 4"]
    seqs = _by_id(build_sequences(keyed))
    assert set(seqs) == {"blk_1", "blk_2"}
    assert "both" in seqs["blk_1"]["messages"] and "both" in seqs["blk_2"]["messages"]
    assert seqs["blk_2"]["messages"].count("twice") == 1  # a block named twice in a line counts once
    assert [r["line_no"] for r in seqs["blk_2"]["refs"]] == [2, 5]
    # every line with a key is in some session: read = sessioned + rejected
    lines_in_sessions = {r["line_no"] for s in seqs.values() for r in s["refs"]}
    assert len(lines_in_sessions) + rejected.num_rows == ev.num_rows


def test_instance_key_rejects_null_and_empty():
    ev = make_events([{"instance_id": "i-1"}, {"instance_id": None}, {"instance_id": ""},
                      {"instance_id": "i-2"}, {"instance_id": "i-1"}], extra=INSTANCE)
    keyed, rejected = key_rows(ev, "instance_id")
    assert keyed.num_rows == 3 and rejected.num_rows == 2
    seqs = _by_id(build_sequences(keyed))
    assert seqs["i-1"]["seq_len"] == 2 and seqs["i-2"]["seq_len"] == 1


def test_events_are_ordered_by_timestamp_then_line_number_then_order_with_null_times_last():
    rows = [
        {"instance_id": "a", "line_no": 5, "t": 10, "template_id": "late"},
        {"instance_id": "a", "line_no": 9, "t": 1, "template_id": "first"},
        {"instance_id": "a", "line_no": 2, "t": None, "template_id": "no_time"},
        {"instance_id": "a", "line_no": 7, "t": 5, "template_id": "tie_b"},
        {"instance_id": "a", "line_no": 3, "t": 5, "template_id": "tie_a"},
        {"instance_id": "a", "line_no": 3, "order": 1, "t": 5, "template_id": "tie_a0"},
    ]
    row = sessions_by_key(make_events(rows, extra=INSTANCE), "instance_id").to_pylist()[0]
    assert row["event_ids"] == ["first", "tie_a0", "tie_a", "tie_b", "late", "no_time"]
    assert row["timestamps"][0] == ts(1) and row["timestamps"][-1] is None
    assert row["start_time"] == ts(1)
    assert row["duration_sec"] == pytest.approx(9.0)
    assert row["first_order"] == 1


def test_aggregates_and_schema():
    ev = make_events([
        {"path": "x.log", "line_no": 1, "t": 0.5, "level": "error", "template_id": "A", "content": "m1"},
        {"path": "x.log", "line_no": 2, "t": 2.0, "level": "FATAL", "template_id": "B", "content": "m2"},
        {"path": "x.log", "line_no": 3, "t": 3.0, "level": None, "template_id": "A", "content": "m3"},
        {"path": "y.log", "line_no": 1, "t": 9.0, "level": "WARN", "template_id": "C", "content": "m4"},
    ])
    seqs = sessions_by_key(ev, "path")
    assert seqs.schema == SEQUENCES_SCHEMA
    x = _by_id(seqs)["x.log"]
    assert (x["seq_len"], x["n_distinct"], x["n_error"]) == (3, 2, 2)
    assert x["levels"] == ["error", "FATAL", None]
    assert x["messages"] == ["m1", "m2", "m3"]
    assert x["refs"] == [{"path": "x.log", "line_no": i} for i in (1, 2, 3)]
    assert x["duration_sec"] == pytest.approx(2.5)
    assert x["split"] is None and x["source"] == "S"
    y = _by_id(seqs)["y.log"]
    assert y["duration_sec"] == 0.0 and y["n_error"] == 0
    no_msg = sessions_by_key(ev, "path", keep_messages=False)
    assert all(m == [] for m in no_msg.column("messages").to_pylist())


def test_no_timestamps_give_null_start_and_zero_duration():
    ev = make_events([{"instance_id": "a"}, {"instance_id": "a"}], extra=INSTANCE)
    row = sessions_by_key(ev, "instance_id").to_pylist()[0]
    assert row["start_time"] is None and row["duration_sec"] == 0.0


def test_line_labels_any_anomalous_line_and_null_when_unknown():
    ev = make_events([
        {"instance_id": "a", "label": 0}, {"instance_id": "a", "label": 1},
        {"instance_id": "b", "label": 0}, {"instance_id": "b", "label": None},
        {"instance_id": "c", "label": None},
    ], extra=INSTANCE)
    labels = {r["session_id"]: r["label"] for r in sessions_by_key(ev, "instance_id").to_pylist()}
    assert labels == {"a": 1, "b": 0, "c": None}


def test_labels_table_wins_over_line_labels_where_present():
    ev = make_events([{"block_ids": ["blk_1"], "label": 0}, {"block_ids": ["blk_2"], "label": 1},
                      {"block_ids": ["blk_3"], "label": None}], extra=BLOCKS)
    labels = pa.table({"session_key": ["blk_1", "blk_3", "blk_9"], "label": pa.array([1, 0, 1], pa.int8())})
    seqs = sessions_by_key(ev, "block_ids", explode=True, labels=labels)
    assert {r["session_id"]: r["label"] for r in seqs.to_pylist()} == {"blk_1": 1, "blk_2": 1, "blk_3": 0}
    assert seqs.schema.field("label").type == pa.int8()
    assert apply_session_labels(seqs, None) is seqs


def test_building_sessions_in_pieces_equals_building_them_together():
    rows = [{"block_ids": [f"blk_{i % 4}", f"blk_{(i * 7) % 5}"], "t": (i * 13) % 11, "label": i % 2}
            for i in range(40)]
    keyed, _ = key_rows(make_events(rows, extra=BLOCKS), "block_ids", explode=True)
    whole = build_sequences(keyed)
    parts = []
    for key in set(keyed.column("_session").to_pylist()):
        parts.append(build_sequences(keyed.filter(pc.equal(keyed["_session"], key))))
    together = pa.concat_tables(parts).sort_by("session_id")
    assert together.equals(whole.sort_by("session_id"))


def test_build_rejects_tables_without_required_columns():
    from logad.errors import InputError

    ev = make_events([{"instance_id": "a"}], extra=INSTANCE).drop_columns(["template_id"])
    with pytest.raises(InputError, match="template_id"):
        sessions_by_key(ev, "instance_id")
