"""Reading work units: byte ranges, compression, tar members, bad input. No Ray."""

from __future__ import annotations

import bz2
import gzip
import io
import random
import tarfile

import fsspec
import pytest

from logad.errors import InputError
from logad.sources.files import expand_sources, plan_units
from logad.sources.reader import UnitStats, iter_entries

STACK_START = r"\d\d:\d\d:\d\d\.\d{3} \["


def _read_all(files, chunk_bytes, entry_start=None):
    entries, totals, errors = [], UnitStats(), []
    for unit in plan_units(files, chunk_bytes):
        st = UnitStats()
        for b in iter_entries(unit, st, entry_start=entry_start):
            entries += list(zip([unit.file.display] * len(b.line_no), b.line_no,
                                b.raw.to_pylist(), b.n_lines))
        totals.lines_read += st.lines_read
        totals.lines_in_entries += st.lines_in_entries
        totals.rejected += st.rejected
        totals.bad_utf8 += st.bad_utf8
        if st.error:
            errors.append(st.error)
    return entries, totals, errors


def _java_log(n: int, seed: int = 3) -> str:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        r = rng.random()
        if r < 0.08:
            out.append(f"\tat com.networknt.Handler.handle(Handler.java:{i})")
        elif r < 0.1:
            out.append("")
        else:
            out.append(f"16:29:{i % 60:02d}.{i % 1000:03d} [XNIO-1 task-{i % 7}]  abc DEBUG c.n.X m - "
                       f"msg {i} " + "x" * rng.randint(0, 150))
    return "\r\n".join(out) + "\r\n"


@pytest.mark.parametrize("entry_start", [None, STACK_START])
def test_byte_ranges_give_the_same_entries_as_one_piece(tmp_path, entry_start):
    (tmp_path / "a.log").write_text(_java_log(3000), encoding="utf-8")
    files = expand_sources([str(tmp_path)])
    whole, t_whole, _ = _read_all(files, 1 << 30, entry_start)
    for chunk in (4096, 1000, 97):
        parts, t, errors = _read_all(files, chunk, entry_start)
        assert not errors
        assert parts == whole
        assert t.lines_read == t_whole.lines_read == 3000
        assert t.lines_read == t.lines_in_entries + t.rejected
    # physical line numbers: a line's number is its position in the file
    text_lines = _java_log(3000).split("\r\n")
    for _, line_no, raw, n in whole[:200]:
        assert raw.split("\n")[0] == text_lines[line_no - 1]
    if entry_start:  # stack-trace lines stay with the entry above them
        assert any(n > 1 and "\tat com.networknt" in raw for _, _, raw, n in whole)
        assert all(not raw.startswith("\tat") for _, _, raw, _ in whole[1:])


def test_crlf_is_stripped_and_blank_lines_are_rejected_with_reason(tmp_path):
    (tmp_path / "a.log").write_bytes(b"one\r\n\r\ntwo\r\nthree")
    files = expand_sources([str(tmp_path / "a.log")])
    unit = plan_units(files, 1 << 20)[0]
    st = UnitStats()
    batches = list(iter_entries(unit, st))
    assert [r for b in batches for r in b.raw.to_pylist()] == ["one", "two", "three"]
    assert [n for b in batches for n in b.line_no] == [1, 3, 4]
    assert (st.lines_read, st.lines_in_entries, st.rejected) == (4, 3, 1)
    assert st.rejects[0][:2] == (2, "blank line")


def test_single_line_fast_path_counts_like_the_general_reader(tmp_path):
    # entry_start None takes the sliced fast path; "(?:)" (every line starts an entry) the general
    # one; the limit counts bytes, not characters ("é" is two bytes)
    (tmp_path / "a.log").write_text("short\n" + "x" * 20 + "\n\n \t\nok\n" + "é" * 6 + "\n"
                                    + "é" * 5 + "\nlast", encoding="utf-8")
    unit = plan_units(expand_sources([str(tmp_path / "a.log")]), 1 << 20)[0]
    got = {}
    for entry_start in (None, "(?:)"):
        st = UnitStats()
        batches = list(iter_entries(unit, st, entry_start=entry_start, max_line_bytes=10))
        got[entry_start] = ([r for b in batches for r in b.raw.to_pylist()],
                            [n for b in batches for n in b.line_no], st.rejects,
                            (st.lines_read, st.lines_in_entries, st.rejected))
    assert got[None] == got["(?:)"]
    raw, line_no, rejects, counts = got[None]
    assert raw == ["short", "ok", "é" * 5, "last"] and line_no == [1, 5, 7, 8]
    assert [r[:2] for r in rejects] == [(2, "line longer than max_line_bytes=10"),
                                        (3, "blank line"), (4, "blank line"),
                                        (6, "line longer than max_line_bytes=10")]
    assert counts == (8, 4, 4)


