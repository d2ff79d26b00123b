"""`logad lo2 extract`: plain and gzipped run archives, chunks, resume after a kill, dry run, refusals."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from logad.cli import app
from logad.errors import ConfigError
from logad.lo2 import chunk_of, extract_archives, find_archives
from logad.synth.lo2 import generate_lo2

ROOT = Path(__file__).resolve().parents[2]


def tree(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root``, hidden ones included."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def visible(root: Path) -> dict[str, str]:
    return {k: v for k, v in tree(root).items() if not any(part.startswith(".") for part in k.split("/"))}


@pytest.fixture(scope="module")
def dump(tmp_path_factory) -> Path:
    """Five runs: three plain tars, two gzipped (as the real dump may ship them), and the trees."""
    src = tmp_path_factory.mktemp("lo2src")
    generate_lo2(src, seed=3, runs=5, errors_per_run=1, lines_per_file=30, services=["token", "code"], tar=True)
    arch = tmp_path_factory.mktemp("lo2arch")
    tars = sorted(src.glob("light-oauth2-data-*.tar"))
    assert len(tars) == 5
    for i, t in enumerate(tars):
        if i in (1, 3):
            (arch / f"{t.name}.gz").write_bytes(gzip.compress(t.read_bytes(), mtime=0))
        else:
            shutil.copy(t, arch / t.name)
    return arch


@pytest.fixture(scope="module")
def source_trees(dump) -> dict[str, dict[str, str]]:
    """What each run must unpack to, read straight from the archives with tarfile."""
    out = {}
    for arc in find_archives(str(dump))[0]:
        with tarfile.open(arc.url, "r:*") as tf:
            out[arc.run] = {m.name.split("/", 1)[1]: hashlib.sha256(tf.extractfile(m).read()).hexdigest()
                            for m in tf if m.isfile()}
    return out


def test_extracts_plain_and_gzipped_runs_and_skips_them_on_a_rerun(dump, source_trees, tmp_path):
    out = tmp_path / "out"
    s = extract_archives(str(dump), out)
    assert (s["extracted"], s["skipped"], s["errors"]) == (5, 0, [])
    got = visible(out)
    for run, files in source_trees.items():
        assert {k.split("/", 1)[1]: v for k, v in got.items() if k.startswith(run + "/")} == files
    assert len(got) == sum(len(f) for f in source_trees.values())
    again = extract_archives(str(dump), out)
    assert (again["extracted"], again["skipped"]) == (0, 5)
    assert visible(out) == got


def test_chunks_are_disjoint_and_cover_every_run(dump, tmp_path):
    whole = tmp_path / "whole"
    extract_archives(str(dump), whole)
    shared = tmp_path / "shared"
    runs_per_chunk = []
    for k in range(3):
        s = extract_archives(str(dump), shared, split=3, chunk=k)
        runs_per_chunk.append([r["run"] for r in s["runs"] if r["status"] == "extracted"])
    flat = [r for rs in runs_per_chunk for r in rs]
    assert sorted(flat) == sorted(set(flat)) and len(flat) == 5
    assert [len(r) for r in runs_per_chunk] == [1, 2, 2]
    assert visible(shared) == visible(whole)
    assert chunk_of(list(range(7)), 3, 2) == [4, 5, 6]
    with pytest.raises(ConfigError, match="--chunk must be in 0..2"):
        chunk_of([1, 2], 3, 3)


def test_newest_mode_takes_only_the_last_run(dump, tmp_path):
    s = extract_archives(str(dump), tmp_path / "o", mode="newest")
    last = find_archives(str(dump))[0][-1].run
    assert [r["run"] for r in s["runs"]] == [last] and s["extracted"] == 1


def test_dry_run_lists_sizes_and_writes_nothing(dump, tmp_path):
    out = tmp_path / "out"
    extract_archives(str(dump), out, split=5, chunk=0)  # one run already done
    before = tree(out)
    s = extract_archives(str(dump), out, dry_run=True)
    assert tree(out) == before
    actions = {r["run"]: r for r in s["runs"]}
    first = find_archives(str(dump))[0][0]
    assert actions[first.run]["action"] == "skip"
    assert sum(r["action"] == "extract" for r in s["runs"]) == 4
    for arc in find_archives(str(dump))[0]:
        row = actions[arc.run]
        assert row["archive_bytes"] == arc.size
        if not arc.compressed:  # exact: the members' bytes, from the headers
            with tarfile.open(arc.url) as tf:
                assert row["unpacked"] == sum(m.size for m in tf if m.isfile())
                assert row["members"] == len(tf.getmembers()) and row["exact"]
        else:  # the gzip trailer's size: the whole tar stream
            with tarfile.open(arc.url, "r:gz") as tf:
                assert row["unpacked"] == tf.fileobj.seek(0, os.SEEK_END) and not row["exact"]
    res = CliRunner().invoke(app, ["lo2", "extract", "--archives", str(dump), "--out", str(out), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "skip" in res.output and "gzip trailer" in res.output and tree(out) == before


_KILL = textwrap.dedent("""
    import os, signal, sys
    from logad.lo2 import extract_archives
    seen = []
    def on_member(run, name):
        seen.append(run)
        if len(set(seen)) == 2 and seen.count(run) == 4:   # mid-way through the second run
            os.kill(os.getpid(), signal.SIGKILL)
    extract_archives(sys.argv[1], sys.argv[2], on_member=on_member)
