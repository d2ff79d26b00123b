"""Object storage: a real S3-protocol server (moto's, on 127.0.0.1; the ``s3_server`` fixture of
tests/conftest.py) read and written through fsspec.

Inputs: `logad data fetch s3://...`, `logad lo2 extract --archives s3://...` and `logad ingest
s3://...` (plain files and tar members read by byte range) give the same results as from local
files. Outputs: ingest -> parse -> sessionize -> train -> score -> evaluate -> explain -> report,
and `logad run`, with every folder on s3:// give the same templates, sequences, scores, metrics
and explanations as on local folders; each run is committed by its manifest (files under the
run's prefix), a re-run skips, and a new commit deletes the previous run's prefix. synth,
compare and ingest-sessions on s3:// are tested in tests/test_object_storage_outputs.py, the
triage commands in tests/triage/test_object_storage.py.
The layer itself is tested in tests/io/test_store.py and tests/io/test_publish.py.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from logad.synth import generate_lo2, generate_openstack

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def s3(s3_server, tmp_path_factory):
    fs = s3_server["fs"]
    src = tmp_path_factory.mktemp("s3src")
    generate_openstack(src / "os", seed=2, lines=2000)
    generate_lo2(src / "lo2", seed=4, runs=2, errors_per_run=1, lines_per_file=30, services=["token", "code"], tar=True)
    tars = sorted((src / "lo2").glob("*.tar"))
    (src / "arch").mkdir()
    shutil.copy(tars[0], src / "arch" / tars[0].name)
    (src / "arch" / f"{tars[1].name}.gz").write_bytes(gzip.compress(tars[1].read_bytes(), mtime=0))
    for p in sorted((src / "os").glob("*.log")) + sorted((src / "arch").iterdir()):
        fs.put_file(str(p), f"logad-test/{p.parent.name}/{p.name}")
    yield {"fs": fs, "src": src, "env": s3_server["env"]}


def test_data_fetch_from_s3_is_verified_and_cached(s3, tmp_path):
    from logad.data import fetch

    local = s3["src"] / "os" / "nova-api.log"
    sha = hashlib.sha256(local.read_bytes()).hexdigest()
    r = fetch("s3://logad-test/os/nova-api.log", tmp_path, sha256=sha, chunk=4096)
    assert r["verified"] and (tmp_path / "nova-api.log").read_bytes() == local.read_bytes()
    assert fetch("s3://logad-test/os/nova-api.log", tmp_path, sha256=sha)["cached"]


def test_lo2_extract_reads_archives_from_s3(s3, tmp_path):
    from logad.lo2 import extract_archives

    a = extract_archives("s3://logad-test/arch", tmp_path / "from_s3")
    b = extract_archives(str(s3["src"] / "arch"), tmp_path / "local")
    assert a["extracted"] == b["extracted"] == 2 and not a["errors"]

    def tree(root):
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
                if p.is_file() and not p.relative_to(root).as_posix().startswith(".")}

    assert tree(tmp_path / "from_s3") == tree(tmp_path / "local")


_INGEST = textwrap.dedent("""
    import json, sys
    import pyarrow.parquet as pq
    from logad.ray.runtime import ensure_ray
    from logad.ray.ingest import run_ingest
    ensure_ray(num_cpus=2, object_store_memory=200 << 20)
    out = {}
    for name, src, preset in json.loads(sys.argv[1]):
        m = run_ingest([src], sys.argv[2] + "/" + name, {"preset": preset, "chunk_bytes": 32 << 10})
        t = pq.read_table(sys.argv[2] + "/" + name + "/events", columns=["line_no", "content"])
        out[name] = {"totals": m["totals"], "errors": m["errors"],
                     "rows": sorted(zip(t.column("line_no").to_pylist(), t.column("content").to_pylist()))}
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.timeout(240)
def test_ingest_reads_plain_files_and_tar_members_from_s3(s3, tmp_path):
    tar = next((s3["src"] / "arch").glob("*.tar"))
    jobs = [("os_s3", "s3://logad-test/os/", "OpenStack"), ("os_local", str(s3["src"] / "os" / "*.log"), "OpenStack"),
            ("tar_s3", f"s3://logad-test/arch/{tar.name}", "lo2"), ("tar_local", str(tar), "lo2")]
    env = {k: v for k, v in s3["env"].items() if k != "RAY_ADDRESS"}
    ray_tmp = tempfile.mkdtemp(prefix="lgs", dir="/tmp")  # a private Ray; socket paths fit 107 bytes
    env.update(LOGAD_PROGRESS="0", RAY_AUTH_MODE="disabled", RAY_TMPDIR=ray_tmp)
    try:
        res = subprocess.run([sys.executable, "-c", _INGEST, json.dumps(jobs), str(tmp_path)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=220)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert res.returncode == 0, res.stderr[-4000:]
    out = json.loads(next(l for l in res.stdout.splitlines() if l.startswith("RESULT "))[7:])
    for remote, local in (("os_s3", "os_local"), ("tar_s3", "tar_local")):
        assert not out[remote]["errors"]
        assert out[remote]["totals"] == out[local]["totals"] and out[remote]["totals"]["lines_read"] > 0
        assert out[remote]["rows"] == out[local]["rows"]


_PIPELINE = textwrap.dedent("""
    import json, sys
    import pyarrow.compute as pc
    from logad.io import open_stage, sequences_folder
    from logad.ray.runtime import ensure_ray
    from logad.ray.ingest import run_ingest
    from logad.ray.parse import run_parse
    from logad.ray.sessionize import run_sessionize
    from logad.ray.train import run_train
    from logad.ray.score import run_score
    from logad.evaluate.evaluation import run_evaluate
    from logad.ray.explain import run_explain
    from logad.report import run_report
    from logad.scoring.parts import read_scores
    ensure_ray(num_cpus=2, object_store_memory=200 << 20)

    def _read(where):  # a file the report names: a local path, or a URL in its run's prefix
        import fsspec
        with fsspec.open(where, "rb") as fh:
            return fh.read()

    src, out = sys.argv[1], {}
    ingest_cfg = {"preset": "OpenStack", "labels": src + "/anomaly_labels.txt", "chunk_bytes": 32 << 10}
    for name, base in (("s3", sys.argv[2]), ("local", sys.argv[3])):
        runs = []
        for _ in range(2):  # the second run of each stage skips
            runs.append([run_ingest([src + "/*.log"], base + "/events", ingest_cfg),
                         run_parse(base + "/events", base + "/parsed"),
                         run_sessionize(base + "/parsed", base + "/sessions", cfg={"by": "instance"}),
                         run_train("sequence_xgb_counts", base + "/sessions", base + "/model"),
                         # on the Ray actors: each fetches the model from object storage
                         run_score(base + "/model", base + "/sessions", base + "/scores", {"local_below": 0}),
                         run_evaluate(base + "/scores", base + "/eval", split="all"),
                         run_explain(base + "/model", base + "/sessions", base + "/scores", base + "/explain",
                                     {"shap_sample": 20, "shap_background": 40, "nn_normal_sample": 200}),
                         run_report(base + "/report", sequences=base + "/sessions", scores=base + "/scores",
                                    model_dirs=[base + "/model"], explain_dirs={"sequence_xgb_counts": base + "/explain"},
                                    split=None, title="s3")])
        tpl = open_stage(base + "/parsed", "parse")
        lines = tpl.read(["path", "line_no", "template_id"]).sort_by([("path", "ascending"), ("line_no", "ascending")])
        seqs = sequences_folder(base + "/sessions").read(["session_id", "label", "event_ids", "split"])
        seqs = seqs.sort_by("session_id")
        scores = read_scores(base + "/scores", columns=["session_id", "score", "rank", "is_anomaly", "label"])
        out[name] = {
            "counts": [m["counts"] for m in runs[0][:3]], "runs": [m.get("run") for m in runs[0][:3]],
            "train": {k: runs[0][3][k] for k in ("threshold", "threshold_method", "n_features", "train_rows", "validation")},
            "scores": scores.to_pylist(), "metrics": runs[0][5]["metrics"],
            "skipped_metrics": runs[1][5]["metrics"],
            "explain": {k: runs[0][6][k] for k in ("explainer", "explained", "sessions", "top_anomalies", "cases")},
            "report": json.loads(_read(runs[1][7]["html"].rsplit("/", 1)[0] + "/report.json"))["data"]["models"],
            "report_plots": runs[1][7]["plots"],
            # a local ingest re-run skips unit by unit, one on object storage as a whole
            "skipped": [bool(m.get("skipped")) or m.get("units_skipped", -1) == m.get("units") for m in runs[1][:7]],
            "line_templates": [[p.rsplit("/", 1)[-1], n, t] for p, n, t in zip(*(lines.column(c).to_pylist() for c in lines.column_names))],
            "sequences": seqs.to_pylist()}
    # the CLI, whose path options collapse `s3://` to `s3:/`: train, score, evaluate on s3 again
    from typer.testing import CliRunner
    from logad.cli import app
    from logad.io import read_published
    b, cli = sys.argv[2], {}
    for args in (["train", "--model", "sequence_xgb_counts", "--input", b + "/sessions", "--out", b + "/cli/model"],
                 ["score", "--model", b + "/cli/model", "--input", b + "/sessions", "--out", b + "/cli/scores"],
                 ["evaluate", "--scores", b + "/cli/scores", "--out", b + "/cli/eval", "--split", "all"]):
        r = CliRunner().invoke(app, args)
        cli[args[0]] = [r.exit_code, r.output[-800:]]
    out["cli"] = cli
    out["cli_metrics"] = json.loads(read_published(b + "/cli/eval", "metrics.json"))["metrics"]
    # `logad run` with out on s3: the synthetic corpus uploaded, every stage under it, then skipped
    from logad.pipeline import run_pipeline
    cfg = {"synth": {"kind": "openstack", "lines": 1500}, "seed": 1, "models": ["sequence_xgb_counts"],
           "explain_models": ["sequence_xgb_counts"],
           "explain": {"shap_sample": 10, "shap_background": 20, "nn_normal_sample": 100},
           "score": {"local_below": 0}, "report": {"baseline": sys.argv[3] + "/parsed"}}  # a local parse folder
    first, again = (run_pipeline(cfg, out=sys.argv[2] + "/run") for _ in range(2))
    out["pipeline"] = {"first": first["stages"], "again": again["stages"], "report": again["report"]}
    print("RESULT " + json.dumps(out, default=str))
""")


@pytest.mark.timeout(400)
def test_whole_pipeline_on_s3_matches_local_folders_and_reruns_skip(s3, tmp_path):
    from logad.io import Store, open_stage, read_published

    src = tmp_path / "corpus"
    generate_openstack(src, seed=3, lines=3000)
    s3_base = "s3://logad-test/pipeline"
    env = {k: v for k, v in s3["env"].items() if k != "RAY_ADDRESS"}
    ray_tmp = tempfile.mkdtemp(prefix="lgs", dir="/tmp")
    # fetched model and scores folders: a cache of the test's own
    env.update(LOGAD_PROGRESS="0", RAY_AUTH_MODE="disabled", RAY_TMPDIR=ray_tmp, LOGAD_CACHE=str(tmp_path / "cache"))
    try:
        res = subprocess.run([sys.executable, "-c", _PIPELINE, str(src), s3_base, str(tmp_path / "local")],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=380)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert res.returncode == 0, res.stderr[-4000:]
    out = json.loads(next(l for l in res.stdout.splitlines() if l.startswith("RESULT "))[7:])
    remote, local = out["s3"], out["local"]
    assert remote["line_templates"] == local["line_templates"] and len(remote["line_templates"]) == 3000
    assert remote["sequences"] == local["sequences"] and remote["sequences"]
    assert remote["counts"] == local["counts"]
    for c in remote["counts"]:
        assert c["read"] == c["processed"] + c["rejected"] > 0
    # train, score and evaluate on s3: the same model, scores and metrics as on local folders
    assert remote["train"] == local["train"]
    assert remote["scores"] == local["scores"] and len(remote["scores"]) == len(remote["sequences"])
    assert remote["metrics"] == local["metrics"] == remote["skipped_metrics"] == local["skipped_metrics"]
    assert remote["explain"] == local["explain"] and remote["explain"]["explained"] > 0
    assert remote["report"] == local["report"] and remote["report_plots"] == local["report_plots"]
    assert "shap_bar" in " ".join(remote["report_plots"])  # the explanation's plots, fetched
    # every stage but the report (which has no skip key, on local folders either) skips
    assert remote["skipped"] == local["skipped"] == [True] * 7
    assert all(r.startswith("_runs/") for r in remote["runs"]) and local["runs"] == [None] * 3
    fs = s3["fs"]
    for stage in ("events", "parsed", "sessions", "model", "scores", "eval", "explain", "report"):
        folder = f"logad-test/pipeline/{stage}"
        # the committed run's prefix only, and every file the manifest names under it
        assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls(folder)) == ["_runs", "manifest.json"], stage
        manifest = json.loads(fs.cat_file(f"{folder}/manifest.json"))
        assert Store.at(f"{s3_base}/{stage}").runs() == [manifest["run"]]
        named = [p["file"] if isinstance(p, dict) else p for p in manifest.get("parts") or manifest["published"]]
        assert stage in ("events", "parsed", "sessions", "scores") or \
            sorted(f["file"] for f in manifest["published"]) == \
            sorted(p[len(folder) + 1:] for p in fs.find(f"{folder}/{manifest['run']}")), stage
        assert named and all(f.startswith(manifest["run"] + "/") for f in named)
    assert all(code == 0 for code, _ in out["cli"].values()), out["cli"]
    assert out["cli_metrics"] == remote["metrics"]
    run = out["pipeline"]
    assert run["first"]["evaluate"]["table"][0]["f1"] is not None
    assert run["again"]["synth"]["skipped"] and run["again"]["score"]["skipped"]
    assert run["again"]["train"]["skipped"] == ["sequence_xgb_counts"]
    assert run["again"]["explain"]["sequence_xgb_counts"].endswith("(skipped)")
    assert run["report"].startswith(f"{s3_base}/run/report/_runs/")
    assert fs.isfile("logad-test/pipeline/run/pipeline.json")
    # report.baseline: `logad compare` of the run's parse folder on s3 against a local one, published
    compare = json.loads(read_published(f"{s3_base}/run/compare", "compare.json"))
    assert compare["baseline"] == str(tmp_path / "local" / "parsed") and 0 <= compare["js"] <= 1
    for stage in ("events", "parsed", "sessions", "models/sequence_xgb_counts", "scores",
                  "evaluation/sequence_xgb_counts", "explain/sequence_xgb_counts", "compare", "report"):
        folder = f"logad-test/pipeline/run/{stage}"
        assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls(folder)) == ["_runs", "manifest.json"], stage
    assert not (Path.cwd() / "s3:").exists()
    for stage, run in zip(("events", "parsed", "sessions"), remote["runs"]):
        found = open_stage(f"{s3_base}/{stage}")
        assert all(str(f).startswith(f"{s3_base}/{stage}/{run}/") for f in found.files)


