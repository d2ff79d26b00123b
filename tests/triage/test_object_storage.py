"""`logad triage label`, `train` and `predict` on object storage, against a real S3-protocol
server (moto's, the ``s3_server`` fixture of tests/conftest.py): labels, the model and the
LOOK lines written to ``s3://`` (and read from there: labels, model, log files) are what the
local runs write, committed by the folder's ``manifest.json``; a second run skips.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import ROOT
from tests.test_object_storage_outputs import _committed


def test_triage_label_and_train_read_and_write_s3(s3_server, small_logs, small_user_labels, triage_cfg, tmp_path):
    from logad.io import fetch_dir
    from logad.triage.runs import run_label, run_train

    fs = s3_server["fs"]
    two = tmp_path / "two"
    two.mkdir()
    for f in sorted(small_logs.iterdir())[:2]:
        shutil.copy(f, two / f.name)
    url = "s3://logad-test/triage/labels"
    runs = {}
    for name, out in (("local", tmp_path / "labels"), ("s3", url)):
        first = run_label([str(two)], out, triage_cfg, user_labels=small_user_labels)
        # extends the labels already there (on s3: the committed ones, fetched)
        runs[name] = [first, run_label([str(small_logs)], out, triage_cfg, user_labels=small_user_labels,
                                       new_only=True)]
    assert runs["s3"][0]["rows_total"] == runs["local"][0]["rows_total"] < runs["s3"][1]["rows_total"]
    assert runs["s3"][1]["rows_added"] == runs["local"][1]["rows_added"] > 0
    assert _committed(fs, "triage/labels")["stage"] == "triage-label"
    labels = pq.read_table(fetch_dir(url) / "labels.parquet")
    assert labels.equals(pq.read_table(tmp_path / "labels" / "labels.parquet"))
    again = run_label([str(small_logs)], url, triage_cfg, user_labels=small_user_labels, new_only=True)
    assert again["skipped"] and again["rows_total"] == labels.num_rows
    model_url = "s3://logad-test/triage/model"
    local = run_train(tmp_path / "labels", tmp_path / "model", triage_cfg)
    remote = run_train(url, model_url, triage_cfg)
    assert remote["labels"] == f"{url}/labels.parquet"
    assert {k: remote[k] for k in ("lines", "look", "best", "threshold")} == \
        {k: local[k] for k in ("lines", "look", "best", "threshold")}
    assert _committed(fs, "triage/model")["stage"] == "triage-train"
    model = json.loads((fetch_dir(model_url) / "model.json").read_text())
    assert model == json.loads((tmp_path / "model" / "model.json").read_text())
    assert run_train(Path(url), model_url, triage_cfg)["skipped"]
    # one labels.parquet by URL: the same model
    from_file = run_train(f"{url}/{_committed(fs, 'triage/labels')['run']}/labels.parquet",
                          "s3://logad-test/triage/model2", triage_cfg)
    assert from_file["threshold"] == local["threshold"]


_PREDICT = textwrap.dedent("""
    import json, sys
    import pyarrow.parquet as pq
    from logad.io import fetch_dir
    from logad.ray.runtime import ensure_ray
    from logad.ray.triage import run_triage
    ensure_ray(num_cpus=2, object_store_memory=200 << 20)
    log, model, local, url = sys.argv[1:5]
    cfg = {"chunk_bytes": 64 * 1024, "batch_lines": 500, "workers": 2}
    runs = {"local": [run_triage([log], model, local, cfg)], "s3": [run_triage([log], model, url, cfg)]}
    runs["s3"].append(run_triage([log], model, url, cfg))
    looks = {"local": pq.read_table(local + "/looks.parquet").to_pylist(),
             "s3": pq.read_table(str(fetch_dir(url)) + "/looks.parquet").to_pylist()}
    summary = {"local": json.load(open(local + "/summary.json")),
               "s3": json.load(open(str(fetch_dir(url)) + "/summary.json"))}
    print("RESULT " + json.dumps({"runs": runs, "looks": looks, "summary": summary}, default=str))
""")


@pytest.mark.timeout(240)
def test_triage_predict_reads_logs_and_model_from_s3_and_publishes_its_looks(
        s3_server, small_logs, small_model, tmp_path):
    from logad.io import publish_dir

    fs = s3_server["fs"]
    text = "".join((small_logs / f).read_text() for f in sorted(p.name for p in small_logs.iterdir()))
    fs.pipe_file("logad-test/triage-predict/mixed.log", text.encode())
    publish_dir(small_model, "s3://logad-test/triage-predict/model", {"stage": "triage-train"})
    env = {k: v for k, v in s3_server["env"].items() if k != "RAY_ADDRESS"}
    ray_tmp = tempfile.mkdtemp(prefix="lgs", dir="/tmp")  # a private Ray; socket paths fit 107 bytes
    env.update(LOGAD_PROGRESS="0", RAY_AUTH_MODE="disabled", RAY_TMPDIR=ray_tmp)
    url = "s3://logad-test/triage-predict/out"
    try:
        res = subprocess.run([sys.executable, "-c", _PREDICT, "s3://logad-test/triage-predict/mixed.log",
                              "s3://logad-test/triage-predict/model", str(tmp_path / "local"), url],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=220)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert res.returncode == 0, res.stderr[-4000:]
    out = json.loads(next(l for l in res.stdout.splitlines() if l.startswith("RESULT "))[7:])
    (local,), (remote, again) = out["runs"]["local"], out["runs"]["s3"]
    assert remote["units"] == local["units"] >= 2 and remote["totals"] == local["totals"]
    assert remote["totals"]["lines_read"] == 1200 and remote["accounting_ok"]
    assert out["looks"]["s3"] == out["looks"]["local"] and 0 < len(out["looks"]["s3"]) < 1200
    assert out["summary"]["s3"] == out["summary"]["local"]
    assert again["skipped"] and again["totals"] == remote["totals"] and again["run"] == remote["run"]
    assert again["files"] == remote["files"] == local["files"]  # the per-file rows
    manifest = _committed(fs, "triage-predict/out")
    assert manifest["files"] == local["files"]  # kept in the committed manifest too
    assert manifest["stage"] == "triage" and manifest["model"] == "s3://logad-test/triage-predict/model"
    named = {f["file"][len(manifest["run"]) + 1:] for f in manifest["published"]}
    assert {"looks.parquet", "summary.json", "manifest.json", "triage_config.yaml"} <= named
    # the workers' parts, written straight under the run's prefix, are named too
    assert sum(n.startswith("looks/part-") for n in named) == remote["units"]
