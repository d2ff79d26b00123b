"""The LLM labeller: windows of consecutive lines sent through a message-batches API.

Each file is cut into windows of ``window`` (50) consecutive lines; each window is one request
whose user message lists the lines numbered from 1 and whose system prompt asks for a JSON array
of ``{"line", "label", "reason"}`` (LOOK when in doubt). The requests go through the Message
Batches protocol (Anthropic's shape):

* ``POST {base_url}/v1/messages/batches`` with ``{"requests": [{"custom_id", "params"}]}``;
* ``GET {base_url}/v1/messages/batches/{id}`` until ``processing_status`` is ``"ended"``;
* ``GET`` its ``results_url``: JSONL, one ``{"custom_id", "result"}`` per request, ``result.type``
  ``succeeded`` (with ``message.content[].text``), ``errored``, ``canceled`` or ``expired``.

HTTP 429 and 5xx are retried with exponential back-off (``Retry-After`` honoured). The key comes
from the environment variable named in the config and is sent as a header only; it is never
logged or written. A reply that does not parse, a request that did not succeed, or a line a reply
leaves out is counted (:class:`LlmCounts`); those lines stay unlabelled.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Mapping, Sequence

from logad.errors import ConfigError, InputError

__all__ = ["LlmSettings", "LlmCounts", "BatchClient", "windows", "build_requests",
           "parse_reply", "label_with_llm", "DEFAULT_SYSTEM_PROMPT"]

log = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = (
    "You triage log lines for an operator who cannot read everything. For each numbered line, "
    "answer LOOK if a person should read it (an error, a failure, a warning that matters, a "
    "security event, a crash, a lost connection, a hardware fault, anything unusual) or SKIP if "
    "it is routine. When in doubt, answer LOOK. Reply with only a JSON array, one object per "
    'line, in order: [{"line": <number>, "label": "LOOK" or "SKIP", "reason": "<a few words>"}].')

_ID_OK = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class LlmSettings:
    """The ``llm`` section of ``configs/triage.yaml``."""

    base_url: str = "https://api.anthropic.com"
    model: str = "claude-haiku-4-5"
    window: int = 50
    max_tokens: int = 4096
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    api_key_env: str = "ANTHROPIC_API_KEY"
    anthropic_version: str = "2023-06-01"
    poll_seconds: float = 30.0
    max_wait_seconds: float = 24 * 3600.0
    max_retries: int = 5
    backoff_seconds: float = 2.0
    http_timeout_seconds: float = 60.0
    max_requests_per_batch: int = 10000

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> "LlmSettings":
        cfg = dict(cfg or {})
        unknown = set(cfg) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"triage llm: unknown key(s) {sorted(unknown)} "
                              f"(known: {sorted(cls.__dataclass_fields__)})")
        s = cls(**cfg)
        if s.window < 1 or s.max_requests_per_batch < 1:
            raise ConfigError(f"triage llm.window and max_requests_per_batch: positive, got "
                              f"{s.window}, {s.max_requests_per_batch}")
        return s


@dataclass
class LlmCounts:
    """What the labeller sent and what came back, for the manifest."""

    requests: int = 0
    batches: int = 0
    succeeded: int = 0
    failed_requests: int = 0      # errored / canceled / expired / missing from the results
    unparsed_replies: int = 0     # succeeded, but no JSON array of objects in the text
    lines_labelled: int = 0
    lines_unlabelled: int = 0     # in a failed or unparsed request, or left out of a reply
    lines_skipped_by_reply: int = 0
    bad_entries: int = 0          # entries with an unknown label or line number
    http_retries: int = 0
    problems: list[str] = field(default_factory=list)

    def note(self, msg: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(msg)

    def to_dict(self) -> dict:
        return asdict(self)


def windows(n_lines: int, size: int) -> list[tuple[int, int]]:
    """``[start, end)`` index ranges of consecutive windows of ``size`` lines.

    >>> windows(120, 50)
    [(0, 50), (50, 100), (100, 120)]
    """
    return [(s, min(s + size, n_lines)) for s in range(0, n_lines, size)]


def _user_message(lines: Sequence[str]) -> str:
    body = "\n".join(f"{i + 1}\t{ln}" for i, ln in enumerate(lines))
    return f"Label each of these {len(lines)} log lines.\n\n{body}"


def build_requests(dataset: str, lines: Sequence[str], settings: LlmSettings
                   ) -> list[tuple[str, int, int, dict]]:
    """``(custom_id, start, end, request)`` for every window of one dataset's lines."""
    safe = _ID_OK.sub("_", dataset)[:40]
    out = []
    for s, e in windows(len(lines), settings.window):
        cid = f"{safe}-{s}"
        out.append((cid, s, e, {"custom_id": cid, "params": {
            "model": settings.model, "max_tokens": settings.max_tokens,
            "system": settings.system_prompt,
            "messages": [{"role": "user", "content": _user_message(lines[s:e])}]}}))
    return out