def test_local_folder_writers_refuse_s3_in_one_line(tmp_path):
    from logad.errors import InputError
    from logad.io import atomic_dir, run_lock

    for out in ("s3://logad-test/features", Path("s3://logad-test/features")):  # --out as a path too
        with pytest.raises(InputError, match=r"^s3://logad-test/features: .*--out") as exc:
            with run_lock(out, "features"):
                pass
        assert "\n" not in str(exc.value)
        with pytest.raises(InputError, match="--out"):
            with atomic_dir(out):
                pass
    assert not (Path.cwd() / "s3:").exists()


_TORCH = textwrap.dedent("""
    import json, sys
    import numpy as np
    from logad.models.trained import TrainedModel
    from logad.ray.runtime import ensure_ray
    from logad.ray.train import run_train
    from tests.models.conftest import FAST_PARAMS
    from tests.scoring.factory import make_sequences, write_sequences
    from pathlib import Path
    ensure_ray(num_cpus=2, object_store_memory=200 << 20)
    seqs = write_sequences(make_sequences(200, seed=5), Path(sys.argv[2]) / "seqs")
    cfg = {"params": {**FAST_PARAMS["deeplog"], "epochs": 2}, "workers": 2}
    runs = [run_train("sequence_deeplog", seqs, sys.argv[1] + "/model", cfg) for _ in range(2)]
    table = make_sequences(60, seed=7)
    scores = TrainedModel.load(sys.argv[1] + "/model").score(table)[0]
    print("RESULT " + json.dumps({"ray_train": runs[0]["ray_train"], "skipped": bool(runs[1].get("skipped")),
                                  "scores": np.asarray(scores).tolist()}))
""")


