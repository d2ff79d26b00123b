"""``logad synth`` through Typer's CliRunner, on an app of our own (independent of the wiring list)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from logad.cli.synth import register
from tests.synth.conftest import tree_digest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keeps `synth` a subcommand, as in the real app
        pass

    return app


def run(app, *args):
    return CliRunner().invoke(app, ["synth", *map(str, args)], env={"COLUMNS": "250", "NO_COLOR": "1"})


def test_help_lists_the_knobs_and_an_example(app):
    res = run(app, "--help")
    assert res.exit_code == 0
    for word in ("Example:", "--seed", "--anomaly-ratio", "--correct-length-factor", "--tar", "--errors-per-run",
                 "--lines", "--episode-max"):
        assert word in res.output


def test_openstack_writes_files_config_and_summary(app, tmp_path):
    res = run(app, "openstack", "--out", tmp_path, "--seed", 3, "--lines", 1500, "--anomaly-ratio", 0.2,
              "--anomaly-kind", "missing_steps", "--anomaly-kind", "spawn_failure")
    assert res.exit_code == 0, res.output
    assert "anomalies" in res.output and "synth openstack" in res.output
    cfg = yaml.safe_load((tmp_path / "synth_config.yaml").read_text())
    assert cfg["kind"] == "openstack" and cfg["seed"] == 3
    assert cfg["openstack"]["lines"] == 1500 and cfg["openstack"]["anomaly_ratio"] == 0.2
    assert cfg["openstack"]["anomaly_kinds"] == ["missing_steps", "spawn_failure"]
    assert cfg["openstack"]["compute_hosts"] == 2  # from configs/synth.yaml
    total = sum(len(p.read_text().splitlines()) for p in tmp_path.glob("*.log"))
    assert total == 1500
    kinds = {line.split(",")[2] for line in (tmp_path / "instances.csv").read_text().splitlines()[1:]}
    assert kinds <= {"", "missing_steps", "spawn_failure"}


def test_lo2_with_tar(app, tmp_path):
    res = run(app, "lo2", "--out", tmp_path, "--runs", 1, "--errors-per-run", 2, "--lines-per-file", 50,
              "--service", "token", "--service", "user", "--tar", "--correct-length-factor", 2)
    assert res.exit_code == 0, res.output
    assert len(list(tmp_path.glob("light-oauth2-data-*.tar"))) == 1
    assert len(list(tmp_path.glob("light-oauth2-data-*/*/*.log"))) == 3 * 2
    cfg = yaml.safe_load((tmp_path / "synth_config.yaml").read_text())
    assert cfg["lo2"]["services"] == ["token", "user"] and cfg["lo2"]["tar"] is True
    assert cfg["lo2"]["correct_length_factor"] == 2.0


def test_kernel_and_a_config_file_with_flag_override(app, tmp_path):
    conf = tmp_path / "my.yaml"
    conf.write_text("seed: 5\nkernel:\n  lines: 800\n  host: node7\n")
    out = tmp_path / "out"
    res = run(app, "kernel", "--out", out, "--config", conf, "--lines", 900, "--episode-max", 12)
    assert res.exit_code == 0, res.output
    log_lines = (out / "kernel.log").read_text().splitlines()
    assert len(log_lines) == 900 and all(" node7 " in x for x in log_lines)
    assert len((out / "kernel_labels.csv").read_text().splitlines()) == 901
    cfg = yaml.safe_load((out / "synth_config.yaml").read_text())
    assert cfg["seed"] == 5 and cfg["kernel"]["episode_lines"] == [6, 12]


def test_same_seed_same_bytes_through_the_cli(app, tmp_path):
    for d in ("a", "b"):
        assert run(app, "kernel", "--out", tmp_path / d, "--seed", 1, "--lines", 400).exit_code == 0
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")


@pytest.mark.parametrize("args, message", [
    (("lo2", "--lines", 10), "--lines does not apply to lo2"),
    (("kernel", "--runs", 2), "--runs is an option of lo2"),
    (("openstack", "--anomaly-ratio", 3), "anomaly_ratio"),
    (("lo2", "--service", "nope"), "services"),
    (("openstack", "--episode-min", 3), "--episode-min"),
])
def test_errors_are_one_line_and_nonzero(app, tmp_path, args, message):
    res = run(app, args[0], "--out", tmp_path / "x", *args[1:])
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x" / "synth_config.yaml").exists()


def test_unknown_config_keys_are_refused(app, tmp_path):
    conf = tmp_path / "bad.yaml"
    conf.write_text("kernel:\n  linez: 10\n")
    res = run(app, "kernel", "--out", tmp_path / "o", "--config", conf)
    assert res.exit_code == 2 and "linez" in res.output


def test_bytes_do_not_depend_on_hash_randomisation(tmp_path):
    code = ("import sys; from logad.synth import generate_openstack, generate_lo2, generate_kernel; "
            "o = sys.argv[1]; generate_openstack(o + '/os', seed=2, lines=1500); "
            "generate_lo2(o + '/lo2', seed=2, runs=1, errors_per_run=2, lines_per_file=40, tar=True); "
            "generate_kernel(o + '/k', seed=2, lines=500)")
    digests = []
    for hashseed in ("1", "2"):
        out = tmp_path / hashseed
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, cwd=ROOT, env=env)
        digests.append(tree_digest(out))
    assert digests[0] == digests[1] and len(digests[0]) > 20


def test_leftovers_of_an_earlier_run_are_reported(app, tmp_path):
    assert run(app, "lo2", "--out", tmp_path, "--seed", 1, "--runs", 1, "--errors-per-run", 1,
               "--lines-per-file", 40).exit_code == 0
    res = run(app, "lo2", "--out", tmp_path, "--seed", 2, "--runs", 1, "--errors-per-run", 1, "--lines-per-file", 40)
    assert res.exit_code == 0
    assert "stale files" in res.output
    res = run(app, "lo2", "--out", tmp_path / "fresh", "--seed", 2, "--runs", 1, "--errors-per-run", 1,
              "--lines-per-file", 40)
    assert "stale files" not in res.output