def _json_array(text: str) -> list | None:
    text = text.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    if fence:
        text = fence.group(1).strip()
    for cand in (text, text[text.find("["):text.rfind("]") + 1] if "[" in text else ""):
        try:
            val = json.loads(cand)
        except ValueError:
            continue
        if isinstance(val, list) and all(isinstance(v, dict) for v in val):
            return val
    return None


def parse_reply(text: str, n_lines: int) -> tuple[dict[int, tuple[int, str]] | None, int]:
    """The labels of one reply: ``{index in window: (1 LOOK / 0 SKIP, reason)}`` and the number
    of bad entries; None when the text holds no JSON array of objects.

    >>> parse_reply('[{"line": 1, "label": "LOOK", "reason": "error"}, {"line": 2, "label": "x"}]', 2)
    ({0: (1, 'error')}, 1)
    """
    arr = _json_array(text)
    if arr is None:
        return None, 0
    out: dict[int, tuple[int, str]] = {}
    bad = 0
    for item in arr:
        label = str(item.get("label", "")).strip().upper()
        try:
            num = int(item.get("line"))
        except (TypeError, ValueError):
            bad += 1
            continue
        if label not in ("LOOK", "SKIP") or not 1 <= num <= n_lines or num - 1 in out:
            bad += 1
            continue
        out[num - 1] = (1 if label == "LOOK" else 0, str(item.get("reason", ""))[:200])
    return out, bad


