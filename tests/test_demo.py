"""The main job end to end on a small synthetic corpus: every stage's output is there and sane."""

from __future__ import annotations

import json

from logad.demo import DEMO_MODELS, run_demo


def test_demo_runs_every_stage(ray_session, tmp_path):
    results = run_demo(tmp_path, seed=3, synth={"lines": 30000})
    assert results["ingest"]["events"] == 30000 and results["ingest"]["errors"] == 0
    assert results["parse"]["lines"] == 30000 and results["parse"]["templates"] > 10
    assert results["sessionize"]["sessions"] > 50
    table = results["train + evaluate (test split)"]["table"]
    assert [r["model"] for r in table] == list(DEMO_MODELS)
    by_model = {r["model"]: r for r in table}
    # the supervised model separates the synthetic anomalies well on the held-out test split
    assert by_model["sequence_xgb_counts"]["roc_auc"] > 0.85
    for name in DEMO_MODELS:
        metrics = json.loads((tmp_path / "evaluation" / name / "metrics.json").read_text())
        assert metrics["split"] == "test"
        assert (tmp_path / "evaluation" / name / "plots" / "roc_curve.png").is_file()
    manifest = json.loads((tmp_path / "events" / "manifest.json").read_text())
    assert manifest["accounting_ok"]
    # explain and report ran on the same sessions: one self-contained report.html
    assert results["report"]["report.html"] == str(tmp_path / "report" / "report.html")
    assert "sequence_xgb_counts" in results["explain"]
