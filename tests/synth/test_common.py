"""Seeded ids, the quota draw and atomic writes."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from logad.errors import ConfigError
from logad.synth.common import (QuotaDraw, b64_token, check_positive, check_ratio, hex_token, sub_rng,
                                uuid4, write_csv, write_lines)

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_sub_rng_is_reproducible_and_streams_are_independent():
    a1 = [sub_rng(5, "openstack").random() for _ in range(3)]
    a2 = [sub_rng(5, "openstack").random() for _ in range(3)]
    assert a1 == a2
    assert sub_rng(5, "openstack").random() != sub_rng(5, "lo2").random()
    assert sub_rng(5, "openstack").random() != sub_rng(6, "openstack").random()


def test_ids_have_the_right_shape():
    rng = random.Random(0)
    ids = [uuid4(rng) for _ in range(50)]
    assert all(UUID4.match(u) for u in ids)
    assert len(set(ids)) == 50
    assert re.fullmatch(r"[0-9a-f]{32}", hex_token(rng))
    tok = b64_token(rng)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", tok)


@pytest.mark.parametrize("ratio", [0.0, 0.07, 0.15, 0.5, 0.93])
def test_quota_draw_stays_within_one_of_the_ratio(ratio):
    draw = QuotaDraw(ratio, random.Random(3))
    hits = 0
    for n in range(1, 1001):
        hits += draw()
        assert abs(hits - ratio * n) <= 1.0 + 1e-9


def test_quota_draw_is_not_periodic():
    draw = QuotaDraw(0.2, random.Random(1))
    pattern = [draw() for _ in range(200)]
    gaps = {j - i for i, j in zip([k for k, v in enumerate(pattern) if v][:-1], [k for k, v in enumerate(pattern) if v][1:])}
    assert len(gaps) > 2


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path):
    write_lines(tmp_path / "a" / "x.log", ["one", "two"])
    write_csv(tmp_path / "a" / "y.csv", ["line_no", "label"], [(1, 0), (2, 1)])
    assert (tmp_path / "a" / "x.log").read_bytes() == b"one\ntwo\n"
    assert (tmp_path / "a" / "y.csv").read_text() == "line_no,label\n1,0\n2,1\n"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.log", "y.csv"]


def test_a_write_killed_halfway_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "x.log"
    write_lines(target, ["old"])
    real_write = Path.write_bytes

    def half_then_die(self, data):
        real_write(self, data[: len(data) // 2])
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(Path, "write_bytes", half_then_die)
    with pytest.raises(KeyboardInterrupt):
        write_lines(target, ["new content that is long enough"])
    monkeypatch.undo()
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.log"]


def test_checks_name_the_parameter():
    with pytest.raises(ConfigError, match="anomaly_ratio"):
        check_ratio("anomaly_ratio", 1.5)
    with pytest.raises(ConfigError, match="lines"):
        check_positive("lines", 0)
    assert check_ratio("r", 0.2) == 0.2
