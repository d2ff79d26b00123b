"""Random bytes, random archive members and random file names into ingest (issue 17): it ends,
writes nothing outside --out, and read = events + rejected for every file it reports."""

from __future__ import annotations

import io
import os
import tarfile
from collections import defaultdict
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logad.sources.events import UnitResult, unit_events
from logad.sources.files import expand_sources, plan_units
from logad.sources.presets import load_preset

_LINE = b"081109 203615 148 INFO dfs.DataNode: PacketResponder 1 for block blk_7 terminating"
_names = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
            min_size=1, max_size=20).filter(lambda s: s not in (".", "..")),
    st.binary(min_size=1, max_size=12).filter(lambda b: b"/" not in b and b"\x00" not in b
                                              and b not in (b".", b"..")))
_text = st.lists(st.one_of(st.just(_LINE), st.binary(max_size=120)), max_size=40).map(
    lambda lines: b"\n".join(lines))
_content = st.one_of(st.binary(max_size=3000), _text,
                     _text.map(lambda b: b.replace(b"\n", b"\r\n")))
_member = st.tuples(st.sampled_from(["file", "file", "sym", "hard", "dir"]),
                    st.text("ab./-_x", min_size=1, max_size=12), _content)
_file = st.one_of(
    st.tuples(st.just("plain"), _names, _content),
    st.tuples(st.just("tar"), _names, st.lists(_member, max_size=5)),
    st.tuples(st.just("cut"), _names, _content))  # a tar cut short


def _tar_bytes(members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for kind, name, data in members:
            ti = tarfile.TarInfo(name)
            if kind == "file":
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
                continue
            ti.type = {"sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE, "dir": tarfile.DIRTYPE}[kind]
            ti.linkname = "" if kind == "dir" else name + "x"
            tar.addfile(ti)
    return buf.getvalue()


def _write_inputs(root: Path, files) -> Path:
    src = root / "in"
    src.mkdir()
    for i, (kind, name, payload) in enumerate(files):
        name = os.fsencode(name) if isinstance(name, str) else name
        path = os.path.join(os.fsencode(src), b"%d-" % i + name + (b".tar" if kind != "plain" else b""))
        if kind == "plain":
            data = payload
        elif kind == "tar":
            data = _tar_bytes(payload)
        else:
            whole = _tar_bytes([("file", "m.log", payload)])
            data = whole[:max(1, len(whole) // 3)]
        with open(path, "wb") as fh:
            fh.write(data)
    return src


def _tree(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def _check_units(src: Path, chunk: int, preset) -> dict[str, dict[str, int]]:
    per_file: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for u in plan_units(expand_sources([str(src)]), chunk):
        res = UnitResult(u.index, u.file.display)
        events = sum(t.num_rows for t in unit_events(u, preset, res, source="HDFS",
                                                      max_line_bytes=200))
        assert events == res.events
        row = per_file[u.file.display]
        for k in ("lines_read", "events", "rejected"):
            row[k] += getattr(res, k)
    for path, row in per_file.items():
        assert row["lines_read"] == row["events"] + row["rejected"], (path, dict(row))
        path.encode("utf-8")  # every name it reports can be written to JSON and Arrow
    return per_file


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(files=st.lists(_file, min_size=1, max_size=5), chunk=st.sampled_from([64, 700, 1 << 20]))
def test_ingest_functions_on_random_inputs(tmp_path_factory, files, chunk):
    root = tmp_path_factory.mktemp("fuzz")
    src = _write_inputs(root, files)
    before = _tree(root)
    _check_units(src, chunk, load_preset("HDFS"))
    assert _tree(root) == before  # the pure functions write nothing


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(files=st.lists(_file, min_size=1, max_size=4))
def test_ingest_runner_on_random_inputs(ray_session, tmp_path_factory, files):
    from logad.ray.ingest import run_ingest

    root = tmp_path_factory.mktemp("fuzzrun")
    src = _write_inputs(root, files)
    before = _tree(src)
    m = run_ingest([str(src)], root / "out", {"preset": "HDFS", "chunk_bytes": 700,
                                             "max_line_bytes": 200})
    assert _tree(src) == before and sorted(p.name for p in root.iterdir()) == ["in", "out"]
    assert m["accounting_ok"] and m["status"] == "complete"
    for f in m["files"]:
        assert f["lines_read"] == f["events"] + f["rejected"], f
