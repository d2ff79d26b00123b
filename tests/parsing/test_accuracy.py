"""Grouping metrics, and the two properties on the 16 loghub 2k systems.

Agreement: logad's template id per line (distinct messages mined once, in order of first
occurrence) against one drain3 ``TemplateMiner`` fed every masked line in input order, same
masking and Drain settings, grouping lines by the final template text of their cluster (logad's
ids are hashes of that text). Quality floor: GA at least Drain's published GA on every system.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from drain3 import TemplateMiner as Drain3Miner
from drain3.template_miner_config import TemplateMinerConfig

from logad.config import load_config, load_yaml
from logad.parsing.accuracy import f1_grouping_accuracy, grouping_accuracy, grouping_agreement
from logad.parsing.loghub import DRAIN_PUBLISHED_GA, LOGHUB_SYSTEMS, load_loghub_2k
from logad.parsing.masking import compile_passes, mask_array, rules_from_config
from logad.parsing.miner import DrainSettings, TemplateMiner
from logad.parsing.steps import parse_blocks
from tests.conftest import require_shared


def test_ga_counts_lines_in_exactly_matching_groups():
    truth = ["A", "A", "B", "C", "C"]
    assert grouping_accuracy(["x", "x", "y", "z", "z"], truth) == 1.0
    assert grouping_accuracy(["x", "x", "x", "z", "z"], truth) == pytest.approx(2 / 5)
    assert grouping_accuracy(["x", "y", "z", "w", "w"], truth) == pytest.approx(3 / 5)


def test_fga_is_f1_of_correct_groups():
    truth = ["A", "A", "B", "C", "C"]
    # predicted groups {0},{1},{2},{3,4}: correct {2},{3,4} -> P = 2/4, R = 2/3
    assert f1_grouping_accuracy(["p", "q", "r", "s", "s"], truth) == pytest.approx(
        2 * (2 / 4) * (2 / 3) / (2 / 4 + 2 / 3))
    assert f1_grouping_accuracy(["p"] * 5, truth) == 0.0


def test_agreement_is_symmetric():
    a, b = ["x", "x", "y", "y", "z"], [1, 1, 1, 2, 3]
    assert grouping_agreement(a, b) == grouping_agreement(b, a) == pytest.approx(1 / 5)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        grouping_accuracy(["a"], ["a", "b"])


@pytest.fixture(scope="module")
def setup():
    root = require_shared("loghub_2k").parent
    cfg = load_config("parse")
    return root, DrainSettings.from_config(cfg["drain"]), load_yaml(cfg["masking"])


def _drain3_text_groups(masked, s: DrainSettings):
    cfg = TemplateMinerConfig()
    cfg.masking_instructions = []
    cfg.drain_depth, cfg.drain_sim_th, cfg.drain_max_children = s.depth, s.sim_th, s.max_children
    cfg.drain_extra_delimiters = list(s.extra_delimiters)
    cfg.parametrize_numeric_tokens = s.parametrize_numeric_tokens
    tm = Drain3Miner(config=cfg)
    cids = [tm.add_log_message(m)["cluster_id"] for m in masked]
    final = {c.cluster_id: c.get_template() for c in tm.drain.clusters}
    return [final[c] for c in cids]


@pytest.mark.parametrize("system", LOGHUB_SYSTEMS)
def test_agrees_with_drain3_fed_every_line_and_beats_published_drain(setup, system):
    root, settings, masking_cfg = setup
    sample = load_loghub_2k(root, system)
    passes = compile_passes(rules_from_config(masking_cfg, system))
    table = sample.events()
    half = table.num_rows // 2
    parsed, _, _, _ = parse_blocks([table.slice(0, half), table.slice(half)], passes,
                                   TemplateMiner(settings))
    ids = [i for t in parsed for i in t.column("template_id").to_pylist()]
    masked = mask_array(pa.array(sample.content), passes).to_pylist()
    assert grouping_agreement(ids, _drain3_text_groups(masked, settings)) >= 0.999
    assert grouping_accuracy(ids, sample.truth) >= DRAIN_PUBLISHED_GA[system]
