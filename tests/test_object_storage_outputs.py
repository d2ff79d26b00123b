"""The commands that build small outputs on the driver, on object storage: `logad synth`,
`logad compare` and `logad ingest-sessions` with an
``s3://`` --out (and ``s3://`` inputs) against a real S3-protocol server (moto's, the
``s3_server`` fixture of tests/conftest.py). Each writes what its local run writes, committed by
the folder's ``manifest.json``, and a second run with the same inputs and settings skips.
The triage commands are tested so in tests/triage/test_object_storage.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

def _committed(fs, folder: str) -> dict:
    """The committed manifest of ``logad-test/<folder>``; the folder holds only it and the
    committed run's prefix."""
    manifest = json.loads(fs.cat_file(f"logad-test/{folder}/manifest.json"))
    assert manifest["status"] == "complete" and manifest["run_key"]
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"logad-test/{folder}")) == ["_runs", "manifest.json"]
    return manifest


def test_synth_writes_a_corpus_to_s3_that_ingest_can_glob_and_a_rerun_skips(s3_server, tmp_path):
    from typer.testing import CliRunner

    from logad.cli import app
    from logad.config import load_config, load_yaml
    from logad.sources.files import expand_sources
    from logad.synth import run_synth

    fs = s3_server["fs"]
    args = ["synth", "openstack", "--seed", "5", "--lines", "300"]
    local = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "local")])
    remote = CliRunner().invoke(app, [*args, "--out", "s3://logad-test/synth"])  # a path option: s3:/
    assert local.exit_code == 0 and remote.exit_code == 0, remote.output
    files = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls("logad-test/synth")) == sorted([*files, "manifest.json"])
    for name in files:  # the same bytes, under the same names
        assert fs.cat_file(f"logad-test/synth/{name}") == (tmp_path / "local" / name).read_bytes(), name
    manifest = json.loads(fs.cat_file("logad-test/synth/manifest.json"))
    assert manifest["stage"] == "synth" and sorted(manifest["files"]) == files
    logs = expand_sources(["s3://logad-test/synth/*.log"])
    assert sorted(f.url.rsplit("/", 1)[-1] for f in logs) == sorted(f for f in files if f.endswith(".log"))
    again = CliRunner().invoke(app, [*args, "--out", "s3://logad-test/synth"])
    assert again.exit_code == 0 and "skipped" in again.output, again.output
    cfg = load_config(None, {"seed": 5, "openstack.lines": 300}, defaults=load_yaml("synth"))
    assert run_synth("openstack", "s3://logad-test/synth", cfg)["skipped"]
    other = run_synth("openstack", "s3://logad-test/synth", {**cfg, "seed": 6})
    assert not other.get("skipped")
    assert fs.cat_file("logad-test/synth/nova-api.log") != (tmp_path / "local" / "nova-api.log").read_bytes()


def _parse_folder(root: Path, counts: dict[str, int]) -> Path:
    """A finished parse folder: an events part (``counts[t]`` lines of template ``t``) and
    ``templates.parquet``."""
    from logad.io import part_entries, write_json

    ids = [t for t, n in counts.items() for _ in range(n)]
    (root / "events").mkdir(parents=True)
    pq.write_table(pa.table({"path": ["a.log"] * len(ids), "line_no": list(range(1, len(ids) + 1)),
                             "template_id": ids, "raw": [f"{t} line {i}" for i, t in enumerate(ids)]}),
                   root / "events" / "part-000000.parquet")
    write_json({"stage": "parse", "status": "complete",
                "parts": part_entries(root, ["events/part-000000.parquet"])}, root / "manifest.json")
    pq.write_table(pa.table({"template_id": list(counts), "template": [f"{t} <*>" for t in counts],
                             "count": list(counts.values())}), root / "templates.parquet")
    return root


def test_compare_reads_parse_folders_on_s3_and_publishes_its_result(s3_server, tmp_path):
    from logad.io import publish_dir, read_json, read_published
    from logad.report.compare import run_compare

    target = _parse_folder(tmp_path / "target", {"t1": 5, "t2": 3, "new": 4})
    base = _parse_folder(tmp_path / "base", {"t1": 6, "t2": 2, "gone": 1})
    for name, folder in (("target", target), ("base", base)):
        publish_dir(folder, f"s3://logad-test/compare/{name}", read_json(folder / "manifest.json"))
    local = run_compare(target, base, tmp_path / "out")
    url = "s3://logad-test/compare/out"
    remote = run_compare("s3://logad-test/compare/target", "s3://logad-test/compare/base", url)
    assert local["appeared"][0]["template_id"] == "new" and local["vanished"][0]["template_id"] == "gone"
    assert len(local["appeared"][0]["samples"]) == 3  # raw lines read from the events parts

    def same(r):
        return {k: v for k, v in r.items() if k not in ("target", "baseline", "skipped")}

    assert same(remote) == same(local)
    assert remote["target"] == "s3://logad-test/compare/target"
    _committed(s3_server["fs"], "compare/out")
    assert json.loads(read_published(url, "compare.json")) == remote
    again = run_compare(Path("s3://logad-test/compare/target"), "s3://logad-test/compare/base", url)
    assert again["skipped"] and same(again) == same(local)
    # a new commit of an input: compared again
    publish_dir(base, "s3://logad-test/compare/base", read_json(base / "manifest.json"))
    assert not run_compare("s3://logad-test/compare/target", "s3://logad-test/compare/base", url).get("skipped")


def test_ingest_sessions_reads_and_writes_s3(s3_server, tmp_path):
    from logad.io import open_stage, sequences_folder
    from logad.sources.session_files import run_ingest_sessions

    fs = s3_server["fs"]
    fs.pipe_file("logad-test/sessions-in/hdfs_test_normal", ("\n".join("5 5 22 11 9" for _ in range(40)) + "\n").encode())
    fs.pipe_file("logad-test/sessions-in/hdfs_test_abnormal", ("\n".join("5 22 7 7" for _ in range(10)) + "\n").encode())
    sources = ["s3://logad-test/sessions-in/hdfs_test_normal", "s3://logad-test/sessions-in/hdfs_test_abnormal"]
    url = "s3://logad-test/sessions-out"
    local = run_ingest_sessions(sources, tmp_path / "local")
    remote = run_ingest_sessions(sources, Path(url))  # a path option's s3:/ too
    assert remote["counts"] == local["counts"] == {"read": 50, "processed": 50, "rejected": 0}
    manifest = _committed(fs, "sessions-out")
    assert remote["run"] == manifest["run"] and remote["files"] == local["files"]  # the per-file rows
    assert manifest["stage"] == "ingest-sessions"
    # the committed manifest keeps the per-file rows beside the list of what was published
    assert manifest["files"] == local["files"] and manifest["counts"] == local["counts"]
    assert any(f["file"].endswith("split.parquet") for f in manifest["published"])
    found = sequences_folder(url)
    assert all(str(f).startswith(f"{url}/{manifest['run']}/sequences/") for f in found.files)
    cols = ["session_id", "label", "event_ids", "split"]
    assert found.read(cols).equals(sequences_folder(tmp_path / "local").read(cols))
    assert found.read(cols).num_rows == 50
    split = pq.read_table(fs.open(found.side("split.parquet")[len("s3://"):]))
    assert split.equals(pq.read_table(tmp_path / "local" / "split.parquet"))
    again = run_ingest_sessions(sources, url)
    assert again["skipped"] and again["run"] == manifest["run"] and again["files"] == local["files"]
    assert not run_ingest_sessions(sources, url, seed=1, split="random").get("skipped")
    assert open_stage(url, "ingest-sessions").info.run != manifest["run"]
