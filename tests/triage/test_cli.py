"""`logad triage label|train|predict` end to end, in-process."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from logad.cli import app

from .conftest import SMALL_TRAIN


def test_label_train_predict(ray_session, small_logs, small_user_labels, tmp_path):
    cfg = yaml.safe_load(open(__import__("logad.config").config.config_path("triage")))
    cfg["train"].update(SMALL_TRAIN)
    cfg_path = tmp_path / "triage.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    r = CliRunner()
    res = r.invoke(app, ["triage", "label", str(small_logs), "--user-labels", str(small_user_labels),
                         "--out", str(tmp_path / "labels"), "--config", str(cfg_path)])
    assert res.exit_code == 0, res.output
    assert "rows total" in res.output and "1200" in res.output
    res = r.invoke(app, ["triage", "train", str(tmp_path / "labels"), "--out", str(tmp_path / "model"),
                         "--config", str(cfg_path)])
    assert res.exit_code == 0, res.output
    assert "mean held-out AP" in res.output
    res = r.invoke(app, ["triage", "predict", str(small_logs / "OpenSSH_2k.log"), "--model",
                         str(tmp_path / "model"), "--out", str(tmp_path / "pred"), "--threshold", "0.5"])
    assert res.exit_code == 0, res.output
    s = json.loads((tmp_path / "pred" / "summary.json").read_text())
    assert s["lines"] == 300 and s["threshold"] == 0.5 and s["top_templates"]


def test_errors_are_one_line(tmp_path):
    r = CliRunner()
    res = r.invoke(app, ["triage", "train", str(tmp_path), "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "logad: error:" in res.output and "Traceback" not in res.output
    res = r.invoke(app, ["triage", "predict", "x.log", "--model", str(tmp_path), "--out", str(tmp_path / "p")])
    assert res.exit_code == 3 and "no triage model" in res.output
