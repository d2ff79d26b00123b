"""The mining core: drain3's Drain underneath, content-hash ids, read-only match."""

from __future__ import annotations

import pyarrow as pa
import pytest
from drain3.drain import Drain

from logad.config import load_yaml
from logad.errors import ConfigError
from logad.parsing.masking import compile_passes, mask_array, rules_from_config
from logad.parsing.miner import DrainSettings, TemplateMiner, template_id
from logad.schema import TEMPLATE_ID_HEX
from tests.parsing.factory import HDFS_LINES


def _masked(lines, preset="HDFS"):
    passes = compile_passes(rules_from_config(load_yaml("masking"), preset))
    return mask_array(pa.array(lines), passes).to_pylist()


def test_template_id_is_a_hex_hash_of_the_text():
    tid = template_id("PacketResponder <*> for block <*> terminating")
    assert len(tid) == TEMPLATE_ID_HEX and int(tid, 16) >= 0
    assert tid == template_id("PacketResponder <*> for block <*> terminating")
    assert tid != template_id("PacketResponder <*> for block <*> terminating.")


def test_exact_templates_on_real_hdfs_lines():
    miner = TemplateMiner()
    cids = miner.add_many(_masked(HDFS_LINES))
    got = {miner.template(c) for c in cids}
    assert got == {
        "Receiving block <*> src: <*> dest: <*>",
        "BLOCK* NameSystem.allocateBlock: <*>",  # path and block id: one run of masks
        "PacketResponder <*> for block <*> terminating",
        "Received block <*> of size <*> from <*>",
        "BLOCK* NameSystem.addStoredBlock: blockMap updated: <*> is added to <*> size <*>",
        "Verification succeeded for <*>",
    }


@pytest.mark.parametrize("sim_th", [0.4, 0.9])
def test_same_templates_as_drain3_drain(sim_th):
    msgs = _masked(HDFS_LINES) + ["user bob logged in", "user eve logged in", "user eve logged out"]
    miner = TemplateMiner(DrainSettings(sim_th=sim_th))
    ours = miner.add_many(msgs)
    ref = Drain(sim_th=sim_th, depth=4, max_children=100)
    theirs = [ref.add_log_message(m)[0].cluster_id for m in msgs]
    assert [miner.template(c) for c in ours] == [ref.id_to_cluster[c].get_template() for c in theirs]
    if sim_th < 0.5:  # low threshold: drain3 itself never opens a same-text twin cluster
        assert ours == theirs


def test_message_equal_to_a_template_joins_it_at_high_threshold():
    miner = TemplateMiner(DrainSettings(sim_th=0.9))
    a = miner.add("PacketResponder <*> for block <*> terminating")
    b = miner.add("PacketResponder <*> for block <*> terminating")
    ref = Drain(sim_th=0.9)
    c1, c2 = (ref.add_log_message("PacketResponder <*> for block <*> terminating")[0].cluster_id
              for _ in range(2))
    assert a == b and len(miner) == 1
    assert c1 != c2  # drain3 counts <*> as mismatches and opens a twin with the same text


def test_match_changes_nothing_and_misses_return_none():
    miner = TemplateMiner()
    miner.add_many(_masked(HDFS_LINES))
    before = {c: miner.template(c) for c in miner.cluster_ids}
    hit = miner.match(_masked(["PacketResponder 0 for block blk_1 terminating"])[0])
    assert hit is not None and miner.template(hit) == "PacketResponder <*> for block <*> terminating"
    assert miner.match("something never seen before") is None
    assert {c: miner.template(c) for c in miner.cluster_ids} == before


def test_lines_and_first_seen_are_tracked_per_cluster():
    miner = TemplateMiner()
    a = miner.add("open the file", lines=5, order=10)
    b = miner.add("open the file", lines=2, order=3)
    assert a == b and miner.info[a].lines == 7 and miner.info[a].first_seen == 3


@pytest.mark.parametrize("bad, msg", [({"depth": 2}, "depth"), ({"sim_th": 1.5}, "sim_th"),
                                      ({"max_children": 1}, "max_children"), ({"simth": 1}, "unknown")])
def test_settings_are_checked(bad, msg):
    with pytest.raises(ConfigError, match=msg):
        DrainSettings.from_config(bad)
