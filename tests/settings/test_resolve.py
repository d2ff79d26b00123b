"""Settings resolve once: configs/<stage>.yaml -> --config -> values -> flags/--set; every
problem is a ConfigError naming the key (and the nearest valid one), never pydantic's text."""

from __future__ import annotations

import pytest

from logad.errors import ConfigError
from logad.settings import (STAGES, IngestSettings, ParseSettings, ScoreSettings, SessionizeSettings,
                            TrainSettings, resolve)
from tests.settings.conftest import write_yaml


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_stage_file_validates_as_it_is(stage):
    settings = resolve(STAGES[stage])
    assert settings.dump() == resolve(STAGES[stage], values=settings.dump()).dump()


def test_layers_later_wins(tmp_path):
    cfg = write_yaml(tmp_path / "mine.yaml", {"drain": {"sim_th": 0.5}, "batch_size": 100})
    s = resolve(ParseSettings, cfg)
    assert (s.drain.sim_th, s.batch_size, s.drain.depth) == (0.5, 100, 4)  # depth from parse.yaml
    s = resolve(ParseSettings, cfg, flags={"drain.sim_th": 0.7, "batch_size": None})
    assert (s.drain.sim_th, s.batch_size) == (0.7, 100)  # None: the flag was not given
    assert resolve(ParseSettings, cfg, sets=["drain.sim_th=0.6"]).drain.sim_th == 0.6


def test_flags_and_set_are_one_mechanism():
    a = resolve(SessionizeSettings, flags={"split.how": "random", "workers": 3})
    b = resolve(SessionizeSettings, sets=["split.how=random", "workers=3"])
    assert a == b and a.split.how == "random" and a.workers == 3


def test_a_value_and_a_section_under_one_key_is_an_error():
    with pytest.raises(ConfigError, match="'drain' is set to a value, not a section"):
        resolve(ParseSettings, sets=["drain=1", "drain.sim_th=0.5"])


def test_unknown_key_names_path_file_and_nearest(tmp_path):
    cfg = write_yaml(tmp_path / "typo.yaml", {"lo2": {"sed": 3}})
    with pytest.raises(ConfigError) as err:
        resolve(IngestSettings, cfg)
    msg = str(err.value)
    assert "unknown key 'lo2.sed'" in msg and "did you mean lo2.seed" in msg and str(cfg) in msg


def test_renamed_keys_point_to_their_new_name():
    with pytest.raises(ConfigError, match="did you mean workers"):
        resolve(ScoreSettings, values={"actors": 2})
    with pytest.raises(ConfigError, match="--num-cpus"):
        resolve(SessionizeSettings, values={"ray": {"num_cpus": 2}})


@pytest.mark.parametrize("model, values, needles", [
    (ParseSettings, {"spill": "yes"}, ["spill = 'yes'", "boolean"]),
    (ParseSettings, {"match_full_search": "often"}, ["match_full_search = 'often'", "'fallback'"]),
    (IngestSettings, {"chunk_bytes": 0}, ["chunk_bytes = 0", "greater than 0"]),
    (TrainSettings, {"threshold": {"method": "best"}}, ["threshold.method = 'best'", "'best_f1'"]),
    (ScoreSettings, {"gpus_per_actor": "many"}, ["gpus_per_actor = 'many'", "'auto'", "number"]),
    (SessionizeSettings, {"by": "sliding", "window": 5, "step": 9}, ["step <= window"]),
])
def test_bad_value_names_key_value_and_what_is_allowed(model, values, needles):
    with pytest.raises(ConfigError) as err:
        resolve(model, values=values)
    msg = str(err.value)
    assert all(n in msg for n in needles), msg
    assert "validation error" not in msg and "pydantic" not in msg and "type=" not in msg


def test_train_threshold_comes_from_models_yaml(config_dir):
    config_dir.edit("models", threshold__method="fpr", threshold__alpha=0.02)
    th = resolve(TrainSettings).threshold
    assert (th.method, th.alpha) == ("fpr", 0.02)
    assert resolve(TrainSettings, flags={"threshold.method": "none"}).threshold.method == "none"


def test_examples_in_the_docstrings_run():
    import doctest

    import logad.settings.base

    assert doctest.testmod(logad.settings.base).attempted >= 1
    assert doctest.testmod(logad.settings.base).failed == 0
