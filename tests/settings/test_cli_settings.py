"""A typo in a --config file is an error in every stage's command: exit code != 0 and a
message naming the key and the nearest valid one, before any work."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from logad.cli import app
from tests.settings.conftest import write_yaml


def _args(tmp_path, stage):
    (tmp_path / "in").mkdir(exist_ok=True)
    inp, out = str(tmp_path / "in"), str(tmp_path / "out")
    return {
        "ingest": ["ingest", str(tmp_path / "a.log"), "--out", out],
        "parse": ["parse", inp, "--out", out],
        "sessionize": ["sessionize", inp, "--out", out],
        "train": ["train", "--model", "sequence_xgb_counts", "--input", inp, "--out", out],
        "score": ["score", "--model", inp, "--input", inp, "--out", out],
        "evaluate": ["evaluate", "--scores", inp, "--out", out],
        "explain": ["explain", "--model", inp, "--input", inp, "--scores", inp, "--out", out],
        "triage": ["triage", "predict", str(tmp_path / "a.log"), "--model", inp, "--out", out],
    }[stage]


TYPOS = {  # stage: (the --config file, the key named, the suggestion)
    "ingest": ({"chunk_byts": 5}, "chunk_byts", "chunk_bytes"),
    "parse": ({"drain": {"sim_t": 0.5}}, "drain.sim_t", "drain.sim_th"),
    "sessionize": ({"windw": 5}, "windw", "window"),
    "train": ({"threshold": {"methd": "fpr"}}, "threshold.methd", "threshold.method"),
    "score": ({"batch_sze": 5}, "batch_sze", "batch_size"),
    "evaluate": ({"splt": "val"}, "splt", "split"),
    "explain": ({"shap_sampl": 5}, "shap_sampl", "shap_sample"),
    "triage": ({"predict": {"thresold": 0.5}}, "predict.thresold", "predict.threshold"),
}


@pytest.mark.parametrize("stage", sorted(TYPOS))
def test_typo_in_config_file_is_an_error_naming_key_and_suggestion(tmp_path, stage):
    doc, key, near = TYPOS[stage]
    cfg = write_yaml(tmp_path / "typo.yaml", doc)
    res = CliRunner().invoke(app, [*_args(tmp_path, stage), "--config", str(cfg)])
    assert res.exit_code == 2, res.output
    assert f"unknown key '{key}'" in res.output and f"did you mean {near}?" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "out").exists()


def test_typo_in_pipeline_stage_section_is_an_error(tmp_path):
    cfg = write_yaml(tmp_path / "pipe.yaml", {"out": str(tmp_path / "out"), "parse": {"max_distnct": 5}})
    res = CliRunner().invoke(app, ["run", str(cfg)])
    assert res.exit_code == 2, res.output
    assert "section parse" in res.output and "did you mean max_distinct?" in res.output


def test_bad_set_value_names_key_and_value(tmp_path):
    res = CliRunner().invoke(app, [*_args(tmp_path, "parse"), "--set", "drain.depth=deep"])
    assert res.exit_code == 2 and "drain.depth = 'deep'" in res.output and "integer" in res.output


@pytest.mark.parametrize("command", ["ingest", "parse", "sessionize", "train", "score", "explain", "run"])
def test_num_cpus_and_workers_say_the_same_everywhere(command):
    import typer.main

    cmd = typer.main.get_command(app).commands[command]
    opts = {name: p for p in cmd.params for name in getattr(p, "opts", [])}
    assert "CPUs of the local Ray that logad starts" in opts["--num-cpus"].help
    assert "ignored when joining a running cluster" in opts["--num-cpus"].help
    if command != "run":
        assert opts["--workers"].help.startswith("Worker actors the stage uses")