@pytest.mark.timeout(300)
def test_torch_model_trains_through_ray_train_with_its_run_and_model_on_s3(s3, tmp_path):
    url = "s3://logad-test/torch"
    env = {k: v for k, v in s3["env"].items() if k != "RAY_ADDRESS"}
    ray_tmp = tempfile.mkdtemp(prefix="lgs", dir="/tmp")
    env.update(LOGAD_PROGRESS="0", RAY_AUTH_MODE="disabled", RAY_TMPDIR=ray_tmp, LOGAD_CACHE=str(tmp_path / "cache"))
    try:
        res = subprocess.run([sys.executable, "-c", _TORCH, url, str(tmp_path)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=280)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert res.returncode == 0, res.stderr[-4000:]
    out = json.loads(next(l for l in res.stdout.splitlines() if l.startswith("RESULT "))[7:])
    assert out["ray_train"]["workers"] == 2 and out["ray_train"]["run"] == f"{url}/model.train/sequence_deeplog"
    assert out["skipped"] and len(out["scores"]) > 0
    fs = s3["fs"]
    # Ray Train's run and its checkpoints on s3, beside the model folder (published: _runs + manifest)
    assert any("checkpoint_" in p for p in fs.find("logad-test/torch/model.train/sequence_deeplog"))
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls("logad-test/torch/model")) == ["_runs", "manifest.json"]
    manifest = json.loads(fs.cat_file("logad-test/torch/model/manifest.json"))
    assert any(f["file"].endswith("model.safetensors") for f in manifest["published"])


