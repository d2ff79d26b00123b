"""A worker node killed while ingest, parse, sessionize or score run: the output is the same as an
undisturbed run.

The faulted runs happen on a multi-node ``ray.cluster_utils.Cluster`` in a subprocess
(tests/ray/fault_run.py) with a private RAY_TMPDIR, so they never share the suite's Ray; the
undisturbed reference runs on the suite's session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from logad.ray.ingest import run_ingest
from logad.ray.parse import run_parse
from logad.synth import generate_openstack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("osf")
    generate_openstack(out, seed=11, lines=20000)
    for extra in ("anomaly_labels.txt", "instances.csv"):
        (out / extra).unlink()
    return out


def _later(out: Path) -> dict:
    from logad.scoring.parts import read_scores

    seq = pq.read_table(out / "sessions" / "sequences").sort_by("session_id")
    scores = read_scores(out / "scores", columns=["session_id", "score", "rank", "is_anomaly"])
    return {"sequences": seq, "scores": scores}


def _result(out: Path) -> dict:
    ev = pq.read_table(out / "parsed" / "events", columns=["path", "line_no", "content", "template_id"])
    rows = sorted(zip(*(ev.column(c).to_pylist() for c in ev.column_names)))
    tpl = pq.read_table(out / "parsed" / "templates.parquet", columns=["template_id", "template", "count"])
    manifest = json.loads((out / "parsed" / "manifest.json").read_text())
    ingest = json.loads((out / "events" / "manifest.json").read_text())
    return {"rows": rows, "templates": sorted(zip(*(tpl.column(c).to_pylist() for c in tpl.column_names))),
            "counts": manifest["counts"], "ingest": ingest["totals"]}


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory, ray_session):
    out = tmp_path_factory.mktemp("calm")
    cfg = {"preset": "OpenStack", "chunk_bytes": 64 << 10}
    run_ingest([str(corpus)], out / "events", cfg)
    run_parse(out / "events", out / "parsed", cfg={"in_process_below": 0})
    return _result(out)


@pytest.fixture(scope="module")
def reference_later(reference, corpus, tmp_path_factory, ray_session):
    from tests.ray.fault_run import run_later_stages

    out = tmp_path_factory.mktemp("calm2")
    run_ingest([str(corpus)], out / "events", {"preset": "OpenStack", "chunk_bytes": 64 << 10})
    run_parse(out / "events", out / "parsed", cfg={"in_process_below": 0})
    run_later_stages(out, workers=1)
    return _later(out)


@pytest.mark.timeout(200)
@pytest.mark.parametrize("phase", ["ingest", "parse", "parse2", "sessionize", "score"])
def test_a_killed_worker_node_changes_nothing(corpus, reference, tmp_path, phase, request):
    tmp = tempfile.mkdtemp(prefix="lgf", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_TMPDIR=tmp, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", LOGAD_PROGRESS="0")
    try:
        res = subprocess.run([sys.executable, "-m", "tests.ray.fault_run", str(corpus), str(tmp_path), phase],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=170)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    assert res.returncode == 0, res.stderr[-4000:]
    event = json.loads(next(line for line in res.stdout.splitlines() if line.startswith("FAULT_EVENT "))[12:])
    assert event["killed_at"] is not None, f"the node was never killed ({phase}): {res.stderr[-2000:]}"
    got = _result(tmp_path)
    assert got["ingest"] == reference["ingest"]
    assert got["counts"] == reference["counts"]
    assert got["templates"] == reference["templates"]
    assert got["rows"] == reference["rows"]
    if phase in ("sessionize", "score"):
        later, calm = _later(tmp_path), request.getfixturevalue("reference_later")
        assert later["sequences"].equals(calm["sequences"])
        assert later["scores"].equals(calm["scores"])
