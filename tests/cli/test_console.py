"""What a person sees: logad's own lines, Ray's chatter hidden unless -v, --quiet, --json."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from logad import console
from logad.ray.runtime import _system_line

HDFS_LINES = [
    "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating",
    "081109 203807 222 INFO dfs.DataNode$PacketResponder: PacketResponder 0 for block blk_-6952295868487656571 terminating",
    "081109 204005 35 INFO dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated: 10.251.73.220:50010 is added to blk_7128370237687728475 size 67108864",
]


def _logad(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", LOGAD_PROGRESS="1")
    return subprocess.run([sys.executable, "-m", "logad", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def log_file(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("console")
    (d / "HDFS.log").write_text("\n".join(HDFS_LINES) + "\n")
    return d / "HDFS.log"


def test_default_console_is_logad_only_and_verbose_shows_ray(log_file, tmp_path):
    # labels large enough that Ray would keep the workers' constructor arguments in its object
    # store, and its C++ core would say so on stderr
    labels = tmp_path / "labels.csv"
    labels.write_text("BlockId,Label\n" + "".join(f"blk_{i},{'Anomaly' if i % 7 else 'Normal'}\n"
                                                   for i in range(20_000)))
    quiet = _logad("ingest", str(log_file), "--preset", "HDFS", "--out", str(tmp_path / "a"),
                   "--labels", str(labels), "--num-cpus", "1", "--set", "in_process_below_bytes=0",
                   cwd=tmp_path)  # on Ray, although the input is small
    assert quiet.returncode == 0, quiet.stderr
    lines = [ln for ln in quiet.stderr.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("logad") for ln in lines), quiet.stderr
    assert "Started a local Ray instance" not in quiet.stderr
    assert "3" in quiet.stdout  # the result table: 3 events

    loud = _logad("-v", "ingest", str(log_file), "--preset", "HDFS", "--out", str(tmp_path / "b"),
                  "--num-cpus", "1", "--set", "in_process_below_bytes=0", cwd=tmp_path)
    assert loud.returncode == 0, loud.stderr
    assert "Started a local Ray instance" in loud.stderr
    assert "DEBUG logad" in loud.stderr


def test_quiet_and_json(log_file, tmp_path):
    q = _logad("--quiet", "ingest", str(log_file), "--preset", "HDFS", "--out",
               str(tmp_path / "q"), "--num-cpus", "1", cwd=tmp_path)
    assert q.returncode == 0 and q.stdout == "" and q.stderr == "", (q.stdout, q.stderr)

    j = _logad("--json", "ingest", str(log_file), "--preset", "HDFS", "--out",
               str(tmp_path / "j"), "--num-cpus", "1", cwd=tmp_path)
    assert j.returncode == 0, j.stderr
    doc = json.loads(j.stdout)  # stdout is one JSON document and nothing else
    assert doc["command"] == "ingest" and doc["ok"] is True
    rows = next(iter(doc["results"].values()))
    assert 3 in rows.values()

    bad = _logad("--json", "ingest", str(tmp_path / "missing.log"), "--out", str(tmp_path / "x"),
                 cwd=tmp_path)
    assert bad.returncode != 0
    err = json.loads(bad.stdout)
    assert err["ok"] is False and "missing.log" in err["error"] and err["exit_code"] == bad.returncode
    assert "Traceback" not in bad.stderr and "logad: error:" in bad.stderr


@pytest.fixture
def restored_logging():
    """configure() sets process-wide logging; give the rest of the session back what it had."""
    import warnings

    names = ["", "logad", *console._LIBRARY_LOGGERS]
    levels = {n: logging.getLogger(n).level for n in names}
    handlers = list(logging.getLogger().handlers)
    filters = list(warnings.filters)
    yield
    for n, lvl in levels.items():
        logging.getLogger(n).setLevel(lvl)
    logging.getLogger().handlers[:] = handlers
    warnings.filters[:] = filters
    console.configure.__globals__["_MODE"] = console.Mode()


def test_progress_lines_and_formatter(caplog, restored_logging):
    console.configure()
    with caplog.at_level(logging.INFO, logger="logad.progress"):
        with console.Progress("score", total=4, unit="parts", every_s=0.0) as p:
            p.advance(1)
            p.advance(3)
    msgs = [r.getMessage() for r in caplog.records if r.name == "logad.progress"]
    assert msgs[0].startswith("score: 1/4 parts (25 %)") and msgs[-1].startswith("score: 4/4 parts (100 %)")
    fmt = console._Formatter(verbose=False)
    rec = logging.LogRecord("logad.ray.ingest", logging.WARNING, __file__, 1, "a.log: 2 bad lines", (), None)
    assert fmt.format(rec) == "logad: warning: a.log: 2 bad lines"
    console.configure(quiet=True)
    assert not logging.getLogger("logad.progress").isEnabledFor(logging.INFO)
    assert logging.getLogger("logad.progress").isEnabledFor(logging.WARNING)
    assert not logging.getLogger("ray.data").isEnabledFor(logging.WARNING)


def test_ray_system_lines_are_told_from_worker_lines():
    assert _system_line({"pid": "gcs_server", "lines": ["Failed to kill actor"]})
    assert _system_line({"pid": "raylet", "lines": ["..."]})
    assert not _system_line({"pid": 4242, "lines": ["logad: warning: a.log line 3: ..."]})
