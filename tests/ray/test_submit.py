"""Stages as Ray jobs on a real head (``ray start --head`` on this machine): `ray job submit`,
`logad submit`, `logad jobs status|logs|stop`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from logad.cli import app
from logad.errors import ConfigError
from logad.ray.submit import EXCLUDES, entrypoint, runtime_env
from logad.synth import generate_openstack
from tests.ray.head import BIN, ray_head

ROOT = Path(__file__).resolve().parents[2]


def test_entrypoint_and_runtime_env_without_a_cluster(tmp_path):
    assert entrypoint("parse", ["in dir", "--out", "o"], config="configs/parse.yaml") == \
        "python jobs/parse.py --config configs/parse.yaml 'in dir' --out o"
    with pytest.raises(ConfigError, match="unknown stage 'nosuch'"):
        entrypoint("nosuch")
    env = runtime_env(pip=["s3fs"], env_vars={"A": "1"})
    assert env["working_dir"] == str(ROOT) and env["pip"] == ["s3fs"] and env["env_vars"] == {"A": "1"}
    assert {".venv", "data", "outputs", ".git"} <= set(env["excludes"]) == set(EXCLUDES)
    assert runtime_env(image="ghcr.io/logad/logad:0.1.0") == {"image_uri": "ghcr.io/logad/logad:0.1.0"}
    with pytest.raises(ConfigError, match="exclude each other"):
        runtime_env(image="x", pip=["y"])
    res = CliRunner().invoke(app, ["jobs", "status", "x"], env={"RAY_ADDRESS": ""})
    assert res.exit_code == 2 and "--address" in res.output


@pytest.fixture(scope="module")
def head():
    with ray_head(num_cpus=2) as h:
        yield h


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("os")
    generate_openstack(out, seed=5, lines=3000)
    return out


def _wait(address: str, sid: str, timeout_s: float = 240) -> str:
    from ray.job_submission import JobSubmissionClient

    c = JobSubmissionClient(address)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = str(c.get_job_status(sid).value)
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            return status
        time.sleep(1)
    c.stop_job(sid)
    return "TIMEOUT"


@pytest.mark.timeout(480)
def test_ray_job_submit_runs_the_pipeline_on_the_head(head, tmp_path):
    """The real `ray job submit` command, the pipeline's entry point, a small corpus: every stage
    runs on the head's cluster and writes what an in-process run writes."""
    import yaml

    out = tmp_path / "run"
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "out": str(out), "seed": 1, "synth": {"kind": "openstack", "lines": 3000},
        "models": ["sequence_xgb_counts", "sequence_if_counts"],
        "explain_models": ["sequence_xgb_counts"],
        "explain": {"shap_sample": 20, "shap_background": 20, "nn_top_k": 3, "workers": 1}}))
    sid = "logad-test-pipeline"
    res = subprocess.run(
        [str(BIN / "ray"), "job", "submit", "--address", head["address"], "--submission-id", sid,
         "--working-dir", str(ROOT), "--runtime-env-json", json.dumps({"excludes": EXCLUDES}),
         "--no-wait", "--", "python", "jobs/pipeline.py", "--config", str(config)],
        env=head["env"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    status = _wait(head["address"], sid, 420)
    logs = subprocess.run([str(BIN / "ray"), "job", "logs", "--address", head["address"], sid],
                          env=head["env"], capture_output=True, text=True, timeout=60).stdout
    assert status == "SUCCEEDED", logs[-4000:]
    result = json.loads((out / "pipeline.json").read_text())
    assert list(result["stages"]) == ["synth", "ingest", "parse", "sessionize", "train", "score",
                                      "evaluate", "explain", "report"]
    ingest = json.loads((out / "events/manifest.json").read_text())
    lines = sum(len(Path(f["path"]).read_bytes().splitlines()) for f in ingest["files"])
    assert ingest["accounting_ok"] and ingest["totals"]["lines_read"] == lines >= 3000
    parse = json.loads((out / "parsed/manifest.json").read_text())
    assert parse["counts"]["read"] == parse["counts"]["parsed"] + parse["counts"]["rejected"]
    assert parse["counts"]["parsed"] == ingest["totals"]["events"] and parse["counts"]["templates"] > 5
    ids = pq.read_table(out / "parsed/events", columns=["template_id"]).column("template_id").to_pylist()
    assert len(ids) == parse["counts"]["parsed"] and all(len(i) == 16 for i in ids)
    scores = json.loads((out / "scores/manifest.json").read_text())
    assert {m["model"] for m in scores["models"]} == {"sequence_xgb_counts", "sequence_if_counts"}
    assert all(m["sessions"] > 0 for m in scores["models"])
    assert (out / "report" / "report.html").stat().st_size > 50_000


@pytest.mark.timeout(300)
def test_logad_submit_follows_the_job_and_jobs_status_logs_stop(head, corpus, tmp_path):
    out = tmp_path / "events"
    runner = CliRunner()
    res = runner.invoke(app, ["submit", "ingest", "--address", head["address"], "--submission-id", "logad-test-ingest",
                              "--", str(corpus), "--preset", "OpenStack", "--out", str(out)])
    assert res.exit_code == 0, res.output[-4000:]
    assert "logad-test-ingest" in res.output and "ingest" in res.output  # the job's own summary, followed
    assert json.loads((out / "manifest.json").read_text())["totals"]["lines_read"] >= 3000
    res = runner.invoke(app, ["jobs", "status", "logad-test-ingest", "--address", head["address"]])
    assert res.exit_code == 0 and "SUCCEEDED" in res.output and "jobs/ingest.py" in res.output
    res = runner.invoke(app, ["jobs", "logs", "logad-test-ingest", "--address", head["address"]])
    assert res.exit_code == 0 and "lines" in res.output
    res = runner.invoke(app, ["submit", "ingest", "--address", head["address"], "--submission-id", "logad-test-ingest",
                              "--no-wait", "--", str(corpus), "--out", str(out)])
    assert res.exit_code == 2 and "refused" in res.output                # a duplicate id is an error
    from ray.job_submission import JobSubmissionClient

    JobSubmissionClient(head["address"]).submit_job(entrypoint=f"{sys.executable} -c 'import time; time.sleep(120)'",
                                                    submission_id="logad-test-sleep")
    res = runner.invoke(app, ["jobs", "stop", "logad-test-sleep", "--address", head["address"]])
    assert res.exit_code == 0, res.output
    assert _wait(head["address"], "logad-test-sleep", 60) == "STOPPED"
    res = runner.invoke(app, ["jobs", "list", "--address", head["address"]])
    assert res.exit_code == 0 and "logad-test-sleep" in res.output
    res = runner.invoke(app, ["jobs", "status", "nosuch", "--address", head["address"]])
    assert res.exit_code == 2 and "nosuch" in res.output
