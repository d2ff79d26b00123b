"""A remote source that stalls ends as a per-file error within ``read_timeout_s``; the rest go on.

A real HTTP server on 127.0.0.1 (a thread of this process) serves log files with range
requests, as object stores do; one file stops sending half-way, one never answers its GET,
one never answers at all. Ingest reads them through fsspec's HTTP filesystem on Ray workers.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

pytest.importorskip("aiohttp")  # fsspec's HTTP filesystem (Ray's dashboard brings it)

LINES = 400
#: read_timeout_s of the tests: long enough for a loaded machine's answers, short next to the
#: server's stalls (300 s)
TIMEOUT = 5


def _body(name: str) -> bytes:
    return "".join(f"2024-01-01 00:00:{i % 60:02d} INFO {name} line {i} value={i * 7}\n"
                   for i in range(LINES)).encode()


class _Server:
    """Files by name; ``mode[name]``: ``ok``, ``half`` (send half the bytes of a range request,
    then stall), ``no_get`` (stall on range requests: the reads) or ``silent`` (stall on
    everything). A GET without a range (fsspec's test that a URL exists) is answered whole,
    so the stalls of the first two modes come while the file is read."""

    def __init__(self, names: dict[str, str]) -> None:
        self.files = {n: _body(n) for n in names}
        self.mode = dict(names)
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _stall(self) -> None:
                server.release.wait(300)

            def _head(self, name: str) -> bool:
                if name not in server.files:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return False
                return True

            def do_HEAD(self) -> None:
                name = self.path.lstrip("/")
                if server.mode.get(name) == "silent":
                    return self._stall()
                if self._head(name):
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(server.files[name])))
                    self.send_header("Accept-Ranges", "bytes")
                    self.end_headers()

            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                mode = server.mode.get(name)
                rng = self.headers.get("Range")
                if mode == "silent" or (mode == "no_get" and rng):
                    return self._stall()
                if not self._head(name):
                    return
                data = server.files[name]
                start, end = 0, len(data) - 1
                if rng and rng.startswith("bytes="):
                    a, _, b = rng[6:].partition("-")
                    start, end = int(a), min(int(b) if b else end, end)
                part = data[start:end + 1]
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(part)))
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                self.end_headers()
                if mode == "half" and rng:
                    self.wfile.write(part[:len(part) // 2])
                    self.wfile.flush()
                    return self._stall()
                self.wfile.write(part)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = _Server({"good-0.log": "ok", "good-1.log": "ok", "good-2.log": "ok",
                   "stall.log": "half", "noget.log": "no_get", "silent.log": "silent"})
    yield srv
    srv.close()


def _rows_by_path(out: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for part in sorted((out / "events").glob("part-*.parquet")):
        for row in pc.value_counts(pq.read_table(part, columns=["path"]).column("path")).to_pylist():
            counts[row["values"]] = counts.get(row["values"], 0) + row["counts"]
    return counts


@pytest.mark.timeout(240)
def test_a_stalled_remote_file_is_a_per_file_error_and_the_rest_is_ingested(ray_session, server,
                                                                            tmp_path):
    from logad.ray.ingest import run_ingest

    names = ["good-0.log", "good-1.log", "stall.log", "good-2.log", "noget.log", "silent.log"]
    urls = [f"{server.url}/{n}" for n in names]
    out = tmp_path / "events"
    t0 = time.monotonic()
    m = run_ingest(urls, out, {"read_timeout_s": TIMEOUT, "workers": 2, "in_process_below_bytes": 0})
    assert time.monotonic() - t0 < 90  # bounded: no read waited for the server's 300 s stall

    files = {f["path"].rsplit("/", 1)[-1]: f for f in m["files"]}
    rows = _rows_by_path(out)
    for name in ("good-0.log", "good-1.log", "good-2.log"):
        assert files[name]["errors"] == []
        assert files[name]["lines_read"] == files[name]["events"] == LINES
        assert rows[f"{server.url}/{name}"] == LINES  # every line of the others is there

    stalled = files["stall.log"]
    (err,) = stalled["errors"]
    assert err.startswith(f"{server.url}/stall.log: stalled after line 0: no bytes for "
                          f"{TIMEOUT} s while reading it"), err
    # fsspec fetches a whole block (5 MB) a request, so here nothing came before the stall; what
    # does is kept and counted
    assert stalled["lines_read"] < LINES
    assert rows.get(f"{server.url}/stall.log", 0) == stalled["events"]
    for name, when in (("noget.log", "reading"), ("silent.log", "listing")):
        (err,) = files[name]["errors"]
        assert name in err and f"no bytes for {TIMEOUT} s while {when} it" in err, err
        assert files[name]["lines_read"] == 0
    assert m["n_files_failed"] == 3
    assert m["accounting_ok"]
    assert all(f["lines_read"] == f["parsed"] + f["rejected"] for f in m["files"])
    t = m["totals"]
    assert t["lines_read"] == t["parsed"] + t["rejected"]

    # the source comes back: the re-run reads the stalled files again, the finished ones are kept
    server.mode.update({"stall.log": "ok", "noget.log": "ok", "silent.log": "ok"})
    m2 = run_ingest(urls, out, {"read_timeout_s": TIMEOUT, "workers": 2, "in_process_below_bytes": 0})
    assert m2["errors"] == [] and m2["units_skipped"] == 3
    assert _rows_by_path(out) == {u: LINES for u in urls}


@pytest.mark.timeout(240)
def test_a_big_remote_file_that_stalls_while_its_lines_are_counted_is_a_per_file_error(
        ray_session, server, tmp_path):
    from logad.ray.ingest import run_ingest

    urls = [f"{server.url}/{n}" for n in ("good-0.log", "stall.log", "good-1.log")]
    t0 = time.monotonic()
    # byte ranges of 8 KiB: each file's newline counts are read before its units are
    m = run_ingest(urls, tmp_path / "events", {"read_timeout_s": TIMEOUT, "chunk_bytes": 8192, "in_process_below_bytes": 0})
    assert time.monotonic() - t0 < 90
    assert m["units"] > 3  # the good files were cut into ranges
    files = {f["path"].rsplit("/", 1)[-1]: f for f in m["files"]}
    (err,) = files["stall.log"]["errors"]
    assert "stall.log" in err and "lines not counted" in err, err
    assert f"no bytes for {TIMEOUT} s" in err, err
    assert files["stall.log"]["lines_read"] == 0
    assert files["good-0.log"]["events"] == files["good-1.log"]["events"] == LINES
    assert _rows_by_path(tmp_path / "events") == {urls[0]: LINES, urls[2]: LINES}
    assert m["accounting_ok"] and m["n_files_failed"] == 1

    server.mode["stall.log"] = "ok"  # back: the re-run counts its lines and reads it
    m2 = run_ingest(urls, tmp_path / "events", {"read_timeout_s": TIMEOUT, "chunk_bytes": 8192, "in_process_below_bytes": 0})
    # good-0's units are kept; the units after stall.log's (now three) are numbered anew
    assert m2["errors"] == [] and m2["units_skipped"] == 3 and m2["units"] == m["units"] + 2
    assert _rows_by_path(tmp_path / "events") == {u: LINES for u in urls}
