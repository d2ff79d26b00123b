"""The commands that build small outputs on the driver, on object storage: `logad synth` with an
``s3://`` --out (and ``s3://`` inputs) against a real S3-protocol server (moto's, the
``s3_server`` fixture of tests/conftest.py). Each writes what its local run writes, committed by
the folder's ``manifest.json``, and a second run with the same inputs and settings skips.
"""

from __future__ import annotations

import json


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
