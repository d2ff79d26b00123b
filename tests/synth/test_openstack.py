"""The OpenStack corpus: loghub format, time order, labels, ratio, variety, determinism."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

import pytest

from logad.errors import ConfigError
from logad.synth.openstack import ANOMALY_KINDS, SERVICES, generate_openstack
from tests.conftest import require_shared
from tests.synth.conftest import tree_digest

# loghub's format '<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<ADDR>\] <Content>', made strict.
OPENSTACK_RE = re.compile(
    r"^(?P<Logrecord>[a-z-]+\.log\.1\.\d{4}-\d{2}-\d{2}_\d{2}:\d{2}:\d{2}) "
    r"(?P<Date>\d{4}-\d{2}-\d{2}) (?P<Time>\d{2}:\d{2}:\d{2}\.\d{3}) (?P<Pid>\d+) "
    r"(?P<Level>INFO|WARNING|ERROR|DEBUG|CRITICAL) (?P<Component>[A-Za-z_][\w.]*) "
    r"\[(?P<ADDR>[^\]]*)\] (?P<Content>.+)$")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ADDR_RE = re.compile(rf"^(-|req-{UUID} ([0-9a-f]{{32}}|-) ([0-9a-f]{{32}}|-) - - -)$")
INSTANCE_RE = re.compile(rf"\[instance: ({UUID})\]")
SEQUENCE_ONLY = ("missing_steps", "unexpected_transition", "retry_storm", "slow_build")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("openstack")
    summary = generate_openstack(out, seed=11, lines=20_000, anomaly_ratio=0.5)
    return out, summary


def _instances(out: Path) -> list[dict]:
    with open(out / "instances.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _lines_by_instance(out: Path) -> dict[str, list[re.Match]]:
    by = defaultdict(list)
    for svc in SERVICES:
        for line in (out / f"{svc}.log").read_text().splitlines():
            m = INSTANCE_RE.search(line)
            if m:
                by[m[1]].append(OPENSTACK_RE.match(line))
    return by


def test_the_regex_matches_the_real_loghub_sample():
    real = require_shared("loghub_2k", "OpenStack", "OpenStack_2k.log").read_text().splitlines()
    assert real and all(OPENSTACK_RE.match(line) for line in real)
    assert all(ADDR_RE.match(OPENSTACK_RE.match(line)["ADDR"]) for line in real)


def test_every_line_matches_the_loghub_openstack_format(corpus):
    out, summary = corpus
    total = 0
    for svc in SERVICES:
        lines = (out / f"{svc}.log").read_text().splitlines()
        assert lines, svc
        for line in lines:
            m = OPENSTACK_RE.match(line)
            assert m, line
            assert ADDR_RE.match(m["ADDR"]), line
            assert m["Logrecord"].startswith(f"{svc}.log.1."), line
        total += len(lines)
    assert total == summary["lines"] == 20_000


def test_lines_are_in_time_order_within_each_file(corpus):
    out, _ = corpus
    for svc in SERVICES:
        stamps = [f"{m['Date']} {m['Time']}" for m in map(OPENSTACK_RE.match, (out / f"{svc}.log").read_text().splitlines())]
        assert stamps == sorted(stamps), svc
        assert stamps[0] < stamps[-1]


def test_labels_match_instances_and_the_logs(corpus):
    out, summary = corpus
    rows = _instances(out)
    labelled = (out / "anomaly_labels.txt").read_text().split()
    assert labelled == [r["instance_id"] for r in rows if r["label"] == "1"]
    assert len(rows) == summary["instances"] and len(labelled) == summary["anomalies"]
    assert all((r["anomaly_kind"] in ANOMALY_KINDS) == (r["label"] == "1") for r in rows)
    by = _lines_by_instance(out)
    assert {r["instance_id"] for r in rows} <= set(by)
    for r in rows:  # every life starts with a scheduling decision carrying the instance id
        assert any("Selected host" in m["Content"] for m in by[r["instance_id"]])


@pytest.mark.parametrize("ratio", [0.05, 0.15, 0.3])
def test_anomaly_ratio_is_near_the_requested_one(tmp_path, ratio):
    s = generate_openstack(tmp_path, seed=3, lines=12_000, anomaly_ratio=ratio)
    assert s["instances"] > 80
    assert abs(s["anomalies"] / s["instances"] - ratio) <= 1.5 / s["instances"]


def test_all_kinds_occur_and_level_is_not_the_label(corpus):
    out, summary = corpus
    assert all(summary["anomaly_kinds"][k] > 0 for k in ANOMALY_KINDS)
    rows = {r["instance_id"]: r for r in _instances(out)}
    by = _lines_by_instance(out)
    quiet_anomalies = [u for u, r in rows.items() if r["label"] == "1"
                       and all(m["Level"] == "INFO" for m in by[u])]
    assert len(quiet_anomalies) >= 0.3 * summary["anomalies"]
    errors_outside_instances = [line for svc in SERVICES for line in (out / f"{svc}.log").read_text().splitlines()
                                if " ERROR " in line and not INSTANCE_RE.search(line)]
    assert errors_outside_instances  # benign background errors exist


def _template(content: str) -> str:
    content = INSTANCE_RE.sub("[instance: <*>]", content)
    content = re.sub(UUID, "<*>", content)
    content = re.sub(r"/var/lib/nova/instances/\S+", "<path>", content)
    content = re.sub(r"[0-9a-f]{32}", "<*>", content)
    return re.sub(r"\d+(\.\d+)?", "<n>", content)


def test_sequence_only_anomalies_use_only_normal_templates(corpus):
    out, _ = corpus
    rows = {r["instance_id"]: r for r in _instances(out)}
    by = _lines_by_instance(out)
    normal = {(m["Component"], _template(m["Content"])) for u, ms in by.items() if rows[u]["label"] == "0" for m in ms}
    seen = 0
    for u, r in rows.items():
        if r["anomaly_kind"] in SEQUENCE_ONLY:
            seen += 1
            extra = {(m["Component"], _template(m["Content"])) for m in by[u]} - normal
            assert not extra, (r["anomaly_kind"], extra)
    assert seen >= 8


def test_failures_carry_tracebacks_on_instance_lines(corpus):
    out, _ = corpus
    rows = {r["instance_id"]: r for r in _instances(out)}
    by = _lines_by_instance(out)
    failed = [u for u, r in rows.items() if r["anomaly_kind"] == "spawn_failure"]
    assert failed
    for u in failed:
        contents = [m["Content"] for m in by[u] if m["Level"] == "ERROR"]
        assert any("Traceback (most recent call last):" in c for c in contents)
        assert any('  File "' in c for c in contents)


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for d, seed in ((a, 5), (b, 5), (c, 6)):
        generate_openstack(d, seed=seed, lines=3000, combined=True)
    da, db, dc = tree_digest(a), tree_digest(b), tree_digest(c)
    assert da == db
    assert set(da) == set(dc)
    assert all(da[f] != dc[f] for f in da if f.endswith(".log"))


def test_combined_file_is_all_services_in_time_order(tmp_path):
    generate_openstack(tmp_path, seed=2, lines=2000, combined=True)
    merged = (tmp_path / "openstack_combined.log").read_text().splitlines()
    per_service = sum(len((tmp_path / f"{s}.log").read_text().splitlines()) for s in SERVICES)
    assert len(merged) == per_service == 2000
    stamps = [" ".join(line.split(" ", 3)[1:3]) for line in merged]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize("kwargs, word", [({"lines": 10}, "lines"), ({"anomaly_ratio": 1.2}, "anomaly_ratio"),
                                          ({"anomaly_kinds": ["bogus"]}, "anomaly_kinds"),
                                          ({"start": "yesterday"}, "start")])
def test_bad_parameters_are_named(tmp_path, kwargs, word):
    with pytest.raises(ConfigError, match=word):
        generate_openstack(tmp_path, seed=1, **kwargs)
    assert not any(tmp_path.iterdir())
