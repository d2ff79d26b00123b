"""`logad run`: the whole chain from one config in one Ray session; a re-run skips every stage."""

from __future__ import annotations

import json

import pytest

from logad.errors import ConfigError
from logad.pipeline import load_pipeline_config, run_pipeline

CFG = {"synth": {"kind": "openstack", "lines": 5000}, "seed": 1,
       "models": ["sequence_xgb_counts", "sequence_if_counts"], "explain_models": ["sequence_xgb_counts"],
       "explain": {"shap_sample": 20, "shap_background": 20, "nn_top_k": 3, "workers": 1}}


def test_pipeline_runs_every_stage_then_skips(ray_session, tmp_path):
    r = run_pipeline(CFG, out=str(tmp_path))
    assert list(r["stages"]) == ["synth", "ingest", "parse", "sessionize", "train", "score", "evaluate",
                                 "explain", "report"]
    html = tmp_path / "report" / "report.html"
    assert r["report"] == str(html) and html.stat().st_size > 50_000
    assert {m["model"] for m in json.loads((tmp_path / "scores" / "manifest.json").read_text())["models"]} == \
        set(CFG["models"])
    assert (tmp_path / "explain" / "sequence_xgb_counts" / "explain.json").is_file()
    again = run_pipeline(CFG, out=str(tmp_path))
    assert again["stages"]["synth"].get("skipped") and again["stages"]["score"]["skipped"]
    assert again["stages"]["train"]["skipped"] == CFG["models"]
    assert "(skipped)" in again["stages"]["explain"]["sequence_xgb_counts"]
    # report.split: all is every session (the CLI's --split all), not a split named "all"
    whole = run_pipeline(CFG, out=str(tmp_path), sets=["report.split=all"])
    assert whole["stages"]["score"]["skipped"]
    n = json.loads((tmp_path / "sessions" / "manifest.json").read_text())["sessions_written"]
    assert f"metrics on the whole split ({n} sessions)" in (tmp_path / "report" / "report.md").read_text()


def test_pipeline_config_is_checked():
    with pytest.raises(ConfigError, match="unknown key"):
        load_pipeline_config({"modles": []})
    with pytest.raises(ConfigError, match="synth"):
        load_pipeline_config({"synth": None})
    cfg = load_pipeline_config("pipeline.yaml", {"out": "x", "synth": {"lines": 10}})
    assert cfg["out"] == "x" and cfg["synth"] == {"kind": "openstack", "lines": 10}
