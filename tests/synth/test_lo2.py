"""The LO2 corpus: real layout and line format, traces after ERROR lines, lengths, metrics, tars."""

from __future__ import annotations

import csv
import json
import re
import tarfile
from collections import defaultdict
from pathlib import Path

import pytest

from logad.errors import ConfigError
from logad.synth.lo2 import ERROR_CASES, SERVICES, generate_lo2
from tests.conftest import require_shared
from tests.synth.conftest import tree_digest

# The line regex of shared/data/lo2_sample/README.md, with its placeholders filled in.
LO2_RE = re.compile(r"^(?P<time>\d{2}:\d{2}:\d{2}\.\d{3}) \[(?P<thread>[^\]]+)\] +(?P<cid>\S*) +"
                    r"(?P<level>TRACE|DEBUG|INFO|WARN|ERROR|FATAL) +(?P<logger>\S+) +(?P<method>\S+) - (?P<msg>.*)$")
# The exact spacing of the real files: two spaces after the thread, the level padded to five.
LO2_STRICT = re.compile(r"^\d{2}:\d{2}:\d{2}\.\d{3} \[[^\]]+\]  (\S+)? (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) \S+ \S+ - .*$")
LAYOUT_RE = re.compile(r"^(?P<run>light-oauth2-data-\d{10})/(?P<case>[A-Za-z0-9_]+)/"
                       r"light-oauth2-oauth2-(?P<service>client|code|key|refresh-token|service|token|user)-1\.log$")
CASE_NAME_RE = re.compile(r"^[a-z_]+_[a-zA-Z_]*\d{3}[a-zA-Z_]*$")
TRACE_RE = re.compile(r"^(\tat \S+\(\S+\)|Caused by: \S+.*|\t\.\.\. \d+ common frames omitted|[\w.$]+(Exception|Error)(: .*)?)$")


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    out = tmp_path_factory.mktemp("lo2")
    summary = generate_lo2(out, seed=4, runs=4, errors_per_run=4, lines_per_file=200, tar=True)
    return out, summary