def test_gzip_bz2_and_memory_urls():
    fs = fsspec.filesystem("memory")
    text = "".join(f"line {i}\n" for i in range(1, 501))
    fs.pipe("/logs/a.log.gz", gzip.compress(text.encode()))
    fs.pipe("/logs/b.log.bz2", bz2.compress(text.encode()))
    fs.pipe("/logs/c.log", text.encode())
    files = expand_sources(["memory://logs"])
    assert [f.compression for f in files] == ["gzip", "bz2", None]
    entries, totals, errors = _read_all(files, 1000)
    assert not errors
    assert totals.lines_read == 1500
    for f in files:
        got = [raw for path, _, raw, _ in entries if path == f.display]
        assert got == [f"line {i}" for i in range(1, 501)]


def test_globs_and_missing_paths(tmp_path):
    (tmp_path / "a.log").write_text("x\n")
    (tmp_path / "b.txt").write_text("y\n")
    assert [f.url.rsplit("/", 1)[-1] for f in expand_sources([str(tmp_path / "*.log")])] == ["a.log"]
    with pytest.raises(InputError) as exc:
        expand_sources([str(tmp_path / "a.log"), str(tmp_path / "nope.log"), "memory://nothing/here"])
    assert "nope.log" in str(exc.value) and "memory://nothing/here" in str(exc.value)


def test_bad_inputs_are_reported_with_the_file_name(tmp_path):
    good = "".join(f"ok {i}\n" for i in range(100)).encode()
    (tmp_path / "empty.log").write_bytes(b"")
    (tmp_path / "binary.log").write_bytes(b"\x7fELF\x00\x00\x01" + bytes(range(256)) * 10)
    (tmp_path / "trunc.log.gz").write_bytes(gzip.compress(good)[:-30])
    (tmp_path / "latin1.log").write_bytes("caf\xe9 1\nplain 2\n".encode("latin-1"))
    results = {}
    for f in expand_sources([str(tmp_path)]):
        entries, totals, errors = _read_all([f], 1 << 20)
        results[f.url.rsplit("/", 1)[-1]] = (entries, totals, errors)
    assert "empty file" in results["empty.log"][2][0] and "empty.log" in results["empty.log"][2][0]
    assert "binary file" in results["binary.log"][2][0]
    entries, totals, errors = results["trunc.log.gz"]
    assert errors and "trunc.log.gz" in errors[0] and "read error after line" in errors[0]
    assert 0 < totals.lines_read < 100 and totals.lines_read == totals.lines_in_entries + totals.rejected
    entries, totals, errors = results["latin1.log"]
    assert not errors and totals.bad_utf8 == 1
    assert entries[0][2] == "caf\ufffd 1" and entries[1][2] == "plain 2"


def _tar_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_tar_members_are_read_as_byte_ranges(tmp_path):
    members = {"run-1/correct/a.log": b"a1\na2\n", "run-1/err/b.log": b"b1\nb2\nb3\n",
               "run-1/err/c.log.gz": gzip.compress(b"c1\n")}
    (tmp_path / "run-1.tar").write_bytes(_tar_bytes(members))
    files = expand_sources([str(tmp_path / "run-1.tar")])
    assert [f.member for f in files] == sorted(members)
    entries, totals, errors = _read_all(files, 1 << 20)
    assert not errors
    assert [raw for *_, raw, _ in entries] == ["a1", "a2", "b1", "b2", "b3", "c1"]
    assert entries[0][0].endswith("run-1.tar!run-1/correct/a.log")


def test_corrupt_tar_is_one_error_entry(tmp_path):
    data = _tar_bytes({"x/a.log": b"a\n" * 100})
    (tmp_path / "bad.tar").write_bytes(b"garbage!" * 64 + data[512:])
    files = expand_sources([str(tmp_path / "bad.tar")])
    assert files[0].error and "corrupt tar" in files[0].error
