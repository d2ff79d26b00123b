"""The syslog corpus: loghub Linux format, one label a line, contiguous episodes, determinism."""

from __future__ import annotations

import csv
import re

import pytest

from logad.errors import ConfigError
from logad.synth.kernel import EPISODE_KINDS, generate_kernel
from tests.conftest import require_shared
from tests.synth.conftest import tree_digest

# loghub's '<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>' ("Level" is the host).
LINUX_RE = re.compile(r"^(?P<Month>[A-Z][a-z]{2}) (?P<Date>[ \d]\d) (?P<Time>\d{2}:\d{2}:\d{2}) (?P<Level>\S+) "
                      r"(?P<Component>[^\[:]+?)(\[(?P<PID>\d+)\])?: (?P<Content>.*)$")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("kernel")
    return out, generate_kernel(out, seed=8, lines=12_000, anomaly_ratio=0.06)


def _labels(out):
    with open(out / "kernel_labels.csv", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return header, [(int(a), int(b)) for a, b in reader]


def test_the_regex_matches_the_real_loghub_sample():
    real = require_shared("loghub_2k", "Linux", "Linux_2k.log").read_text(errors="replace").splitlines()
    assert real and all(LINUX_RE.match(line) for line in real)


def test_label_file_has_one_row_per_log_line(corpus):
    out, summary = corpus
    lines = (out / "kernel.log").read_text().splitlines()
    header, labels = _labels(out)
    assert header == ["line_no", "label"]
    assert len(labels) == len(lines) == summary["lines"] == 12_000
    assert [n for n, _ in labels] == list(range(1, len(lines) + 1))
    assert {lab for _, lab in labels} == {0, 1}


def test_every_line_matches_the_linux_format_in_time_order(corpus):
    out, _ = corpus
    stamps = []
    for line in (out / "kernel.log").read_text().splitlines():
        m = LINUX_RE.match(line)
        assert m and m["Month"] in MONTHS and m["Level"] == "combo", line
        stamps.append((MONTHS.index(m["Month"]), int(m["Date"]), m["Time"]))
    assert stamps == sorted(stamps)


def test_anomalies_are_contiguous_episodes_near_the_ratio(corpus):
    out, summary = corpus
    _, labels = _labels(out)
    with open(out / "kernel_episodes.csv", newline="") as fh:
        episodes = [(int(r["first_line"]), int(r["last_line"]), r["kind"]) for r in csv.DictReader(fh)]
    flagged = {n for n, lab in labels if lab}
    assert flagged == {n for a, b, _ in episodes for n in range(a, b + 1)}
    assert all(b - a + 1 >= 6 for a, b, _ in episodes[:-1])
    assert abs(len(flagged) / len(labels) - 0.06) < 0.01
    assert {k for *_, k in episodes} == set(EPISODE_KINDS)
    assert summary["anomalous_lines"] == len(flagged)


def test_normal_lines_include_the_odd_auth_failure(corpus):
    out, _ = corpus
    _, labels = _labels(out)
    lines = (out / "kernel.log").read_text().splitlines()
    normal_failures = [ln for ln, (_, lab) in zip(lines, labels) if lab == 0 and "authentication failure" in ln]
    assert normal_failures  # a single failed login is not an anomaly; a storm is


def test_zero_ratio_gives_no_anomalies(tmp_path):
    s = generate_kernel(tmp_path, seed=1, lines=2000, anomaly_ratio=0.0)
    assert s["anomalous_lines"] == 0
    assert all(lab == 0 for _, lab in _labels(tmp_path)[1])


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    for d, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate_kernel(tmp_path / d, seed=seed, lines=3000)
    da, db, dc = (tree_digest(tmp_path / d) for d in "abc")
    assert da == db
    assert da["kernel.log"] != dc["kernel.log"]


@pytest.mark.parametrize("kwargs, word", [({"lines": 0}, "lines"), ({"anomaly_ratio": -0.1}, "anomaly_ratio"),
                                          ({"episode_kinds": ["meteor"]}, "episode_kinds"),
                                          ({"episode_lines": (10, 2)}, "episode_lines")])
def test_bad_parameters_are_named(tmp_path, kwargs, word):
    with pytest.raises(ConfigError, match=word):
        generate_kernel(tmp_path, seed=1, **kwargs)


def _template(line: str) -> str:
    m = LINUX_RE.match(line)
    content = re.sub(r"\d+(\.\d+)*", "<n>", m["Content"])
    content = re.sub(r"user=\w+|for (invalid user )?\w+ from", "<user>", content)
    content = re.sub(r"server [\w-]+", "server <s>", content)
    return f"{m['Component']}: {content}"


def test_storm_lines_are_words_that_normal_traffic_uses_too(corpus):
    out, _ = corpus
    lines = (out / "kernel.log").read_text().splitlines()
    _, labels = _labels(out)
    with open(out / "kernel_episodes.csv", newline="") as fh:
        episodes = list(csv.DictReader(fh))
    normal = {_template(ln) for ln, (_, lab) in zip(lines, labels) if lab == 0}
    for ep in episodes:
        if ep["kind"] == "auth_storm":
            storm = {_template(lines[i - 1]) for i in range(int(ep["first_line"]), int(ep["last_line"]) + 1)}
            assert storm <= normal