def _rows(out: Path) -> list[dict]:
    with open(out / "lo2_files.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_regexes_match_the_real_lo2_file():
    path = require_shared("lo2_sample", "reconstructed", "light-oauth2-data-1719592986", "correct",
                          "light-oauth2-oauth2-token-1.log")
    lines = path.read_text().splitlines()
    assert lines and all(LO2_RE.match(x) and LO2_STRICT.match(x) for x in lines)
    assert LAYOUT_RE.match(path.relative_to(path.parents[2]).as_posix())


def test_layout_and_names_match_the_real_pattern(dump):
    out, summary = dump
    logs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.log"))
    assert len(logs) == summary["log_files"] == 4 * 5 * len(SERVICES)
    by_run = defaultdict(set)
    for rel in logs:
        m = LAYOUT_RE.match(rel)
        assert m, rel
        by_run[m["run"]].add(m["case"])
    assert len(by_run) == 4
    for cases in by_run.values():
        assert "correct" in cases and len(cases) == 5
        assert all(c in ERROR_CASES for c in cases - {"correct"})
    assert len(ERROR_CASES) >= 10
    assert all(CASE_NAME_RE.match(name) for name in ERROR_CASES)
    assert {"access_token_auth_header_error_401", "delete_token_404"} <= set(ERROR_CASES)
    for run in by_run:
        assert (out / "metrics" / f"{run}.csv").is_file()
        assert (out / f"{run}.tar").is_file()
        assert sorted(p.name for p in (out / run).glob("metric_*.json"))


def test_every_timestamped_line_matches_and_traces_follow_error_lines(dump):
    out, _ = dump
    traces = 0
    for path in out.rglob("*.log"):
        last_level = None
        for line in path.read_text().splitlines():
            m = LO2_RE.match(line)
            if m:
                assert LO2_STRICT.match(line), line
                last_level = m["level"]
                continue
            assert TRACE_RE.match(line), (path, line)
            assert last_level == "ERROR", (path, line)
            traces += 1
    assert traces > 0


def test_error_files_carry_their_error_and_normal_files_have_errors_too(dump):
    out, _ = dump
    rows = _rows(out)
    correct_errors = 0
    for r in rows:
        text = (out / r["path"]).read_text()
        if r["test_case"] == "correct":
            assert r["label"] == "0"
            correct_errors += text.count(" ERROR ")
            continue
        assert r["label"] == "1"
        case = ERROR_CASES[r["test_case"]]
        if r["error_service"] == "1":
            assert int(r["failing_requests"]) >= 1
            assert f'"statusCode":{case.status},"code":"{case.code}"' in text
            assert " ERROR " in text
            if case.style != "validation":
                assert "\tat com.networknt." in text
        else:
            assert case.code not in text
    assert correct_errors > 0
    assert sum(r["error_service"] == "1" for r in rows) == 4 * 4


def _mean(xs):
    return sum(xs) / len(xs)


def test_length_does_not_give_the_label_away_by_default(dump):
    out, _ = dump
    rows = _rows(out)
    lines = lambda rs: [int(r["lines"]) for r in rs]  # noqa: E731
    ratio = _mean(lines([r for r in rows if r["label"] == "1"])) / _mean(lines([r for r in rows if r["label"] == "0"]))
    assert 0.7 <= ratio <= 1.4
    for svc in SERVICES:
        err = lines([r for r in rows if r["label"] == "1" and r["service"] == svc])
        ok = lines([r for r in rows if r["label"] == "0" and r["service"] == svc])
        assert min(err) < max(ok) and min(ok) < max(err), svc  # the ranges overlap


def test_correct_length_factor_makes_length_separable(tmp_path):
    generate_lo2(tmp_path, seed=4, runs=3, errors_per_run=3, lines_per_file=200, correct_length_factor=6.0)
    rows = _rows(tmp_path)
    for svc in SERVICES:
        err = [int(r["lines"]) for r in rows if r["label"] == "1" and r["service"] == svc]
        ok = [int(r["lines"]) for r in rows if r["label"] == "0" and r["service"] == svc]
        assert min(ok) > max(err), svc
    ratio = _mean([int(r["lines"]) for r in rows if r["label"] == "1"]) / \
        _mean([int(r["lines"]) for r in rows if r["label"] == "0"])
    assert ratio < 0.3


def test_metrics_csv_and_prometheus_json(dump):
    out, _ = dump
    for csv_path in sorted((out / "metrics").glob("*.csv")):
        run = csv_path.stem
        epoch = int(run.rsplit("-", 1)[1])
        with open(csv_path, newline="") as fh:
            recs = list(csv.DictReader(fh))
        assert recs[0]["timestamp"] == str(epoch)
        ts = [int(r["timestamp"]) for r in recs]
        assert ts == sorted(ts) and len(ts) > 2
        assert all(float(v) >= 0 for r in recs for v in r.values())
        assert any(float(r["rate_requests_token"]) > 0 for r in recs)
        for js in (out / run).glob("metric_*.json"):
            doc = json.loads(js.read_text())
            assert doc["metric"]["__name__"] == js.stem[len("metric_"):]
            assert [int(t) for t, _ in doc["values"]] == ts
            assert all(isinstance(v, str) and float(v) >= 0 for _, v in doc["values"])


def test_tar_holds_the_run_folder_byte_for_byte(dump):
    out, _ = dump
    for tar_path in sorted(out.glob("*.tar")):
        run = tar_path.stem
        with tarfile.open(tar_path) as tf:
            members = tf.getmembers()
            names = [m.name for m in members]
            assert names == sorted(names)
            assert {m.mtime for m in members} == {int(run.rsplit("-", 1)[1])}
            assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}
            files = {m.name: tf.extractfile(m).read() for m in members if m.isfile()}
        on_disk = {p.relative_to(out).as_posix(): p.read_bytes() for p in (out / run).rglob("*") if p.is_file()}
        assert files == on_disk


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    kw = dict(runs=2, errors_per_run=2, lines_per_file=60, tar=True)
    generate_lo2(tmp_path / "a", seed=9, **kw)
    generate_lo2(tmp_path / "b", seed=9, **kw)
    generate_lo2(tmp_path / "c", seed=10, **kw)
    da, db, dc = (tree_digest(tmp_path / x) for x in "abc")
    assert da == db
    shared = set(da) & set(dc)
    assert all(da[f] != dc[f] for f in shared if f.endswith((".log", ".tar")))


def test_services_and_cases_can_be_restricted(tmp_path):
    s = generate_lo2(tmp_path, seed=1, runs=2, services=["token"], errors_per_run=2,
                     error_cases=["access_token_auth_header_error_401", "delete_token_404", "verification_failed_pkce_400"],
                     lines_per_file=60)
    rows = _rows(tmp_path)
    assert {r["service"] for r in rows} == {"token"}
    assert {r["test_case"] for r in rows} <= {"correct", "access_token_auth_header_error_401", "verification_failed_pkce_400"}
    assert s["log_files"] == 2 * 3


@pytest.mark.parametrize("kwargs, word", [({"services": ["nope"]}, "services"),
                                          ({"errors_per_run": 99}, "errors_per_run"),
                                          ({"error_cases": ["made_up_500"]}, "error_cases"),
                                          ({"error_share": 0}, "error_share"),
                                          ({"lines_per_file": 3}, "lines_per_file")])
def test_bad_parameters_are_named(tmp_path, kwargs, word):
    with pytest.raises(ConfigError, match=word):
        generate_lo2(tmp_path, seed=1, **kwargs)
    assert not any(tmp_path.iterdir())
