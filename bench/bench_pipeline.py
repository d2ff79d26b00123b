"""End to end: a raw HDFS log file in, scores and metrics out, logad's stages against LogLead.

The input is the shared HDFS sample (../shared/data/hdfs_loglead_2pct, 134k lines, 6,952
labelled blocks) repeated until it has ``--lines`` lines, each copy with fresh block ids
(every block id of a copy redrawn by bench_parse's :func:`fresh_copies`, the same new id for
the same old one, its label carried over), written once to ``bench/work/inputs``.

logad runs its stages through the library's runners, one after the other, in one Ray session
per worker count (every stage's pool gets ``workers`` workers; Ray gets ``max(2, workers)``
CPUs, since ``logad score`` needs a CPU for its read tasks beside one actor; Ray's start-up is
timed apart): ingest (with the
labels), parse, sessionize ``--by block``, train ``sequence_xgb_counts``, score, evaluate.
Per stage: seconds, lines/s, lines/s per core. Peak RSS: the driver's (getrusage) and the
largest single Ray worker's (sampled from /proc every 0.2 s).

LogLead 2.0 runs its own chain in its own virtual environment (``bench/work/loglead-venv``,
made by this script from PyPI; LogLead pins polars < 2): load, normalise, Drain, sequences,
XGBoost train + predict, on the same file, in the same run.

Writes bench/results/pipeline.json (figures, ratios, machine load from ``uptime``).

    .venv/bin/python bench/bench_pipeline.py --lines 2000000 --workers 1 2
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_parse import fresh_copies, hdfs_real  # noqa: E402

WORK = ROOT / "bench" / "work"
DATA = Path(os.environ.get("LOGAD_SHARED_DATA", ROOT.parent / "shared" / "data"))
MODEL = "sequence_xgb_counts"


# -- the input -----------------------------------------------------------------------------------
def _sample_labels(data: Path) -> dict[str, str]:
    with open(data / "hdfs_loglead_2pct" / "anomaly_label.csv", newline="", encoding="utf-8") as fh:
        return {r["BlockId"]: r["Label"] for r in csv.DictReader(fh)}


def corpus(n_lines: int, data: Path = DATA) -> tuple[Path, Path, int]:
    """The raw log file of at least ``n_lines`` lines (whole copies of the sample), its
    ``anomaly_label.csv`` and its line count; written once, reused after."""
    import re

    headers, contents = hdfs_real(data)
    copies = max(1, -(-n_lines // len(contents)))
    n = copies * len(contents)
    log_path = WORK / "inputs" / f"hdfs_pipeline_{n}.log"
    lab_path = log_path.with_suffix(".labels.csv")
    if log_path.is_file() and lab_path.is_file():
        return log_path, lab_path, n
    log_path.parent.mkdir(parents=True, exist_ok=True)
    labels = _sample_labels(data)
    ids = sorted(labels)
    blk = re.compile(r"blk_-?\d+")
    tmp_log, tmp_lab = log_path.with_suffix(".tmp"), lab_path.with_suffix(".tmp")
    seen: set[str] = set()
    with open(tmp_log, "w", encoding="utf-8") as out, open(tmp_lab, "w", encoding="utf-8") as lab:
        lab.write("BlockId,Label\n")
        for k in range(copies):
            new = dict(zip(ids, ids if k == 0 else fresh_copies(ids, len(ids), seed=k)))
            if seen & set(new.values()):
                raise RuntimeError(f"copy {k}: a fresh block id repeats an earlier one")
            seen |= set(new.values())
            for old, fresh in new.items():
                lab.write(f"{fresh},{labels[old]}\n")
            for i, content in enumerate(contents):
                line = content if k == 0 else blk.sub(lambda m: new.get(m.group(), m.group()), content)
                out.write(f"{headers[i]} {line}\n")
    tmp_log.replace(log_path)
    tmp_lab.replace(lab_path)
    return log_path, lab_path, n


# -- memory ------------------------------------------------------------------------------------------
class RssSampler:
    """Peak resident memory of this process and of its Ray workers (``ray::`` processes among
    its descendants), read from /proc every ``every_s`` seconds in a thread (a few ms a look)."""

    def __init__(self, every_s: float = 0.25) -> None:
        self.every_s, self.peak = every_s, {"driver_mb": 0.0, "worker_max_mb": 0.0, "workers_sum_mb": 0.0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _rss_mb(pid: int) -> float:
        try:
            with open(f"/proc/{pid}/statm") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except OSError:
            return 0.0

    def _workers(self) -> list[int]:
        me, parent, out = os.getpid(), {}, []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as fh:
                        parent[int(d)] = int(fh.read().rsplit(")", 1)[1].split()[1])
                except OSError:
                    continue
        for pid in parent:
            p, seen = pid, 0
            while p in parent and p != me and seen < 50:
                p, seen = parent[p], seen + 1
            if p == me and pid != me:
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as fh:
                        if fh.read(5) == b"ray::":
                            out.append(pid)
                except OSError:
                    pass
        return out

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            w = [self._rss_mb(p) for p in self._workers()]
            self.peak["driver_mb"] = max(self.peak["driver_mb"], self._rss_mb(os.getpid()))
            self.peak["worker_max_mb"] = max(self.peak["worker_max_mb"], max(w, default=0.0))
            self.peak["workers_sum_mb"] = max(self.peak["workers_sum_mb"], sum(w))

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = {k: round(v, 1) for k, v in self.peak.items()}


# -- logad -----------------------------------------------------------------------------------------
STAGES = ("ingest", "parse", "sessionize", "train", "score", "evaluate")


def logad_chain(log_path: Path, labels: Path, workers: int, tag: str) -> dict:
    """Every stage of logad on ``log_path`` with ``workers`` workers a stage, in one Ray session
    (started first, timed apart); per stage: seconds, lines/s, lines/s per core, peak RSS."""
    import ray

    from logad.evaluate.evaluation import run_evaluate
    from logad.ray.ingest import run_ingest
    from logad.ray.parse import run_parse
    from logad.ray.runtime import ensure_ray
    from logad.ray.score import run_score
    from logad.ray.sessionize import run_sessionize
    from logad.ray.train import run_train

    out = WORK / "out" / f"{tag}-w{workers}"
    shutil.rmtree(out, ignore_errors=True)
    ray.shutdown()
    t0 = time.perf_counter()
    # workers = every stage's pool size; Ray gets one CPU more for a single worker, since
    # `logad score` (Ray Data) needs a CPU for its read tasks beside its one actor or it waits
    ensure_ray(num_cpus=max(2, workers))
    ray_start = time.perf_counter() - t0
    steps = {
        "ingest": lambda: run_ingest([str(log_path)], out / "ingest", {
            "preset": "HDFS", "labels": str(labels), "workers": workers}),
        "parse": lambda: run_parse(out / "ingest", out / "parse", cfg={"workers": workers}),
        "sessionize": lambda: run_sessionize(out / "parse", out / "sessions",
                                             cfg={"by": "block", "workers": workers}),
        "train": lambda: run_train(MODEL, out / "sessions", out / "model", {"workers": workers}),
        "score": lambda: run_score(out / "model", out / "sessions", out / "scores", {"workers": workers}),
        "evaluate": lambda: run_evaluate(out / "scores", out / "eval"),
    }
    result: dict = {"workers": workers, "ray_start_seconds": round(ray_start, 2), "stages": {}}
    manifests = {}
    for name in STAGES:
        with RssSampler() as rss:
            t = time.perf_counter()
            manifests[name] = steps[name]()
            sec = time.perf_counter() - t
        result["stages"][name] = {"seconds": round(sec, 2), "rss": rss.peak}
    n = manifests["parse"]["counts"]["read"]
    for name, st in result["stages"].items():
        st["lines_per_s"] = round(n / st["seconds"])
        st["lines_per_s_per_core"] = round(n / st["seconds"] / workers)
    tr = manifests["train"]["seconds"]
    result.update({
        "lines": n, "sessions": manifests["sessionize"]["sessions_written"],
        "seconds": round(sum(s["seconds"] for s in result["stages"].values()), 2),
        "train_phases": tr, "train_fit_seconds": tr.get("fit"),
        "train_outside_fit_seconds": round(sum(v for k, v in tr.items() if k != "fit"), 3),
        "sessionize_phases": manifests["sessionize"]["seconds"],
        "in_process": {"sessionize": manifests["sessionize"].get("in_process"),
                       "train": manifests["train"].get("in_process")},
        "test_metrics": {k: manifests["evaluate"]["metrics"].get(k) for k in ("f1", "precision", "recall", "roc_auc")},
    })
    result["lines_per_s"] = round(n / result["seconds"])
    ray.shutdown()
    shutil.rmtree(out, ignore_errors=True)
    return result


# -- LogLead -------------------------------------------------------------------------------------------
LOGLEAD_VENV = WORK / "loglead-venv"
LOGLEAD_PIN = "loglead==2.0.0"

_LOGLEAD_CHAIN = r'''
import json, resource, sys, time
t0 = time.perf_counter()
import polars as pl
from loglead.loaders import HDFSLoader
from loglead.enhancers import EventLogEnhancer, SequenceEnhancer
import loglead.anomaly_detection as ad
log, labels = sys.argv[1], sys.argv[2]
sec = {"import": time.perf_counter() - t0}

def step(name, fn):
    t = time.perf_counter()
    out = fn()
    sec[name] = time.perf_counter() - t
    return out

loader = HDFSLoader(filename=log, labels_file_name=labels)
df = step("load", loader.execute)
enh = EventLogEnhancer(df)
df = step("normalise", enh.mask)
df = step("drain", enh.parse_drain)
seq = SequenceEnhancer(df=df, df_seq=loader.df_seq)
def sequences():
    seq.events("e_event_drain_id")
    seq.start_time()
    return seq.seq_len()
df_seq = step("sequences", sequences)
sad = ad.AnomalyDetector(item_list_col="e_event_drain_id", print_scores=False)
def xgb():
    sad.test_train_split(df_seq, test_frac=0.2, shuffle=False)  # chronological, as logad's split
    sad.train_XGB()
    return sad.predict()
pred = step("xgboost_train_predict", xgb)
tp = pred.filter(pl.col("anomaly") & (pl.col("pred_ano") == 1)).height
fp = pred.filter(~pl.col("anomaly") & (pl.col("pred_ano") == 1)).height
fn = pred.filter(pl.col("anomaly") & (pl.col("pred_ano") == 0)).height
print(json.dumps({"lines": df.height, "sessions": df_seq.height, "stages": sec,
                  "seconds": sum(v for k, v in sec.items() if k != "import"),
                  "test_f1": 2 * tp / max(1, 2 * tp + fp + fn),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def loglead_python() -> Path:
    """The LogLead virtual environment's python, made once (LogLead pins polars < 2, so it
    cannot share logad's environment)."""
    py = LOGLEAD_VENV / "bin" / "python"
    if not (LOGLEAD_VENV / ".ready").is_file():
        subprocess.run(["python3.11", "-m", "venv", str(LOGLEAD_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", LOGLEAD_PIN], check=True)
        (LOGLEAD_VENV / ".ready").write_text(LOGLEAD_PIN + "\n")
    return py


def loglead_chain(log_path: Path, labels: Path) -> dict:
    """LogLead's chain on the same file in a child process; the clock starts after its imports
    (as logad's starts after Ray is up)."""
    proc = subprocess.run([str(loglead_python()), "-c", _LOGLEAD_CHAIN, str(log_path), str(labels)],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-3:]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["stages"] = {k: round(v, 2) for k, v in out["stages"].items()}
    out["seconds"] = round(out["seconds"], 2)
    out["lines_per_s"] = round(out["lines"] / out["seconds"])
    return out


# -- before / after: sessionize and train of another git revision on the same parsed folder ------------
_STAGE_CHILD = r'''
import json, os, resource, shutil, sys, time
stage, src, out, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
os.environ.setdefault("LOGAD_PROGRESS", "0")
import logad
from logad.ray.runtime import ensure_ray
shutil.rmtree(out, ignore_errors=True)
t0 = time.perf_counter()
ensure_ray(num_cpus=workers)  # both revisions run on exactly this many CPUs
t1 = time.perf_counter()
try:  # revisions with logad.settings: one top-level `workers`; earlier ones: under `ray`
    import logad.settings
    pool = {"workers": workers}
except ImportError:
    pool = {"ray": {"workers": workers, "num_cpus": workers}}
if stage == "sessionize":
    from logad.ray.sessionize import run_sessionize
    m = run_sessionize(src, out, cfg={"by": "block", **pool})
else:
    from logad.ray.train import run_train
    m = run_train("sequence_xgb_counts", src, out, pool)
print(json.dumps({"code": logad.__file__, "ray_start_seconds": round(t1 - t0, 2),
                  "seconds": round(time.perf_counter() - t1, 2), "phases": m["seconds"],
                  "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
'''


def ref_checkout(ref: str) -> Path:
    """The files of git revision ``ref`` under bench/work/ref-<sha> (made once)."""
    sha = subprocess.run(["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    dest = WORK / f"ref-{sha}"
    if not (dest / "logad").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def stage_run(stage: str, src: Path, out: Path, workers: int, code: Path | None) -> dict:
    """One stage in a child process (a fresh Ray), of this checkout or of ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code)} if code else dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", _STAGE_CHILD, stage, str(src), str(out), str(workers)],
                          capture_output=True, text=True, timeout=3600, env=env, cwd=str(code or ROOT))
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-3:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def before_after(log_path: Path, labels: Path, ref: str, workers: list[int]) -> dict:
    """Sessionize and train of revision ``ref`` and of this checkout on the same parsed input
    (ingest and parse by this checkout, once), each stage in a fresh process, alternating."""
    from logad.ray.ingest import run_ingest
    from logad.ray.parse import run_parse
    from logad.ray.runtime import ensure_ray

    base = WORK / "out" / f"ab-{log_path.stem}"
    if not (base / "parse" / "manifest.json").is_file():
        ensure_ray(num_cpus=2)
        run_ingest([str(log_path)], base / "ingest", {"preset": "HDFS", "labels": str(labels)})
        run_parse(base / "ingest", base / "parse")
    code = ref_checkout(ref)
    out: dict = {"ref": ref, "parsed": str(base / "parse")}
    for w in workers:
        for name, c in (("before", code), ("after", None)):
            key = f"{name}_w{w}"
            out[f"sessionize_{key}"] = stage_run("sessionize", base / "parse", base / f"sess-{key}", w, c)
            out[f"train_{key}"] = stage_run("train", base / f"sess-{key}", base / f"model-{key}", w, c)
            print(f"{key}: sessionize {out[f'sessionize_{key}'].get('seconds')} s, "
                  f"train {out[f'train_{key}'].get('seconds')} s", flush=True)
    return out


# -- main --------------------------------------------------------------------------------------------
def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def markdown(doc: dict) -> str:
    """The README tables of a results document."""
    lines = []
    for n, runs in doc["runs"].items():
        ll = runs.get("loglead", {})
        ws = sorted(runs.get("logad", {}), key=int)
        if ws:
            lines += [f"**{int(n):,} HDFS lines** ({runs['logad'][ws[0]]['sessions']:,} blocks)", "",
                      "| stage | " + " | ".join(f"{w} worker{'s' * (w != '1')}: s (lines/s/core)" for w in ws) + " |",
                      "|---|" + "---|" * len(ws)]
            for st in STAGES:
                cells = [f"{runs['logad'][w]['stages'][st]['seconds']} ({runs['logad'][w]['stages'][st]['lines_per_s_per_core']:,})"
                         for w in ws]
                lines.append(f"| {st} | " + " | ".join(cells) + " |")
            lines.append("| **total** | " + " | ".join(f"**{runs['logad'][w]['seconds']}**" for w in ws) + " |")
            lines.append("| Ray start (apart) | " + " | ".join(str(runs['logad'][w]['ray_start_seconds']) for w in ws) + " |")
            lines.append("| train: fit / outside fit | " + " | ".join(
                f"{runs['logad'][w]['train_fit_seconds']} / {runs['logad'][w]['train_outside_fit_seconds']}" for w in ws) + " |")
            lines.append("| peak RSS driver / largest worker MB | " + " | ".join(
                f"{max(s['rss']['driver_mb'] for s in runs['logad'][w]['stages'].values())} / "
                f"{max(s['rss']['worker_max_mb'] for s in runs['logad'][w]['stages'].values())}" for w in ws) + " |")
            lines.append("| test F1 | " + " | ".join(str(runs['logad'][w]['test_metrics'].get('f1')) for w in ws) + " |")
            lines.append("")
        if "seconds" in ll:
            lines.append(f"LogLead 2.0: {ll['seconds']} s ({', '.join(f'{k} {v}' for k, v in ll['stages'].items())}), "
                         f"peak RSS {ll['peak_rss_mb']:.0f} MB, test F1 {ll['test_f1']:.3f}; ratios {runs.get('ratios')}")
            lines.append("")
        ba = runs.get("before_after")
        if ba:
            lines += [f"Before ({ba['ref']}) / after, same parsed input, each stage in a fresh process:", "",
                      "| stage | workers | before s | after s | x |", "|---|---|---|---|---|"]
            for key in sorted(k for k in ba if k.startswith(("sessionize_before", "train_before"))):
                stage, w = key.split("_before_")
                b, a = ba[key], ba.get(f"{stage}_after_{w}", {})
                if "seconds" in b and "seconds" in a:
                    lines.append(f"| {stage} | {w[1:]} | {b['seconds']} | {a['seconds']} | {b['seconds'] / a['seconds']:.1f} |")
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, nargs="+", default=[2_000_000])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=1, help="runs per worker count (alternating); best counts")
    ap.add_argument("--no-loglead", action="store_true")
    ap.add_argument("--before", metavar="GIT_REF",
                    help="also time sessionize and train of this revision against this checkout (same input)")
    ap.add_argument("--no-chain", action="store_true", help="skip the end-to-end chains (with --before)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pipeline.json")
    ap.add_argument("--table", action="store_true", help="print the README tables of --out and stop")
    args = ap.parse_args(argv)
    if args.table:
        print(markdown(json.loads(args.out.read_text())))
        return 0
    os.environ.setdefault("LOGAD_PROGRESS", "0")
    started = dt.datetime.now(dt.timezone.utc)
    doc: dict = {"command": "python bench/bench_pipeline.py " + " ".join(argv or sys.argv[1:]),
                 "started_utc": started.isoformat(timespec="seconds"),
                 "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                             "python": platform.python_version()},
                 "note": "shared machine: other jobs ran beside these figures (see uptime per run)",
                 "model": MODEL, "runs": {}}
    def save() -> None:  # after every run: a run cut short keeps what it measured
        doc["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=2) + "\n")

    for n in args.lines:
        log_path, labels, n_lines = corpus(n)
        runs: dict = {"lines": n_lines, "file": log_path.name, "logad": {}}
        doc["runs"][str(n_lines)] = runs
        if args.before:
            runs["before_after"] = before_after(log_path, labels, args.before, args.workers)
            runs["before_after"]["uptime_after"] = _load()
            save()
        for _ in range(0 if args.no_chain else max(1, args.repeat)):
            for w in args.workers:
                before = _load()
                r = logad_chain(log_path, labels, w, f"n{n_lines}")
                r["uptime_before"], r["uptime_after"] = before, _load()
                per = ", ".join(f"{k} {v['seconds']}" for k, v in r["stages"].items())
                print(f"logad {n_lines} lines, {w} worker(s): {r['seconds']} s ({per}); {r['uptime_after']}",
                      flush=True)
                best = runs["logad"].get(str(w))
                if best is None or r["seconds"] < best["seconds"]:
                    runs["logad"][str(w)] = {**r, "runs_seconds": (best or {}).get("runs_seconds", []) + [r["seconds"]]}
                else:
                    best["runs_seconds"].append(r["seconds"])
                save()
        if not args.no_loglead and not args.no_chain:
            before = _load()
            ll = loglead_chain(log_path, labels)
            ll["uptime_before"], ll["uptime_after"] = before, _load()
            runs["loglead"] = ll
            print(f"loglead {n_lines} lines: {ll.get('seconds')} s {ll.get('stages')}; {ll['uptime_after']}", flush=True)
        ratios = {}
        for w, r in runs["logad"].items():
            if "seconds" in runs.get("loglead", {}):
                ratios[f"logad_{w}w_over_loglead_wall"] = round(r["seconds"] / runs["loglead"]["seconds"], 3)
        if "1" in runs["logad"] and "2" in runs["logad"]:
            ratios["scaling_2_over_1"] = round(runs["logad"]["1"]["seconds"] / runs["logad"]["2"]["seconds"], 3)
            ratios["sessionize_scaling_2_over_1"] = round(
                runs["logad"]["1"]["stages"]["sessionize"]["seconds"] / runs["logad"]["2"]["stages"]["sessionize"]["seconds"], 3)
        runs["ratios"] = ratios
        save()
    print(markdown(doc))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
