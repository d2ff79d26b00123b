"""The LO2 microservice dump: its layout, reproducible selection of runs and cases, its metrics.

Layout (folders, or one ``light-oauth2-data-<epoch>.tar`` a run holding the same tree)::

    <root>/light-oauth2-data-<epoch>/<test_case>/light-oauth2-oauth2-<service>-1.log
    <root>/metrics/light-oauth2-data-<epoch>.csv            (per-run metrics, wide CSV)
    .../metric_<name>.json                                   (Prometheus range-query results)

``correct`` is the normal test case; every other test case is one error type. Labels are per file
(run x test case x service), never per line.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from dataclasses import dataclass
from typing import Sequence

import fsspec
import pyarrow as pa

from logad.errors import InputError
from logad.sources.files import SourceFile

__all__ = ["LO2_FILE_RE", "NORMAL_CASE", "SERVICES", "Lo2File", "lo2_file_of", "select_lo2",
           "load_lo2_metrics"]

LO2_FILE_RE = re.compile(
    r"(?:^|/)(?P<run>light-oauth2-data-\d+)/(?P<test_case>[^/]+)/light-oauth2-oauth2-(?P<service>[a-z-]+?)-\d+\.log$")
NORMAL_CASE = "correct"
SERVICES = ("client", "code", "key", "refresh-token", "service", "token", "user")


@dataclass(frozen=True)
class Lo2File:
    file: SourceFile
    run: str
    test_case: str
    service: str

    @property
    def label(self) -> int:
        return 0 if self.test_case == NORMAL_CASE else 1


def lo2_file_of(sf: SourceFile) -> Lo2File | None:
    """Where ``sf`` sits in the LO2 layout, or None when it is not an LO2 service log."""
    m = LO2_FILE_RE.search(sf.member or sf.url)
    if m is None:
        return None
    return Lo2File(sf, m["run"], m["test_case"], m["service"])


def select_lo2(files: Sequence[SourceFile], *, runs: int | Sequence[str] | None = None,
               services: Sequence[str] | None = None, test_cases: Sequence[str] | None = None,
               errors_per_run: int | None = None, seed: int = 0) -> tuple[list[Lo2File], int]:
    """Pick LO2 service logs reproducibly; returns the selection and how many files were not LO2 logs.

    ``runs`` is a count (the first N runs by name) or a list of run names; ``errors_per_run`` draws
    that many error test cases per run with a generator seeded by ``seed`` and the run name, so
    the draw does not change when other runs are added. ``correct`` is always kept.
    """
    lo2, other = [], 0
    for sf in files:
        f = lo2_file_of(sf)
        if f is None:
            other += 1
        else:
            lo2.append(f)
    all_runs = sorted({f.run for f in lo2})
    if isinstance(runs, int):
        keep_runs = set(all_runs[:runs])
    elif runs:
        unknown = sorted(set(runs) - set(all_runs))
        if unknown:
            raise InputError(f"LO2 runs not found: {', '.join(unknown)}; available: {', '.join(all_runs[:10])}"
                             + (" ..." if len(all_runs) > 10 else ""))
        keep_runs = set(runs)
    else:
        keep_runs = set(all_runs)
    if services:
        bad = sorted(set(services) - set(SERVICES))
        if bad:
            raise InputError(f"unknown LO2 service(s) {', '.join(bad)}; choose from {', '.join(SERVICES)}")
    chosen = []
    by_run: dict[str, list[Lo2File]] = {}
    for f in lo2:
        if f.run not in keep_runs or (services and f.service not in services):
            continue
        if test_cases and f.test_case not in test_cases and f.test_case != NORMAL_CASE:
            continue
        by_run.setdefault(f.run, []).append(f)
    for run in sorted(by_run):
        fs = by_run[run]
        if errors_per_run is not None:
            cases = sorted({f.test_case for f in fs if f.test_case != NORMAL_CASE})
            rng = random.Random(f"{seed}:{run}")
            picked = set(rng.sample(cases, min(errors_per_run, len(cases))))
            fs = [f for f in fs if f.test_case == NORMAL_CASE or f.test_case in picked]
        chosen.extend(sorted(fs, key=lambda f: (f.test_case, f.service)))
    return chosen, other


_METRIC_CSV_RE = re.compile(r"(?:^|/)metrics/(?P<run>light-oauth2-data-\d+)\.csv$")
_METRIC_JSON_RE = re.compile(r"(?:^|/)(?:(?P<run>light-oauth2-data-\d+)/(?:.*/)?)?metric_(?P<name>[^/]+)\.json$")

METRICS_SCHEMA = pa.schema([("run", pa.string()), ("metric", pa.string()), ("labels", pa.string()),
                            ("timestamp", pa.float64()), ("value", pa.float64()), ("source", pa.string())])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _read_text(sf: SourceFile) -> str:
    with fsspec.open(sf.url, "rb") as fh:
        if sf.member is not None:
            fh.seek(sf.offset)
            data = fh.read(sf.size)
        else:
            data = fh.read()
    return data.decode("utf-8", errors="replace")


def load_lo2_metrics(files: Sequence[SourceFile]) -> tuple[pa.Table, list[str]]:
    """Load per-run metrics CSVs and Prometheus ``metric_<name>.json`` files into one long table.

    Returns the table (run, metric, labels as JSON, timestamp in epoch seconds, value, source file)
    and a list of problems, each naming the file (and row) that could not be read.
    """
    rows: dict[str, list] = {k: [] for k in METRICS_SCHEMA.names}
    problems: list[str] = []

    def add(run, metric, labels, ts, value, src):
        for k, v in zip(METRICS_SCHEMA.names, (run, metric, labels, ts, value, src)):
            rows[k].append(v)

    for sf in files:
        name = sf.member or sf.url
        m_csv, m_json = _METRIC_CSV_RE.search(name), _METRIC_JSON_RE.search(name)
        if not (m_csv or m_json):
            continue
        try:
            text = _read_text(sf)
        except OSError as exc:
            problems.append(f"{sf.display}: cannot read: {exc}")
            continue
        if m_csv:
            reader = csv.DictReader(io.StringIO(text))
            tcol = next((c for c in (reader.fieldnames or []) if c.lower() in ("timestamp", "time", "ts")), None)
            if tcol is None:
                problems.append(f"{sf.display}: no timestamp column in {reader.fieldnames}")
                continue
            text_cols: set[str] | None = None  # columns whose first value is not a number: labels
            for i, rec in enumerate(reader, start=2):
                if text_cols is None:
                    text_cols = {c for c, v in rec.items() if c != tcol and v and not _is_number(v)}
                try:
                    ts = float(rec[tcol])
                except (TypeError, ValueError):
                    problems.append(f"{sf.display}:{i}: bad timestamp {rec.get(tcol)!r}")
                    continue
                labels = json.dumps({c: rec[c] for c in sorted(text_cols)}, sort_keys=True)
                for col, val in rec.items():
                    if col == tcol or col in text_cols or val in (None, ""):
                        continue
                    if _is_number(val):
                        add(m_csv["run"], col, labels, ts, float(val), sf.display)
                    else:
                        problems.append(f"{sf.display}:{i}: non-numeric {col}={val!r}")
        else:
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append(f"{sf.display}: not valid JSON: {exc}")
                continue
            series = doc if isinstance(doc, list) else doc.get("data", {}).get("result", [doc]) \
                if isinstance(doc, dict) and "data" in doc else [doc]
            for s in series:
                labels = s.get("metric", {}) if isinstance(s, dict) else {}
                for pair in (s.get("values", []) if isinstance(s, dict) else []):
                    try:
                        add(m_json["run"], m_json["name"], json.dumps(labels, sort_keys=True),
                            float(pair[0]), float(pair[1]), sf.display)
                    except (TypeError, ValueError, IndexError):
                        problems.append(f"{sf.display}: bad sample {pair!r}")
    return pa.table(rows, schema=METRICS_SCHEMA), problems
