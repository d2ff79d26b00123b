"""The CLI stays thin: flags → settings → one runner → a printed summary.

No module of ``logad/cli`` imports Ray, starts it (``ensure_ray``), writes CSV or calls two
stage runners in one command; commands are registered from one explicit list.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import logad.cli

CLI = Path(logad.cli.__file__).parent


def _modules():
    for path in sorted(CLI.glob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_no_ray_start_no_csv_in_the_cli():
    bad = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                bad += [f"{path.name}:{node.lineno} import {a.name}" for a in node.names
                        if a.name.split(".")[0] in ("ray", "csv")]
            elif isinstance(node, ast.ImportFrom) and node.module:
                if node.module.split(".")[0] in ("ray", "csv") or any(
                        a.name == "ensure_ray" for a in node.names):
                    bad.append(f"{path.name}:{node.lineno} from {node.module} import ...")
    assert not bad, bad


def test_each_command_calls_at_most_one_runner():
    for path, tree in _modules():
        for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            calls = {n.func.id for n in ast.walk(fn) if isinstance(n, ast.Call)
                     and isinstance(n.func, ast.Name) and n.func.id.startswith("run_")}
            assert len(calls) <= 1, f"{path.name}: {fn.name} calls {sorted(calls)}"


def test_every_command_module_is_registered():
    names = {m.__name__.rsplit(".", 1)[1] for m in logad.cli.COMMAND_MODULES}
    files = {p.stem for p in CLI.glob("*.py")} - {"__init__", "common", "settings"}
    assert names == files


def test_a_small_stage_with_num_cpus_starts_no_ray(tmp_path):
    """--num-cpus sizes the local Ray a runner starts when it needs one; a sessionize small
    enough to run in this process starts none (before, the CLI started it up front)."""
    from tests.sessions.factory import make_events, write_parsed

    events = make_events([{"source": "BGL", "path": "bgl.log", "line_no": i + 1, "order": i + 1,
                           "t": i * 7, "label": int(i in (20, 55)),
                           "template_id": f"{i % 5:016x}"} for i in range(120)])
    write_parsed(events, tmp_path / "parsed")
    r = subprocess.run([sys.executable, "-m", "logad", "-v", "sessionize", str(tmp_path / "parsed"),
                        "--by", "fixed", "--window", "10", "--out", str(tmp_path / "s"),
                        "--num-cpus", "1"], capture_output=True, text=True, timeout=300,
                       cwd=Path(__file__).parents[2])
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "s" / "manifest.json").is_file()
    assert "Started a local Ray instance" not in r.stderr
