"""A user's mistakes get one message, never a traceback, before any work (issue 17 item 5)."""

from __future__ import annotations

import pytest

from logad.errors import ConfigError, InputError
from logad.parsing.miner import DrainSettings
from logad.ray.ingest import run_ingest
from logad.ray.parse import load_template_state, run_parse
from tests.parsing.factory import HDFS_LINES, events_table, write_events_dir


@pytest.mark.parametrize("trusted", [False, True])
def test_malformed_json_state_is_called_not_valid_json(tmp_path, trusted):
    state = tmp_path / "templates.json"
    state.write_text('{"format": "logad-template-state", "clusters": [,]}')
    with pytest.raises(InputError, match=r"not valid JSON \(line 1, column \d+") as err:
        load_template_state(state, DrainSettings(), trusted=trusted)
    assert "jsonpickle" not in str(err.value)


def test_a_json_document_that_is_no_drain3_snapshot_is_a_message(tmp_path):
    state = tmp_path / "templates.json"
    state.write_text('{"py/object": "no.such.Module", "x": 1}')
    with pytest.raises(InputError, match="drain3"):
        load_template_state(state, DrainSettings(), trusted=True)


@pytest.mark.parametrize("cfg, name", [({"max_distinct": "lots"}, "max_distinct"),
                                       ({"batch_size": 0}, "batch_size"),
                                       ({"spill": "yes"}, "spill"),
                                       ({"drain": {"depth": "deep"}}, "drain"),
                                       ({"max_distinc": 5}, "max_distinc")])
def test_parse_config_of_the_wrong_type_is_named(tmp_path, cfg, name):
    events = write_events_dir(tmp_path / "in", [events_table(HDFS_LINES)])
    with pytest.raises(ConfigError, match=name):
        run_parse(events, tmp_path / "out", cfg=cfg)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("cfg, name", [({"chunk_bytes": "big"}, "chunk_bytes"),
                                       ({"workers": -1}, "workers"),
                                       ({"max_workers": 2}, "did you mean workers"),
                                       ({"lo2": {"seed": "x"}}, "lo2.seed")])
def test_ingest_config_of_the_wrong_type_is_named(tmp_path, cfg, name):
    (tmp_path / "a.log").write_text("x\n")
    with pytest.raises(ConfigError, match=name):
        run_ingest([str(tmp_path / "a.log")], tmp_path / "out", cfg)