class BatchClient:
    """A small client of the Message Batches protocol over ``urllib`` (no SDK needed).

    Parameters
    ----------
    settings : LlmSettings
    api_key : str
        Sent as the ``x-api-key`` header; never logged.
    counts : LlmCounts, optional
        Where retries are counted.
    """

    def __init__(self, settings: LlmSettings, api_key: str, counts: LlmCounts | None = None) -> None:
        self.s = settings
        self._key = api_key
        self.counts = counts or LlmCounts()

    @classmethod
    def from_env(cls, settings: LlmSettings, counts: LlmCounts | None = None) -> "BatchClient":
        key = os.environ.get(settings.api_key_env)
        if not key:
            raise ConfigError(f"the LLM labeller needs an API key in the environment variable "
                              f"{settings.api_key_env} (llm.api_key_env in configs/triage.yaml)")
        return cls(settings, key, counts)

    def _request(self, method: str, url: str, body: Any = None) -> bytes:
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"x-api-key": self._key, "anthropic-version": self.s.anthropic_version,
                   "content-type": "application/json"}
        for attempt in range(self.s.max_retries + 1):
            req = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(req, timeout=self.s.http_timeout_seconds) as resp:
                    return resp.read()
            except urllib.error.HTTPError as exc:
                retry = exc.code == 429 or exc.code >= 500
                if not retry or attempt == self.s.max_retries:
                    detail = exc.read()[:300].decode("utf-8", "replace")
                    raise InputError(f"message-batches API: {method} {url} -> HTTP {exc.code}: "
                                     f"{detail}") from None
                wait = exc.headers.get("retry-after") if exc.headers else None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == self.s.max_retries:
                    raise InputError(f"message-batches API: {method} {url} unreachable: {exc}") from None
                wait = None
            self.counts.http_retries += 1
            try:
                delay = float(wait) if wait is not None else self.s.backoff_seconds * 2 ** attempt
            except ValueError:
                delay = self.s.backoff_seconds * 2 ** attempt
            log.info("message-batches API: retry %d after %.1f s", attempt + 1, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _json(self, method: str, url: str, body: Any = None) -> dict:
        raw = self._request(method, url, body)
        try:
            val = json.loads(raw)
        except ValueError:
            raise InputError(f"message-batches API: {url} answered something that is not JSON: "
                             f"{raw[:200]!r}") from None
        if not isinstance(val, dict):
            raise InputError(f"message-batches API: {url} answered {type(val).__name__}, not an object")
        return val

    def submit(self, requests: Sequence[dict]) -> str:
        """Create a batch; return its id."""
        batch = self._json("POST", f"{self.s.base_url}/v1/messages/batches",
                           {"requests": list(requests)})
        if "id" not in batch:
            raise InputError(f"message-batches API: no batch id in the answer {batch}")
        return str(batch["id"])

    def wait(self, batch_id: str) -> dict:
        """Poll the batch until its ``processing_status`` is ``ended``; return it."""
        t0 = time.monotonic()
        while True:
            batch = self._json("GET", f"{self.s.base_url}/v1/messages/batches/{batch_id}")
            if batch.get("processing_status") == "ended":
                return batch
            if time.monotonic() - t0 > self.s.max_wait_seconds:
                raise InputError(f"message-batches API: batch {batch_id} not ended after "
                                 f"{self.s.max_wait_seconds:.0f} s (llm.max_wait_seconds)")
            time.sleep(self.s.poll_seconds)

    def results(self, batch: dict) -> Iterator[dict]:
        """The JSONL results of an ended batch, one dict per line (bad lines are counted)."""
        url = batch.get("results_url")
        if not url:
            raise InputError(f"message-batches API: batch {batch.get('id')} ended without a results_url")
        for i, line in enumerate(self._request("GET", url).decode("utf-8", "replace").splitlines()):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                self.counts.note(f"results line {i + 1} of batch {batch.get('id')} is not JSON")
                continue
            if isinstance(row, dict):
                yield row


def _reply_text(result: dict) -> str:
    msg = result.get("message") or {}
    return "".join(c.get("text", "") for c in msg.get("content") or [] if isinstance(c, dict))


def label_with_llm(datasets: Mapping[str, Sequence[tuple[int, str]]], client: BatchClient
                   ) -> tuple[list[dict], LlmCounts]:
    """Label every dataset's lines with the LLM.

    Parameters
    ----------
    datasets : mapping
        Dataset name -> ``(line_no, line)`` pairs in file order.
    client : BatchClient

    Returns
    -------
    rows : list of dict
        ``{"dataset", "line_no", "line", "label", "reason", "source": "llm"}`` for every line a
        reply labelled.
    counts : LlmCounts
    """
    s, counts = client.s, client.counts
    plan: dict[str, tuple[str, list[tuple[int, str]]]] = {}
    reqs = []
    for name, pairs in datasets.items():
        pairs = list(pairs)
        for cid, a, b, req in build_requests(name, [p[1] for p in pairs], s):
            plan[cid] = (name, pairs[a:b])
            reqs.append(req)
    counts.requests += len(reqs)
    rows: list[dict] = []
    for k in range(0, len(reqs), s.max_requests_per_batch):
        chunk = reqs[k:k + s.max_requests_per_batch]
        batch = client.wait(client.submit(chunk))
        counts.batches += 1
        seen: set[str] = set()
        for res in client.results(batch):
            cid = str(res.get("custom_id"))
            if cid not in plan or cid in seen:
                counts.note(f"unknown or repeated custom_id {cid!r} in the results")
                continue
            seen.add(cid)
            name, pairs = plan[cid]
            result = res.get("result") or {}
            if result.get("type") != "succeeded":
                counts.failed_requests += 1
                counts.lines_unlabelled += len(pairs)
                counts.note(f"{cid}: request {result.get('type', 'without a result')}")
                continue
            counts.succeeded += 1
            labels, bad = parse_reply(_reply_text(result), len(pairs))
            counts.bad_entries += bad
            if labels is None:
                counts.unparsed_replies += 1
                counts.lines_unlabelled += len(pairs)
                counts.note(f"{cid}: reply is not a JSON array of objects")
                continue
            missing = len(pairs) - len(labels)
            counts.lines_skipped_by_reply += missing
            counts.lines_unlabelled += missing
            for j, (lab, reason) in sorted(labels.items()):
                ln, text = pairs[j]
                rows.append({"dataset": name, "line_no": ln, "line": text, "label": lab,
                             "reason": reason, "source": "llm"})
            counts.lines_labelled += len(labels)
        for cid in (c["custom_id"] for c in chunk):
            if cid not in seen:
                counts.failed_requests += 1
                counts.lines_unlabelled += len(plan[cid][1])
                counts.note(f"{cid}: missing from the batch results")
    return rows, counts
