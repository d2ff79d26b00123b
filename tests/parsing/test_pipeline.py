"""The whole parse stage in one process: blocks, determinism, cap, counts, incremental runs."""

from __future__ import annotations

import pyarrow as pa
import pytest

from logad.config import load_yaml
from logad.errors import LogadError
from logad.parsing.distinct import (DistinctTable, block_summary, distinct_block, mask_block,
                                    split_rejected, split_summary)
from logad.parsing.loghub import load_loghub_2k
from logad.parsing.masking import compile_passes, rules_from_config
from logad.parsing.miner import TemplateMiner
from logad.parsing.state import from_state, to_state
from logad.parsing.steps import parse_blocks
from logad.schema import UNKNOWN_TEMPLATE_ID
from tests.conftest import require_shared
from tests.parsing.factory import HDFS_LINES, events_table


def _passes(preset=None):
    return compile_passes(rules_from_config(load_yaml("masking"), preset))


def _blocks(table: pa.Table, n: int) -> list[pa.Table]:
    size = -(-table.num_rows // n)
    return [table.slice(i * size, size) for i in range(n)]


def _ids(parsed):
    return [i for t in parsed for i in t.column("template_id").to_pylist()]


@pytest.fixture(scope="module")
def mixed_events():
    root = require_shared("loghub_2k").parent
    contents = []
    for system in ("HDFS", "OpenStack", "Mac", "Linux"):
        contents += load_loghub_2k(root, system).content
    contents[17] = None  # one unparsable line
    return events_table(contents)


@pytest.mark.parametrize("n_blocks", [2, 4, 8])
def test_template_ids_do_not_depend_on_blocks(mixed_events, n_blocks):
    one, _, t1, _ = parse_blocks([mixed_events], _passes(), TemplateMiner())
    many, _, tn, _ = parse_blocks(_blocks(mixed_events, n_blocks), _passes(), TemplateMiner())
    assert _ids(one) == _ids(many)
    assert t1.equals(tn)


def test_block_order_inside_the_input_does_not_matter(mixed_events):
    blocks = _blocks(mixed_events, 4)
    fwd, _, _, _ = parse_blocks(blocks, _passes(), TemplateMiner())
    rev, _, _, _ = parse_blocks(blocks[::-1], _passes(), TemplateMiner())
    assert _ids(fwd) == _ids(rev[::-1])


def test_read_equals_parsed_plus_rejected(mixed_events):
    parsed, rejected, templates, _ = parse_blocks(_blocks(mixed_events, 3), _passes(), TemplateMiner())
    assert sum(t.num_rows for t in parsed) + rejected.num_rows == mixed_events.num_rows
    assert rejected.column("line_no").to_pylist() == [18]
    assert rejected.column("reason").to_pylist() == ["null content"]
    assert sum(templates.column("count").to_pylist()) == mixed_events.num_rows - 1


def test_distinct_keeps_first_occurrence_and_counts():
    t = events_table(["a 1", "b", "a 2", "b", "a 3"])
    d = distinct_block(mask_block(t, _passes())).sort_by("masked")
    assert d.to_pylist() == [{"masked": "a <*>", "first_order": 1, "lines": 3},
                             {"masked": "b", "first_order": 2, "lines": 2}]


def test_summary_round_trip():
    t = events_table(["a 1", None, "b"], path="f.log")
    parts = split_summary(block_summary(mask_block(t, _passes())))
    assert parts["file"].to_pylist() == [{"path": "f.log", "read": 3, "rejected": 1}]
    assert parts["rejected"].column("line_no").to_pylist() == [2]
    assert sorted(parts["distinct"].column("masked").to_pylist()) == ["a <*>", "b"]


def test_distinct_cap_fails_naming_the_setting():
    acc = DistinctTable(max_distinct=3, compact_every=1)
    t = mask_block(events_table(["a", "b", "c", "d"]), _passes())
    with pytest.raises(LogadError, match="max_distinct"):
        acc.add(distinct_block(t))
        acc.result()


def test_distinct_cap_counts_distinct_not_lines():
    acc = DistinctTable(max_distinct=2, compact_every=1)
    for _ in range(5):
        acc.add(distinct_block(mask_block(events_table(["x 1", "y 2", "x 3"]), _passes())))
    assert acc.result().column("lines").to_pylist() == [10, 5]


def test_split_rejected_keeps_good_rows():
    ok, rej = split_rejected(events_table(["a", None, "b"]))
    assert ok.column("content").to_pylist() == ["a", "b"] and rej.num_rows == 1


def test_incremental_run_keeps_first_corpus_ids():
    a = events_table(HDFS_LINES[:6])
    b = events_table(HDFS_LINES[6:] + ["Deleting block blk_123 file /mnt/x/blk_123"], file_index=1)
    miner = TemplateMiner()
    pa_, _, ta, _ = parse_blocks([a], _passes(), miner)
    state = to_state(miner)
    resumed = from_state(state)
    pb, _, tb, res = parse_blocks([events_table(HDFS_LINES[:6]), b], _passes(), resumed)
    assert _ids([pb[0]]) == _ids(pa_)  # same lines, same ids
    old = set(ta.column("template_id").to_pylist())
    assert old <= set(tb.column("template_id").to_pylist())
    new = tb.filter(pa.compute.field("new") == True)  # noqa: E712
    assert set(new.column("template_id").to_pylist()).isdisjoint(old) and new.num_rows >= 1


def test_match_only_creates_nothing_and_counts_unknown():
    miner = TemplateMiner()
    parse_blocks([events_table(HDFS_LINES)], _passes(), miner)
    before = to_state(miner)
    t = events_table(["PacketResponder 7 for block blk_9 terminating", "totally new line here"])
    parsed, _, _, res = parse_blocks([t], _passes(), miner, match_only=True)
    ids = _ids(parsed)
    assert ids[1] == UNKNOWN_TEMPLATE_ID and ids[0] != UNKNOWN_TEMPLATE_ID
    assert res.unmatched_lines == 1 and res.unmatched_messages == 1
    assert to_state(miner)["clusters"] == before["clusters"]


def test_in_process_defaults_are_the_runners():
    """parse_blocks and `logad parse` share their defaults (the distinct cap, the match search)."""
    import inspect

    from logad.settings import ParseSettings, resolve

    defaults = resolve(ParseSettings)  # configs/parse.yaml, as `logad parse` resolves it
    params = inspect.signature(parse_blocks).parameters
    assert params["max_distinct"].default == defaults.max_distinct
    assert params["full_search"].default == defaults.match_full_search