""")


def test_a_killed_run_leaves_nothing_visible_and_is_redone(dump, tmp_path):
    out, clean = tmp_path / "out", tmp_path / "clean"
    res = subprocess.run([sys.executable, "-c", _KILL, str(dump), str(out)], cwd=ROOT, timeout=120,
                         capture_output=True, text=True)
    assert res.returncode == -9, res.stderr[-2000:]
    runs = [a.run for a in find_archives(str(dump))[0]]
    names = sorted(p.name for p in out.iterdir())
    assert runs[0] in names and runs[1] not in names                 # run 1 done, run 2 not visible
    assert any(n.startswith(f".{runs[1]}.partial-") for n in names)  # its half lies under a hidden name
    assert (out / ".logad-lo2" / f"{runs[0]}.json").exists()
    assert not (out / ".logad-lo2" / f"{runs[1]}.json").exists()
    s = extract_archives(str(dump), out)
    assert (s["skipped"], s["extracted"]) == (1, 4)
    extract_archives(str(dump), clean)
    assert visible(out) == visible(clean)
    assert not [n for n in os.listdir(out) if ".partial-" in n]


def _tar(path: Path, entries: list[tuple]) -> None:
    with tarfile.open(path, "w") as tf:
        for name, kind, arg in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(arg)
                tf.addfile(info, io.BytesIO(arg))
            else:
                info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
                info.linkname = arg
                tf.addfile(info)


@pytest.mark.parametrize("entry, why", [
    (("/etc/evil", "file", b"x"), "absolute path"),
    (("light-oauth2-data-7/../../evil", "file", b"x"), "'..'"),
    (("light-oauth2-data-7/correct/up", "sym", "../../../../etc"), "outside the run folder"),
    (("light-oauth2-data-7/correct/abs", "sym", "/etc/passwd"), "absolute path"),
    (("light-oauth2-data-7/correct/hard", "hard", "../outside"), "outside the run folder"),
])
def test_a_malicious_archive_is_refused_and_nothing_of_it_is_kept(tmp_path, entry, why):
    arch, out = tmp_path / "arch", tmp_path / "out"
    arch.mkdir()
    ok = [("light-oauth2-data-7/correct/light-oauth2-oauth2-token-1.log", "file", b"10:00:00.000 ok\n")]
    _tar(arch / "light-oauth2-data-7.tar", ok + [entry])
    _tar(arch / "light-oauth2-data-8.tar", [(n.replace("-7/", "-8/"), k, a) for n, k, a in ok])
    s = extract_archives(str(arch), out)
    assert (s["refused"], s["extracted"]) == (1, 1)
    assert why in s["errors"][0] and repr(entry[0]) in s["errors"][0] and "light-oauth2-data-7.tar" in s["errors"][0]
    assert sorted(visible(out)) == ["light-oauth2-data-8/correct/light-oauth2-oauth2-token-1.log"]
    assert not (tmp_path / "evil").exists() and not (tmp_path / "outside").exists()
    dry = extract_archives(str(arch), tmp_path / "dry", dry_run=True)
    assert why in dry["runs"][0]["problem"]
    res = CliRunner().invoke(app, ["lo2", "extract", "--archives", str(arch), "--out", str(out)])
    assert res.exit_code == 1 and "refused" in res.output and "Traceback" not in res.output


def test_links_inside_the_run_are_kept(tmp_path):
    arch = tmp_path / "arch"
    arch.mkdir()
    _tar(arch / "light-oauth2-data-9.tar", [("light-oauth2-data-9/a/f.log", "file", b"x\n"),
                                            ("light-oauth2-data-9/b/link.log", "sym", "../a/f.log")])
    s = extract_archives(str(arch), tmp_path / "out")
    assert s["extracted"] == 1
    assert (tmp_path / "out/light-oauth2-data-9/b/link.log").read_bytes() == b"x\n"


def test_not_enough_disk_fails_the_run_before_writing(dump, tmp_path):
    free = shutil.disk_usage(tmp_path).free
    s = extract_archives(str(dump), tmp_path / "out", mode="newest", reserve=free + (1 << 30))
    assert s["failed"] == 1 and "bytes free" in s["errors"][0]
    assert visible(tmp_path / "out") == {}
    marker = tmp_path / "out" / ".logad-lo2"
    assert not marker.exists() or not list(marker.iterdir())


def test_a_truncated_archive_fails_with_its_name(tmp_path, dump):
    arch = tmp_path / "arch"
    arch.mkdir()
    good = next(a for a in find_archives(str(dump))[0] if a.compressed)
    data = Path(good.url).read_bytes()
    (arch / good.name).write_bytes(data[: len(data) // 2])
    s = extract_archives(str(arch), tmp_path / "out")
    assert s["failed"] == 1 and good.name in s["errors"][0]
    assert visible(tmp_path / "out") == {}
    assert json.dumps(s)  # the summary is plain data
