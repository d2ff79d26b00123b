"""The message-batches client against a local server that speaks the protocol (127.0.0.1)."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from logad.errors import ConfigError, InputError
from logad.triage.llm import (BatchClient, LlmCounts, LlmSettings, build_requests,
                              label_with_llm, parse_reply)

KEY = "sk-test-key-never-written"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.batches: dict[str, dict] = {}
        self.fail = {"POST": [429], "RESULTS": [503]}  # one retry each
        self.seen_headers: list[dict] = []
        self.behaviour = {}  # custom_id -> how to answer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def _labels_for(user_text: str, skip_last: bool = False) -> list[dict]:
    lines = [ln.split("\t", 1) for ln in user_text.split("\n") if re.match(r"^\d+\t", ln)]
    out = [{"line": int(n), "label": "LOOK" if re.search(r"error|fail", t, re.I) else "SKIP",
            "reason": "error word" if re.search(r"error|fail", t, re.I) else "routine"}
           for n, t in lines]
    return out[:-1] if skip_last else out


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *a):  # keep the test output clean
        pass

    def _send(self, code: int, body: bytes, ctype="application/json", headers=None):
        self.send_response(code)
        self.send_header("content-type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _auth(self) -> bool:
        self.server.seen_headers.append({k.lower(): v for k, v in self.headers.items()})
        if self.headers.get("x-api-key") != KEY or not self.headers.get("anthropic-version"):
            self._send(401, b'{"type":"error","error":{"type":"authentication_error"}}')
            return False
        return True

    def do_POST(self):
        if not self._auth():
            return
        if self.path != "/v1/messages/batches":
            return self._send(404, b"{}")
        if self.server.fail["POST"]:
            return self._send(self.server.fail["POST"].pop(0), b'{"type":"error"}', headers={"retry-after": "0"})
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        bid = f"msgbatch_{len(self.server.batches) + 1:03d}"
        self.server.batches[bid] = {"requests": body["requests"], "polls": 0}
        self._send(200, json.dumps({"id": bid, "type": "message_batch",
                                    "processing_status": "in_progress"}).encode())

    def do_GET(self):
        if not self._auth():
            return
        m = re.fullmatch(r"/v1/messages/batches/(\w+)(/results)?", self.path)
        if not m or m.group(1) not in self.server.batches:
            return self._send(404, b"{}")
        b = self.server.batches[m.group(1)]
        if m.group(2):
            if self.server.fail["RESULTS"]:
                return self._send(self.server.fail["RESULTS"].pop(0), b"overloaded")
            return self._send(200, self._results(b).encode(), "application/binary")
        b["polls"] += 1
        status = "ended" if b["polls"] >= 2 else "in_progress"
        self._send(200, json.dumps({"id": m.group(1), "processing_status": status,
                                    "results_url": f"{self.server.url}{self.path}/results"
                                    if status == "ended" else None}).encode())

    def _results(self, b: dict) -> str:
        out = []
        for r in b["requests"]:
            how = self.server.behaviour.get(r["custom_id"], "ok")
            text = r["params"]["messages"][0]["content"]
            if how == "missing":
                continue
            if how == "errored":
                res = {"type": "errored", "error": {"type": "error", "error": {"type": "overloaded_error"}}}
            else:
                reply = {"ok": json.dumps(_labels_for(text)),
                         "malformed": "Sure! Here are the labels: [{\"line\": 1, \"label\": ",
                         "skip": "```json\n" + json.dumps(_labels_for(text, skip_last=True)) + "\n```",
                         }[how]
                res = {"type": "succeeded", "message": {"role": "assistant", "content": [
                    {"type": "text", "text": reply}]}}
            out.append(json.dumps({"custom_id": r["custom_id"], "result": res}))
        return "\n".join(out) + "\n"


@pytest.fixture()
def server():
    srv = _Server()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _settings(srv, window=4) -> LlmSettings:
    return LlmSettings(base_url=srv.url, window=window, poll_seconds=0.01, backoff_seconds=0.01,
                       max_retries=3, http_timeout_seconds=10)


LINES = [(i + 1, t) for i, t in enumerate([
    "disk ok", "ERROR disk failed", "all good", "sync done",            # window 0: ok
    "x error", "y", "z", "w",                                         # window 1: malformed
    "a", "b fail", "c", "d",                                          # window 2: errored
    "e", "f", "g", "h",                                               # window 3: missing
    "i", "j error", "k", "l"])]                                       # window 4: skips line 4


def test_submit_poll_collect_with_failures(server):
    server.behaviour = {"svc-4": "malformed", "svc-8": "errored", "svc-12": "missing", "svc-16": "skip"}
    client = BatchClient(_settings(server), KEY)
    rows, c = label_with_llm({"svc": LINES}, client)
    assert (c.requests, c.batches, c.succeeded) == (5, 1, 3)
    assert (c.unparsed_replies, c.failed_requests, c.lines_skipped_by_reply) == (1, 2, 1)
    assert c.lines_labelled == 7 and c.lines_unlabelled == 13
    assert c.http_retries == 2  # the 429 on submit and the 503 on the results
    got = {r["line_no"]: r["label"] for r in rows}
    assert got == {1: 0, 2: 1, 3: 0, 4: 0, 17: 0, 18: 1, 19: 0}
    assert all(r["source"] == "llm" for r in rows)
    # the protocol: the key in a header on every call, the request shape
    assert all(h.get("x-api-key") == KEY for h in server.seen_headers)
    req = server.batches["msgbatch_001"]["requests"][0]
    assert req["custom_id"] == "svc-0"
    assert set(req["params"]) == {"model", "max_tokens", "system", "messages"}
    assert "LOOK" in req["params"]["system"] and "doubt" in req["params"]["system"]


def test_requests_are_windows_of_consecutive_lines():
    reqs = build_requests("BGL 2k!", [f"l{i}" for i in range(120)], LlmSettings(window=50))
    assert [r[1:3] for r in reqs] == [(0, 50), (50, 100), (100, 120)]
    assert reqs[0][0] == "BGL_2k_-0"  # custom ids stay in [A-Za-z0-9_-]
    assert reqs[2][3]["params"]["messages"][0]["content"].count("\n") == 20 + 1


def test_parse_reply_rejects_bad_entries():
    labels, bad = parse_reply('[{"line": 1, "label": "look"}, {"line": 9, "label": "SKIP"},'
                              ' {"line": 1, "label": "SKIP"}, {"label": "LOOK"}]', 3)
    assert labels == {0: (1, "")} and bad == 3
    assert parse_reply("no json here", 3) == (None, 0)
    assert parse_reply('{"line": 1}', 3) == (None, 0)


def test_non_retryable_error_is_one_message(server):
    client = BatchClient(_settings(server), "wrong-key")
    with pytest.raises(InputError, match="HTTP 401"):
        client.submit([{"custom_id": "a", "params": {}}])


def test_retries_run_out(server):
    server.fail["POST"] = [500, 502, 503, 529]
    client = BatchClient(_settings(server), KEY, LlmCounts())
    with pytest.raises(InputError, match="HTTP 529"):
        client.submit([{"custom_id": "a", "params": {}}])
    assert client.counts.http_retries == 3


def test_key_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("LOGAD_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="LOGAD_TEST_KEY"):
        BatchClient.from_env(LlmSettings(api_key_env="LOGAD_TEST_KEY"))
    monkeypatch.setenv("LOGAD_TEST_KEY", KEY)
    assert BatchClient.from_env(LlmSettings(api_key_env="LOGAD_TEST_KEY"))._key == KEY


def test_label_run_with_llm_validates_and_never_writes_the_key(server, small_logs, triage_cfg,
                                                               tmp_path, monkeypatch):
    from logad.triage.runs import run_label

    server.fail = {"POST": [], "RESULTS": []}
    cfg = dict(triage_cfg)
    cfg["llm"] = {"base_url": server.url, "window": 50, "poll_seconds": 0.01,
                  "backoff_seconds": 0.01, "api_key_env": "LOGAD_TEST_KEY"}
    monkeypatch.setenv("LOGAD_TEST_KEY", KEY)
    m = run_label([str(small_logs)], tmp_path, cfg, use_llm=True)
    # every line of the four datasets went out (BGL too, for the agreement), in windows of 50
    assert m["llm"]["requests"] == 4 * 6 and m["llm"]["lines_labelled"] == 4 * 300
    assert m["llm"]["lines_unlabelled"] == 0
    by = {d["dataset"]: d for d in m["datasets"]}
    assert by["BGL"]["ground_truth"] == 300 and by["BGL"]["llm"] == 0  # truth wins
    assert by["HDFS"]["llm"] == 300
    agree = m["llm_vs_ground_truth"]["BGL"]
    assert agree["lines"] == 300 and 0 <= agree["agreement"] <= 1
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f
    # the alert tag is never sent to the LLM
    sent = [r["params"]["messages"][0]["content"] for b in server.batches.values() for r in b["requests"]]
    assert not any(re.search(r"^\d+\t(KERN|APP)\w+ \d{10}", s, re.M) for s in sent)
