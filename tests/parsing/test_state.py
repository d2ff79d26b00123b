"""Template state: plain JSON that continues mining exactly; drain3 snapshots both ways."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from drain3 import TemplateMiner as Drain3Miner
from drain3.file_persistence import FilePersistence
from drain3.template_miner_config import TemplateMinerConfig

from logad.config import load_yaml
from logad.errors import InputError
from logad.parsing.masking import compile_passes, mask_array, rules_from_config
from logad.parsing.miner import DrainSettings, TemplateMiner
from logad.parsing.state import from_drain3_snapshot, from_state, to_drain3_snapshot, to_state
from tests.conftest import require_shared
from logad.parsing.loghub import load_loghub_2k


def _corpus(system: str) -> list[str]:
    root = require_shared("loghub_2k").parent
    passes = compile_passes(rules_from_config(load_yaml("masking"), system))
    return mask_array(pa.array(load_loghub_2k(root, system).content), passes).to_pylist()


def _roundtrip(miner: TemplateMiner) -> TemplateMiner:
    return from_state(json.loads(json.dumps(to_state(miner))))


@pytest.mark.parametrize("sim_th", [0.4, 0.9])
def test_save_load_continues_exactly(sim_th):
    a, b = _corpus("HDFS") + _corpus("Zookeeper"), _corpus("Hadoop") + _corpus("Zookeeper")
    settings = DrainSettings(sim_th=sim_th)
    whole = TemplateMiner(settings)
    ids_whole = whole.add_many(a + b)
    first = TemplateMiner(settings)
    ids_a = first.add_many(a)
    resumed = _roundtrip(first)
    ids_b = resumed.add_many(b)
    assert ids_a + ids_b == ids_whole
    sa, sb = to_state(whole), to_state(resumed)
    assert sa["clusters"] == sb["clusters"] and sa["tree"] == sb["tree"]
    assert sa["clusters_counter"] == sb["clusters_counter"]


def test_state_is_plain_json_with_settings_rules_and_ids():
    miner = TemplateMiner()
    miner.add_many(["a <*> b", "c d"], lines=[3, 1], orders=[1, 2])
    state = to_state(miner, masking={"preset": "x", "rules": [{"name": "n", "pattern": "p",
                                                                "replace": "<*>"}]})
    text = json.dumps(state)
    assert "py/object" not in text
    assert state["drain"]["sim_th"] == 0.9 and state["masking"]["preset"] == "x"
    assert {c["template"]: c["lines"] for c in state["clusters"]} == {"a <*> b": 3, "c d": 1}
    assert all(len(c["template_id"]) == 16 for c in state["clusters"])


def test_changed_template_leaves_an_alias():
    miner = TemplateMiner(DrainSettings(sim_th=0.5))
    miner.add("user bob logged in now")
    old = to_state(miner)["clusters"][0]["template_id"]
    resumed = _roundtrip(miner)
    resumed.add("user eve logged in now")
    state = to_state(resumed)
    new = state["clusters"][0]["template_id"]
    assert new != old and state["aliases"] == {old: new}


def test_from_state_refuses_other_json():
    with pytest.raises(InputError, match="not a logad template state"):
        from_state({"py/object": "drain3.drain.Drain"})


@pytest.mark.parametrize("compress", [True, False])
def test_drain3_snapshot_loads_in_drain3_template_miner(tmp_path, compress):
    msgs = _corpus("HDFS")
    miner = TemplateMiner()
    miner.add_many(msgs)
    path = tmp_path / "snap.bin"
    path.write_bytes(to_drain3_snapshot(miner, compress=compress))
    cfg = TemplateMinerConfig()
    cfg.snapshot_compress_state = compress
    cfg.drain_sim_th, cfg.drain_depth = 0.9, 4
    tm = Drain3Miner(FilePersistence(str(path)), cfg)
    ours = {c: miner.template(c) for c in miner.cluster_ids}
    assert {c.cluster_id: c.get_template() for c in tm.drain.clusters} == ours
    for m in msgs[:50]:
        assert tm.match(m, "fallback").cluster_id == miner.match(m)


def test_drain3_snapshot_needs_trust_and_round_trips():
    miner = TemplateMiner()
    miner.add_many(["a <*> b", "c d e", "c d f"])
    snap = to_drain3_snapshot(miner)
    with pytest.raises(InputError, match="jsonpickle.*--trust-drain3-snapshot"):
        from_drain3_snapshot(snap, trusted=False)
    back = from_drain3_snapshot(snap, trusted=True)
    assert {c: back.template(c) for c in back.cluster_ids} == {
        c: miner.template(c) for c in miner.cluster_ids}