def test_score_stages_its_parts_on_object_storage_and_ranks_as_on_local_disk(s3, tmp_path, monkeypatch):
    """On a cluster of several nodes the score workers cannot share a local staging folder:
    they stage on object storage (``LOGAD_STAGING`` as a URL here, a prefix of the scores
    folder's own by default). Small rank buckets send every staged part through the split,
    refine and rank steps there; the scores equal a local run's and nothing staged is left."""
    from logad.ray.score import run_score
    from logad.ray.train import run_train
    from logad.scoring.parts import read_scores
    from tests.scoring.factory import make_sequences, write_sequences

    seq = write_sequences(make_sequences(400, seed=9), tmp_path / "seq", parts=2)
    run_train("sequence_xgb_counts", seq, tmp_path / "model")
    cfg = {"local_below": 10**9, "rows_per_bucket": 40, "batch_size": 50}
    monkeypatch.setenv("LOGAD_CACHE", str(tmp_path / "cache"))
    here = run_score(tmp_path / "model", seq, tmp_path / "scores", cfg)
    monkeypatch.setenv("LOGAD_STAGING", "s3://logad-test/staging")
    there = run_score(tmp_path / "model", seq, "s3://logad-test/scored", cfg)
    assert there["rank_pass"]["buckets"] == here["rank_pass"]["buckets"] > 5
    assert there["rank_pass"]["refined"] == here["rank_pass"]["refined"]
    cols = ["session_id", "score", "rank", "is_anomaly"]
    assert read_scores("s3://logad-test/scored", columns=cols).equals(
        read_scores(tmp_path / "scores", columns=cols))
    assert s3["fs"].glob("logad-test/staging/**") == []
