"""Synthetic LO2 (light-oauth2) dumps in the real layout, with metrics and optional per-run tars.

Layout written under ``out_dir``::

    light-oauth2-data-<epoch>/<test_case>/light-oauth2-oauth2-<service>-1.log
    light-oauth2-data-<epoch>/metric_<name>.json      Prometheus range results {"metric", "values"}
    metrics/light-oauth2-data-<epoch>.csv             per-run wide CSV: timestamp + metrics
    light-oauth2-data-<epoch>.tar                     (with ``tar=True``) the run folder, packed
    lo2_files.csv                                     one row a log file: run, test case, label, ...

``correct`` is the normal test case; each run also holds ``errors_per_run`` error test cases named
as in LO2 (``access_token_auth_header_error_401``, ``delete_token_404``, ...). The service an error
breaks shows that error's ERROR lines and Java stack traces mixed into its normal traffic; all files
(normal ones too) carry the occasional benign ERROR of the real data, so the level is not the label.
``correct_length_factor`` makes ``correct`` files that many times longer (the real data: about 6);
at 1.0 the file length says nothing about the label.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import tarfile
from pathlib import Path
from typing import Any, Sequence

from logad.errors import ConfigError
from logad.io import atomic_path
from logad.synth.common import (b64_token, check_positive, check_ratio, sub_rng, uuid4, write_csv,
                                write_text)
from logad.synth.lo2_service import service_log
from logad.synth.lo2_templates import ERROR_CASES, SERVICE_WEIGHT, SERVICES

__all__ = ["generate_lo2", "ERROR_CASES", "SERVICES", "NORMAL_CASE"]

log = logging.getLogger(__name__)

NORMAL_CASE = "correct"
_STEP_S = 5
_JSON_METRICS = ("node_cpu_utilisation", "node_memory_used_bytes")


def _check(runs: int, services: Sequence[str], errors_per_run: int, error_cases: Sequence[str] | None,
           lines_per_file: int, correct_length_factor: float, error_share: float, noise_rate: float,
           start_epoch: int) -> list[str]:
    check_positive("runs", runs)
    check_positive("start_epoch", start_epoch, minimum=0)
    check_positive("lines_per_file", lines_per_file, minimum=20)
    check_positive("correct_length_factor", correct_length_factor, minimum=0.05)
    check_ratio("noise_rate", noise_rate)
    if not 0.0 < float(error_share) <= 1.0:
        raise ConfigError(f"error_share must be in (0, 1], got {error_share!r}")
    bad = [s for s in services if s not in SERVICES]
    if bad or not services:
        raise ConfigError(f"services: unknown or empty {list(services)!r}; choose from {', '.join(SERVICES)}")
    names = list(error_cases) if error_cases else list(ERROR_CASES)
    unknown = [n for n in names if n not in ERROR_CASES]
    if unknown:
        raise ConfigError(f"error_cases: unknown {unknown!r}; known: {', '.join(ERROR_CASES)}")
    eligible = [n for n in names if ERROR_CASES[n].service in services]
    if isinstance(errors_per_run, bool) or not isinstance(errors_per_run, int) or errors_per_run < 0:
        raise ConfigError(f"errors_per_run must be an integer >= 0, got {errors_per_run!r}")
    if errors_per_run > len(eligible):
        raise ConfigError(f"errors_per_run={errors_per_run} but only {len(eligible)} error test cases break "
                          f"the chosen services ({', '.join(services)}); lower it or add services")
    return eligible


def _metrics(rng, epoch: int, end_s: int, services: Sequence[str], requests: dict[str, list[int]],
             errors: list[int]) -> tuple[list[str], list[list[Any]]]:
    """Rows of the per-run metrics CSV on a 5 s grid, driven by the generated request times."""
    n = (end_s - epoch) // _STEP_S + 1
    counts = {svc: [0] * n for svc in services}
    for svc, times in requests.items():
        for ms in times:
            counts[svc][min(n - 1, max(0, (ms // 1000 - epoch) // _STEP_S))] += 1
    errs = [0] * n
    for ms in errors:
        errs[min(n - 1, max(0, (ms // 1000 - epoch) // _STEP_S))] += 1
    totals = [sum(counts[s][i] for s in services) for i in range(n)]
    peak = max(totals) or 1
    header = ["timestamp", "node_cpu_utilisation", "node_memory_used_bytes", "node_load1", "go_goroutines",
              *(f"rate_requests_{s.replace('-', '_')}" for s in services), "rate_errors"]
    rows = []
    for i in range(n):
        load = totals[i] / peak
        rows.append([epoch + i * _STEP_S,
                     f"{min(1.0, max(0.0, 0.08 + 0.6 * load + rng.gauss(0, 0.02))):.4f}",
                     f"{2.1e9 + 1.2e6 * i + rng.gauss(0, 2e7):.0f}",
                     f"{max(0.0, 0.3 + 3.0 * load + rng.gauss(0, 0.1)):.2f}",
                     int(45 + totals[i] / 4 + rng.randint(-3, 3)),
                     *(f"{counts[s][i] / _STEP_S:.2f}" for s in services),
                     f"{errs[i] / _STEP_S:.2f}"])
    return header, rows


def _prom_json(name: str, header: list[str], rows: list[list[Any]]) -> bytes:
    col = header.index(name)
    doc = {"metric": {"__name__": name, "instance": "172.18.0.1:9100", "job": "node-exporter"},
           "values": [[r[0], str(r[col])] for r in rows]}
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


def _write_tar(path: Path, members: dict[str, bytes], mtime: int) -> None:
    """A tar that depends only on ``members``: sorted entries, fixed mtime, uid/gid 0, no names."""
    dirs = {str(Path(name).parents[i]) for name in members for i in range(len(Path(name).parents) - 1)}
    with atomic_path(path) as tmp, tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as tf:
        for name in sorted(dirs | set(members)):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "", ""
            if name in members:
                info.size, info.mode = len(members[name]), 0o644
                tf.addfile(info, io.BytesIO(members[name]))
            else:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)


def generate_lo2(out_dir: str | Path, *, seed: int, runs: int = 3, services: Sequence[str] = SERVICES,
                 errors_per_run: int = 4, error_cases: Sequence[str] | None = None, lines_per_file: int = 400,
                 correct_length_factor: float = 1.0, error_share: float = 0.08, noise_rate: float = 0.02,
                 start_epoch: int = 1719592986, tar: bool = False) -> dict[str, Any]:
    """Write an LO2-shaped dump (logs, metrics, optional tars) into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Folder to write into (created).
    seed : int
        Same seed, same bytes (tars included).
    runs : int, default 3
        Runs, each ``light-oauth2-data-<epoch>``.
    services : sequence of str, default all seven
        Services that get a log in each test case.
    errors_per_run : int, default 4
        Error test cases per run, drawn from ``error_cases`` among those that break a chosen service.
    error_cases : sequence of str or None
        Allowed error test case names (default: all of :data:`ERROR_CASES`).
    lines_per_file : int, default 400
        Lines of a token-service log; the other services scale by their traffic (key ~0.15x).
    correct_length_factor : float, default 1.0
        ``correct`` logs are this many times longer (and last that much longer).
    error_share : float, default 0.08
        Share of the broken service's requests that fail (at least one).
    noise_rate : float, default 0.02
        Share of requests with a benign ERROR in every file.
    start_epoch : int, default 1719592986
        Epoch of the first run; later runs follow in time.
    tar : bool, default False
        Also pack each run as ``light-oauth2-data-<epoch>.tar`` beside its folder.

    Returns
    -------
    dict
        ``files``, ``log_files``, ``lines``, ``runs``, ``test_cases``, ``anomalous_files``.

    Examples
    --------
    >>> import tempfile
    >>> s = generate_lo2(tempfile.mkdtemp(), seed=1, runs=1, errors_per_run=1, lines_per_file=40)
    >>> s["log_files"], s["test_cases"]
    (14, 2)
    """
    services = [s for s in SERVICES if s in set(services)] if services else []
    eligible = _check(runs, services, errors_per_run, error_cases, lines_per_file, correct_length_factor,
                      error_share, noise_rate, start_epoch)
    out = Path(out_dir)
    rows: list[tuple] = []
    written: list[str] = []
    epoch, total_lines = int(start_epoch), 0
    for r in range(int(runs)):
        rng = sub_rng(seed, "lo2", f"run-{r}")
        run_name = f"light-oauth2-data-{epoch}"
        basics = ["Basic " + base64.b64encode(f"{uuid4(rng)}:{b64_token(rng)}".encode()).decode() for _ in range(4)]
        cases = [NORMAL_CASE, *rng.sample(eligible, errors_per_run)]
        members: dict[str, bytes] = {}
        requests: dict[str, list[int]] = {s: [] for s in services}
        errors: list[int] = []
        t = epoch * 1000 + rng.randint(5000, 20000)
        for case_name in cases:
            case = ERROR_CASES.get(case_name)
            factor = correct_length_factor if case is None else 1.0
            duration = int(lines_per_file / 8 / 20 * 1000 * factor * rng.uniform(0.8, 1.2))
            end = t
            for svc in services:
                target = max(25, round(lines_per_file * SERVICE_WEIGHT[svc] * factor * rng.uniform(0.75, 1.25)))
                broken = case is not None and case.service == svc
                slog = service_log(rng, svc, start_ms=t, duration_ms=duration, target_lines=target,
                                   case=case if broken else None, error_share=error_share,
                                   noise_rate=noise_rate, basics=basics)
                rel = f"{run_name}/{case_name}/light-oauth2-oauth2-{svc}-1.log"
                members[rel] = slog.text.encode("utf-8")
                rows.append((run_name, case_name, svc, rel, int(case is not None), int(broken), slog.lines,
                             slog.injected))
                requests[svc] += slog.requests
                errors += slog.errors
                total_lines += slog.lines
                end = max(end, slog.end_ms)
            t = end + rng.randint(2000, 10000)
        header, mrows = _metrics(rng, epoch, t // 1000, services, requests, errors)
        for name in _JSON_METRICS:
            members[f"{run_name}/metric_{name}.json"] = _prom_json(name, header, mrows)
        for rel, data in members.items():
            write_text(out / rel, data)
        write_csv(out / "metrics" / f"{run_name}.csv", header, mrows)
        written += [*members, f"metrics/{run_name}.csv"]
        if tar:
            _write_tar(out / f"{run_name}.tar", members, epoch)
            written.append(f"{run_name}.tar")
        log.info("lo2: %s with %d test cases", run_name, len(cases))
        epoch = t // 1000 + rng.randint(60, 600)
    write_csv(out / "lo2_files.csv", ("run", "test_case", "service", "path", "label", "error_service",
                                      "lines", "failing_requests"), rows)
    written.append("lo2_files.csv")
    return {"kind": "lo2", "out": str(out), "files": written, "log_files": len(rows), "lines": total_lines,
            "runs": int(runs), "test_cases": len(rows) // len(services),
            "anomalous_files": sum(r[4] for r in rows), "error_service_files": sum(r[5] for r in rows)}
