"""`logad data fetch` against a real HTTP server on 127.0.0.1 (with Range) and file:// URLs."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from logad.cli import app
from logad.data import fetch, load_catalogue, resolve
from logad.errors import InputError

CHUNK = 64 << 10


class _Server:
    """Serves ``files`` with HEAD, GET and ``Range: bytes=a-b``; logs every request's range.

    ``drop`` = (n, k): the n-th GET (1-based, counted over the server's life) sends its headers,
    then only k bytes of the body, then closes the connection.
    """

    def __init__(self, files: dict[str, bytes]):
        self.files, self.log, self.drop, self.gets = files, [], None, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _head(self):
                data = outer.files.get(self.path.split("?")[0].lstrip("/"))
                if data is None:
                    self.send_error(404)
                    return None, 0, 0
                start, end = 0, len(data)
                rng = self.headers.get("Range")
                if rng:
                    m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
                    start, end = int(m[1]), min(len(data), int(m[2]) + 1 if m[2] else len(data))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(end - start))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", '"v1"')
                self.end_headers()
                return data, start, end

            def do_HEAD(self):
                self._head()

            def do_GET(self):
                outer.gets += 1
                outer.log.append(self.headers.get("Range"))
                data, start, end = self._head()
                if data is None:
                    return
                body = data[start:end]
                if outer.drop and outer.drop[0] == outer.gets:
                    self.wfile.write(body[:outer.drop[1]])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


PAYLOAD = os.urandom(5 * CHUNK + 1234)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def server():
    with _Server({"corpus.log.gz": PAYLOAD, "bad.log.gz": PAYLOAD[:-1] + b"X"}) as s:
        yield s


def _catalogue(tmp_path: Path, url: str, file: str, sha: str | None) -> Path:
    p = tmp_path / "cat.yaml"
    p.write_text(yaml.safe_dump({"datasets": {"Demo": {"url": url, "file": file, "sha256": sha}}}))
    return p


def test_catalogue_names_the_five_corpora_and_invents_no_checksum():
    cat = load_catalogue()
    assert set(cat) == {"HDFS", "BGL", "Thunderbird", "OpenStack", "LO2"}
    for entry in cat.values():
        assert entry["sha256"] is None or re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
    assert resolve("hdfs")["url"].startswith("https://zenodo.org/records/8196385/files/HDFS_v1.zip")
    with pytest.raises(InputError, match="no single download URL"):
        resolve("lo2")
    with pytest.raises(InputError, match="unknown dataset 'nosuch'"):
        resolve("nosuch")


def test_http_download_is_verified_then_cached(server, tmp_path):
    cat = _catalogue(tmp_path, f"{server.url}/corpus.log.gz?download=1", "corpus.log.gz", SHA)
    r = fetch("demo", tmp_path / "d", catalogue=cat, chunk=CHUNK)
    assert r["verified"] and not r["cached"] and r["sha256"] == SHA
    assert (tmp_path / "d" / "corpus.log.gz").read_bytes() == PAYLOAD
    assert server.log[0] == f"bytes=0-{CHUNK - 1}" and len(server.log) == 6  # ranged reads
    server.log.clear()
    again = fetch("demo", tmp_path / "d", catalogue=cat, chunk=CHUNK)
    assert again["cached"] and server.log == []                             # nothing downloaded
    assert sorted(os.listdir(tmp_path / "d")) == [".logad-fetch", "corpus.log.gz"]


def test_a_corrupted_download_is_refused_and_not_kept(server, tmp_path):
    cat = _catalogue(tmp_path, f"{server.url}/bad.log.gz", "bad.log.gz", SHA)
    with pytest.raises(InputError, match=f"sha256 mismatch: expected {SHA}"):
        fetch("Demo", tmp_path / "d", catalogue=cat, chunk=CHUNK)
    assert os.listdir(tmp_path / "d") == []
    res = CliRunner().invoke(app, ["data", "fetch", "Demo", "--to", str(tmp_path / "d"), "--catalogue", str(cat)])
    assert res.exit_code == 2 and "sha256 mismatch" in res.output and "Traceback" not in res.output


def test_an_interrupted_download_resumes_where_it_stopped(server, tmp_path):
    cat = _catalogue(tmp_path, f"{server.url}/corpus.log.gz", "corpus.log.gz", SHA)
    server.drop = (3, 1000)  # the third ranged read breaks off after 1000 bytes
    with pytest.raises(InputError, match="broke off at byte 131,072.*run the same command again"):
        fetch("Demo", tmp_path / "d", catalogue=cat, chunk=CHUNK, retries=0)
    assert not (tmp_path / "d" / "corpus.log.gz").exists()              # never under the final name
    assert (tmp_path / "d" / ".corpus.log.gz.part").stat().st_size == 2 * CHUNK
    server.log.clear()
    r = fetch("Demo", tmp_path / "d", catalogue=cat, chunk=CHUNK)
    assert r["resumed_at"] == 2 * CHUNK and r["verified"]
    assert server.log[0] == f"bytes={2 * CHUNK}-{3 * CHUNK - 1}" and len(server.log) == 4
    assert (tmp_path / "d" / "corpus.log.gz").read_bytes() == PAYLOAD
    assert sorted(os.listdir(tmp_path / "d")) == [".logad-fetch", "corpus.log.gz"]


def test_a_broken_transfer_is_retried_from_where_it_broke(server, tmp_path):
    server.drop = (2, 10)
    r = fetch(f"{server.url}/corpus.log.gz", tmp_path / "d", sha256=SHA, chunk=CHUNK, retries=2)
    assert r["attempts"] == 2 and r["verified"]
    assert server.log[1] == server.log[2] == f"bytes={CHUNK}-{2 * CHUNK - 1}"
    assert (tmp_path / "d" / "corpus.log.gz").read_bytes() == PAYLOAD


def test_file_urls_unverified_verified_and_corrupted(tmp_path):
    src = tmp_path / "src" / "x.log"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    r = fetch(src.as_uri(), tmp_path / "d", chunk=CHUNK)
    assert not r["verified"] and r["sha256"] == SHA
    r = fetch(src.as_uri(), tmp_path / "d2", sha256=SHA, chunk=CHUNK)
    assert r["verified"] and (tmp_path / "d2" / "x.log").read_bytes() == PAYLOAD
    src.write_bytes(PAYLOAD[:-1])
    with pytest.raises(InputError, match="sha256 mismatch"):
        fetch(src.as_uri(), tmp_path / "d3", sha256=SHA, chunk=CHUNK)
    assert os.listdir(tmp_path / "d3") == []
    res = CliRunner().invoke(app, ["data", "list"])
    assert res.exit_code == 0 and "Thunderbird" in res.output and "not pinned" in res.output
