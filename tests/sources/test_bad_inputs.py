"""Hostile inputs to the pure ingest functions (issue 17): links, FIFOs, bad names, broken tars,
stray NUL bytes, CRLF; each is one file's message and the rest goes on."""

from __future__ import annotations

import io
import os
import tarfile
import threading

import pytest

from logad.sources.events import UnitResult, unit_events
from logad.sources.files import expand_sources, plan_units
from logad.sources.presets import load_preset

LINE = "081109 203615 148 INFO dfs.DataNode: line {i} blk_{i}"


def _text(n: int, start: int = 0, end: str = "\n") -> str:
    return "".join(LINE.format(i=i) + end for i in range(start, start + n))


def _ingest(sources, chunk: int = 1 << 20, preset: str = "HDFS"):
    """Every unit's events and result, as the runner's workers make them."""
    p = load_preset(preset)
    out = []
    for u in plan_units(expand_sources([str(s) for s in sources]), chunk):
        res = UnitResult(u.index, u.file.display)
        tables = list(unit_events(u, p, res, source=p.name))
        out.append((u, res, tables))
    return out


def _rows(results):
    return sum(t.num_rows for _, _, ts in results for t in ts)


def _errors(results):
    return {r.path: r.error for _, r, _ in results if r.error}


def _tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data, kind in members:
            ti = tarfile.TarInfo(name)
            if kind == "file":
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
            else:
                ti.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
                ti.linkname = data.decode()
                tar.addfile(ti)
    return path


def test_a_dangling_symlink_in_a_folder_is_one_error(tmp_path):
    (tmp_path / "a.log").write_text(_text(5))
    (tmp_path / "b.log").symlink_to(tmp_path / "gone.log")
    res = _ingest([tmp_path])
    assert _rows(res) == 5
    assert "dangling symlink" in _errors(res)[str(tmp_path / "b.log")]


def test_a_fifo_is_refused_without_blocking(tmp_path):
    (tmp_path / "a.log").write_text(_text(5))
    os.mkfifo(tmp_path / "pipe.log")
    done: list = []
    t = threading.Thread(target=lambda: done.append(_ingest([tmp_path])), daemon=True)
    t.start()
    t.join(20)
    assert done, "ingest blocked on a FIFO"
    assert _rows(done[0]) == 5
    assert "refused: a FIFO" in _errors(done[0])[str(tmp_path / "pipe.log")]


def test_a_file_name_that_is_not_utf8_is_one_error(tmp_path):
    (tmp_path / "a.log").write_text(_text(5))
    bad = os.path.join(os.fsencode(tmp_path), b"caf\xe9.log")
    with open(bad, "wb") as fh:
        fh.write(_text(3).encode())
    res = _ingest([tmp_path])
    assert _rows(res) == 5
    [(name, error)] = [(k, v) for k, v in _errors(res).items()]
    assert name.endswith("caf\\xe9.log") and "not valid UTF-8" in error
    name.encode("utf-8")  # printable, writable to JSON and Arrow


def test_directory_symlinks_are_walked_once_and_loops_end(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.log").write_text(_text(4))
    top = tmp_path / "top"
    top.mkdir()
    (top / "linked").symlink_to(real, target_is_directory=True)
    (top / "loop").symlink_to(top, target_is_directory=True)
    res = _ingest([top])
    assert _rows(res) == 4 and not _errors(res)


def test_tar_links_are_refused_with_the_reason(tmp_path):
    tar = _tar(tmp_path / "r.tar", [("a.log", _text(3).encode(), "file"),
                                    ("s.log", b"a.log", "sym"), ("h.log", b"a.log", "hard")])
    res = _ingest([tar])
    assert _rows(res) == 3
    errors = _errors(res)
    assert "refused: a symlink member -> a.log" in errors[f"{tar}!s.log"]
    assert "refused: a hard link member -> a.log" in errors[f"{tar}!h.log"]


def test_a_tar_member_bigger_than_the_archive_gives_no_rows(tmp_path):
    good = _tar(tmp_path / "g.tar", [("m.log", _text(3).encode(), "file")])
    data = bytearray(good.read_bytes())
    data[124:136] = b"%011o\0" % (10 << 30)  # the header's size field (octal): 10 GiB
    data[148:156] = b" " * 8
    data[148:156] = b"%06o\0 " % sum(data[:512])  # its checksum, recomputed
    bad = tmp_path / "b.tar"
    bad.write_bytes(bytes(data))
    res = _ingest([bad], chunk=1 << 12)
    assert _rows(res) == 0
    assert [k for k in _errors(res) if k.startswith(str(bad))]


def test_a_big_tar_member_in_byte_ranges_reads_each_line_once(tmp_path):
    tar = _tar(tmp_path / "t.tar", [("m.log", _text(2000).encode(), "file"),
                                    ("n.log", _text(10, 5000).encode(), "file")])
    res = _ingest([tar], chunk=7000)
    assert len(res) > 10
    lines = sorted(r for _, _, ts in res for t in ts for r in t.column("raw").to_pylist())
    assert lines == sorted(_text(2000).splitlines() + _text(10, 5000).splitlines())


def test_a_few_nul_bytes_reject_their_lines_and_keep_the_file(tmp_path):
    text = _text(30).splitlines()
    text[10] = text[10][:20] + "\x00" + text[10][20:]
    (tmp_path / "a.log").write_text("\n".join(text) + "\n")
    [(u, r, tables)] = _ingest([tmp_path / "a.log"])
    assert r.error is None
    assert (r.lines_read, r.events, r.rejected) == (30, 29, 1)
    assert r.rejects.column("line_no").to_pylist() == [11]
    assert "NUL byte" in r.rejects.column("reason")[0].as_py()


def test_binary_files_are_still_skipped(tmp_path):
    (tmp_path / "b.log").write_bytes(os.urandom(1 << 14))
    (tmp_path / "z.log").write_bytes(b"\x00" * 5000 + _text(3).encode())
    res = _ingest([tmp_path])
    assert _rows(res) == 0
    assert all("binary file" in e for e in _errors(res).values()) and len(_errors(res)) == 2


@pytest.mark.parametrize("preset, chunk", [("HDFS", 1 << 20), ("HDFS", 700), ("lo2", 1 << 20)])
def test_crlf_never_reaches_raw_or_content(tmp_path, preset, chunk):
    (tmp_path / "a.log").write_text(_text(40, end="\r\n"), newline="")
    res = _ingest([tmp_path / "a.log"], chunk=chunk, preset=preset)
    for _, _, tables in res:
        for t in tables:
            for col in ("raw", "content"):
                assert not any("\r" in v for v in t.column(col).to_pylist())
