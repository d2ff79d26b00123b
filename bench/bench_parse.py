"""Throughput, scaling and memory of logad parse against drain3, tipping and loglead.

Inputs, in one run: the real HDFS lines of ../shared/data/hdfs_loglead_2pct (134k lines, as they
are) and, for HDFS and two loghub systems, an N-line corpus (``--lines``, default 2,000,000) made
from the real lines in which every copy gets fresh values for its variable parts (every digit
run is redrawn, so block ids, IPs, numbers and task ids change and no line repeats).

Figures (lines/s; per core = divided by the cores used):

* logad, 1 thread: the parse functions in one process, from an events table to parsed Parquet;
* logad, 1 thread, the whole chain for HDFS: the raw log file (real headers, then the contents)
  in, parsed Parquet out: ingest's reader and field splitting, then the parse functions;
* logad on Ray, 1 and 2 workers: ``run_parse`` from an events folder to the parsed folder
  (scaling = 2 workers / 1 worker);
* drain3 ``TemplateMiner`` with drain3's own example masking, every line;
* tipping (Rust) with 1 and 2 threads (``RAYON_NUM_THREADS``), every line, in its fastest mode
  (cluster ids only), and with one thread in the mode that gives each line its template, as
  logad does (``return_templates=True``), and with ``tipping.parse``'s defaults (templates and
  parameter masks);
* loglead's Drain path (``EventLogEnhancer.mask`` + ``parse_drain``), every line;
* peak memory (RSS, from getrusage in each worker: exact, no sampler taking CPU from the
  workers) of the Ray workers at 1x and 10x input, and at their start.

The reference tools run on the first ``--sample`` lines of each input (they are slow); their
lines/s are compared with logad's on the whole input. Every tool, logad included, runs
``--repeat`` times on the same input and its best time counts (Ray: 1 and 2 workers alternate).
Writes bench/results/parse.json.

    .venv/bin/python bench/bench_parse.py --lines 2000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from logad.config import load_config, load_yaml  # noqa: E402
from logad.io import ParquetSettings, part_entries  # noqa: E402
from logad.parsing.loghub import load_loghub_2k  # noqa: E402
from logad.parsing.masking import compile_passes, rules_from_config  # noqa: E402
from logad.parsing.miner import DrainSettings, TemplateMiner  # noqa: E402
from logad.parsing.steps import parse_blocks  # noqa: E402
from logad.schema import EVENTS_SCHEMA  # noqa: E402

WORK = ROOT / "bench" / "work"
_VARIABLE = re.compile(r"0[xX][0-9a-fA-F]+|\d+")


# -- inputs --------------------------------------------------------------------------------------
def hdfs_real(data: Path) -> tuple[list[str], list[str]]:
    """The real HDFS lines split in two: the header (``date time pid level component:``) and the
    content of each line."""
    path = data / "hdfs_loglead_2pct" / "HDFS_loglead2pct_shared.log.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        parts = [line.rstrip("\n").split(" ", 5) for line in fh]
    return [" ".join(p[:5]) for p in parts], [p[5] for p in parts]


def raw_log(name: str, headers: list[str], contents: list[str]) -> Path:
    """A raw log file: the real headers in turn, each followed by one of ``contents``."""
    path = WORK / "inputs" / f"{name}.log"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for i, content in enumerate(contents):
                fh.write(f"{headers[i % len(headers)]} {content}\n")
        tmp.replace(path)
    return path


def fresh_copies(lines: list[str], n: int, seed: int = 0) -> list[str]:
    """``n`` lines cycling through ``lines``, every digit run and hex literal redrawn (same length)."""
    rng = random.Random(seed)

    def redraw(m: re.Match) -> str:
        v = m.group()
        if v[:2] in ("0x", "0X"):  # hex literal: new hex digits, same prefix and length
            return v[:2] + "".join(rng.choice("0123456789abcdef") for _ in v[2:])
        k = len(v)
        return str(rng.randrange(10 ** (k - 1) if k > 1 else 0, 10 ** k))

    return [_VARIABLE.sub(redraw, lines[i % len(lines)]) for i in range(n)]


def events(contents: list[str], system: str) -> pa.Table:
    n = len(contents)
    idx = pa.array(range(1, n + 1), pa.int64())
    return pa.table({"source": pa.array([system] * n), "path": pa.array([f"{system}.log"] * n),
                     "line_no": idx, "order": idx, "timestamp": pa.nulls(n, pa.timestamp("us")),
                     "level": pa.nulls(n, pa.string()), "component": pa.nulls(n, pa.string()),
                     "content": pa.array(contents, pa.string()), "raw": pa.array(contents, pa.string()),
                     "matched": pa.array([True] * n), "label": pa.nulls(n, pa.int8())},
                    schema=EVENTS_SCHEMA)


def events_dir(name: str, contents: list[str], system: str, part_rows: int = 131072) -> Path:
    out = WORK / "inputs" / name
    if (out / "manifest.json").is_file() and "parts" in json.loads((out / "manifest.json").read_text()):
        return out  # made before, by a logad whose manifests list their parts
    table = events(contents, system)
    (out / "events").mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, table.num_rows, part_rows)):  # fixed-size parts
        pq.write_table(table.slice(start, part_rows), out / "events" / f"part-{i:06d}.parquet",
                       row_group_size=65536)
    parts = sorted((out / "events").glob("part-*.parquet"))  # a finished ingest's manifest
    (out / "manifest.json").write_text(json.dumps({"stage": "ingest", "status": "complete",
                                                   "preset": system,
                                                   "parts": part_entries(out, parts)}))
    return out


# -- logad -------------------------------------------------------------------------------------
def write_parsed(parsed: list[pa.Table], cfg: dict) -> None:
    """Write parsed blocks to one Parquet file (thrown away), as the parse stage writes them."""
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        options = ParquetSettings.from_config(cfg.get("parquet")).writer_options(parsed[0].schema)
        with pq.ParquetWriter(Path(tmp) / "p.parquet", parsed[0].schema, **options) as w:
            for t in parsed:
                w.write_table(t)


def logad_one_thread(table: pa.Table, system: str, cfg: dict, masking: dict,
                     repeat: int = 1) -> dict:
    """The parse functions in one process: events table in, parsed Parquet file out (best of
    ``repeat`` runs, each with a fresh miner)."""
    passes = compile_passes(rules_from_config(masking, system))
    batch, sec = 65536, float("inf")
    for _ in range(repeat):
        miner = TemplateMiner(DrainSettings.from_config(cfg["drain"]))
        t0 = time.perf_counter()
        blocks = [table.slice(i, batch) for i in range(0, table.num_rows, batch)]
        parsed, _, templates, res = parse_blocks(blocks, passes, miner)
        write_parsed(parsed, cfg)
        sec = min(sec, time.perf_counter() - t0)
    return {"lines": table.num_rows, "seconds": round(sec, 3), "lines_per_s": table.num_rows / sec,
            "templates": templates.num_rows, "distinct_masked": len(res.mapping)}


def logad_raw_one_thread(path: Path, preset_name: str, cfg: dict, masking: dict,
                         repeat: int = 1) -> dict:
    """Ingest and parse in one process: the raw log file in, parsed Parquet file out (best of
    ``repeat`` runs): reading, splitting lines into fields with the preset, masking, mining,
    joining and writing."""
    from logad.sources.events import UnitResult, unit_events
    from logad.sources.files import expand_sources, plan_units
    from logad.sources.presets import load_preset

    preset = load_preset(preset_name)
    passes = compile_passes(rules_from_config(masking, preset_name))
    sec, lines = float("inf"), 0
    for _ in range(repeat):
        miner = TemplateMiner(DrainSettings.from_config(cfg["drain"]))
        t0 = time.perf_counter()
        units = plan_units(expand_sources([str(path)]), 1 << 40)  # one unit: the whole file
        blocks = [t for u in units for t in unit_events(
            u, preset, UnitResult(u.index, u.file.display), source=preset.name, batch_lines=65536)]
        write_parsed(parse_blocks(blocks, passes, miner)[0], cfg)
        sec = min(sec, time.perf_counter() - t0)
        lines = sum(b.num_rows for b in blocks)
    return {"lines": lines, "seconds": round(sec, 3), "lines_per_s": lines / sec}


def fresh_ray() -> None:
    """A new local Ray with num_cpus=2 for each run, as each ``logad`` command gets."""
    import ray

    from logad.ray.runtime import ensure_ray

    ray.shutdown()
    ensure_ray(num_cpus=2)


def alternate(run, repeat: int) -> dict[int, list[dict]]:
    """``run(workers)`` with 1 and 2 workers, ``repeat`` times each, alternating (this VM's
    neighbours come and go); the runs per worker count."""
    runs: dict[int, list[dict]] = {1: [], 2: []}
    for _ in range(max(1, repeat)):
        for w in runs:
            runs[w].append(run(w))
    return runs


def fastest(runs: list[dict]) -> dict:
    """The fastest of ``runs``, with the seconds of each."""
    return {**min(runs, key=lambda r: r["seconds"]), "runs_seconds": [r["seconds"] for r in runs]}


def logad_ray(src: Path, workers: int, cfg: dict, tag: str) -> dict:
    """``run_parse`` in a fresh local Ray (num_cpus=2), as a ``logad parse`` command gets it;
    the clock starts after Ray is up (a cluster is up before a job arrives)."""
    from logad.ray.parse import run_parse

    fresh_ray()
    out = WORK / "out" / f"{tag}-w{workers}"
    if (out / "manifest.json").exists():
        (out / "manifest.json").unlink()  # force a real run
    t0 = time.perf_counter()  # no memory sampler here: it would take CPU from the workers
    m = run_parse(src, out, cfg={**cfg, "workers": workers})
    sec = time.perf_counter() - t0
    w = m["workers"]  # each worker's own peak RSS (getrusage), exact, not sampled
    ph = m["seconds"]
    startup = ph.get("plan", 0) + ph.get("start_workers", 0)
    steady = sum(ph.get(k, 0) for k in ("read_mask_distinct", "mine", "assign_write"))
    return {"workers": workers, "lines": m["counts"]["read"], "seconds": round(sec, 3),
            "lines_per_s": m["counts"]["read"] / sec, "phases": ph,
            "startup_seconds": round(startup, 3),
            "steady_lines_per_s": m["counts"]["read"] / max(steady, 1e-9),
            "distinct_masked": m["counts"]["distinct_masked"], "groups": w["groups"],
            "start_rss_mb": w["start_rss_mb"], "peak_rss_mb": w["peak_rss_mb"],
            "work_rss_mb": round(w["peak_rss_mb"] - w["start_rss_mb"], 1)}


def logad_commands(path: Path, workers: int, cfg: dict, tag: str) -> dict:
    """``logad ingest FILE --parse-out DIR`` as the runners do it (``run_ingest`` then
    ``run_parse``) in a fresh local Ray (num_cpus=2) with ``workers`` workers: the events
    written to Parquet and read back, the masked column spilled, memory bounded; the clock starts
    after Ray is up."""
    import shutil

    from logad.ray.ingest import run_ingest
    from logad.ray.parse import run_parse

    fresh_ray()
    out = WORK / "out" / f"{tag}-chain-w{workers}"
    shutil.rmtree(out, ignore_errors=True)  # force a real run of both stages
    t0 = time.perf_counter()
    ingest = run_ingest([str(path)], out / "ingest", {"preset": "HDFS", "workers": workers})
    t1 = time.perf_counter()
    parse = run_parse(out / "ingest", out / "parse", cfg={**cfg, "workers": workers})
    sec = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    n = parse["counts"]["read"]
    assert n == ingest["totals"]["events"]
    return {"workers": workers, "lines": n, "seconds": round(sec, 3), "lines_per_s": n / sec,
            "ingest_seconds": round(t1 - t0, 3), "parse_seconds": round(sec - (t1 - t0), 3),
            "units": ingest["units"]}


def commands_pair(path: Path, cfg: dict, tag: str, repeat: int) -> dict:
    """:func:`logad_commands` with 1 and 2 workers, alternating; the fastest run of each counts."""
    runs = alternate(lambda w: logad_commands(path, w, cfg, tag), repeat)
    out: dict = {w: fastest(rs) for w, rs in runs.items()}
    out["scaling_2_over_1"] = out[2]["lines_per_s"] / out[1]["lines_per_s"]
    return out


def ray_pair(src: Path, cfg: dict, tag: str, repeat: int) -> dict:
    """:func:`logad_ray` with 1 and 2 workers, alternating; per worker count the fastest run,
    with the largest worker peak RSS of its runs."""
    runs = alternate(lambda w: logad_ray(src, w, cfg, tag), repeat)
    return {w: {**fastest(rs), "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
                "work_rss_mb": max(r["work_rss_mb"] for r in rs)} for w, rs in runs.items()}


def _burn(n: int) -> float:
    t0, x = time.perf_counter(), 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - t0


def _parse_seconds(events_files: list[str]) -> float:
    """Seconds of logad's one-thread parse (mask, mine, join, write) of some events files."""
    cfg = load_config("parse")
    table = pa.concat_tables(pq.read_table(f) for f in events_files)
    return logad_one_thread(table, "HDFS", cfg, load_yaml(cfg["masking"]))["seconds"]


def cpu_ceiling(kernel: str = "python", arg: object = 10_000_000) -> float:
    """Control for the scaling figure: speed-up of 2 plain processes over 1 on this machine
    right now, each timing its own work (no start-up, no Ray). ``python``: a pure-Python loop;
    ``parse``: logad's one-thread parse of an events file (the work the Ray workers share)."""
    import multiprocessing as mp

    fn = {"python": _burn, "parse": _parse_seconds}[kernel]
    with mp.get_context("spawn").Pool(2) as pool:
        pool.apply(fn, (arg,))  # warm: imports, caches
        serial = pool.apply(fn, (arg,)) + pool.apply(fn, (arg,))
        parallel = max(pool.map(fn, [arg, arg], chunksize=1))
    return round(serial / parallel, 2)


# -- reference tools (run in a child process each, so threads and imports stay apart) -------------
_CHILD = r'''
import json, sys, time
tool, path, repeat, raw = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "raw"
if raw:
    import tempfile
    import pyarrow as pa
    import pyarrow.parquet as pq
if tool == "drain3":  # imports before the clock starts
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig
elif tool == "loglead":
    import polars as pl
    from loglead.enhancers import EventLogEnhancer
else:
    import tipping


def read():
    lines = [l.rstrip("\n") for l in open(path, encoding="utf-8")]
    # raw: HDFS log lines; the header is five fields (date time pid level component:)
    return lines, [l.split(" ", 5)[5] for l in lines] if raw else lines


def run(msgs):
    if tool == "drain3":
        cfg = TemplateMinerConfig()
        cfg.masking_instructions = [MaskingInstruction(p, m) for p, m in [
            (r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "ID"),
            (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "IP"),
            (r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "SEQ"),
            (r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "SEQ"),
            (r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "HEX"),
            (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
            (r"(?<=executed cmd )(\".+?\")", "CMD")]]
        tm = TemplateMiner(config=cfg)
        return {"cluster": [tm.add_log_message(m)["cluster_id"] for m in msgs]}
    if tool == "loglead":
        enh = EventLogEnhancer(pl.DataFrame({"m_message": msgs}))
        enh.mask()
        enh.parse_drain()
        return {"cluster": enh.df["e_event_drain_id"].to_arrow()}
    if tool == "tipping":  # fastest mode: cluster ids only
        return tipping.parse(msgs, return_templates=False, return_masks=False)
    if tool == "tipping_templates":  # each line's template, as logad gives
        return tipping.parse(msgs, return_templates=True, return_masks=False)
    return tipping.parse(msgs)  # tipping_default: templates and parameter masks


def columns(result):
    # per line: the cluster, and the template and masks where the mode gives them
    if isinstance(result, dict):
        return result
    ids, masks, templates = result
    cols = {"cluster": ids}
    if templates:
        names = [min(t) if t else None for t in templates]
        cols["template"] = [None if c is None else names[c] for c in ids]
    return {**cols, "mask": masks} if masks else cols


def write(lines, msgs, cols):
    # what logad writes from a raw file: the line, its content and its template, zstd -3, in
    # the folder logad writes to
    table = pa.table({"raw": lines, "content": msgs, **cols})
    with tempfile.TemporaryDirectory(dir=sys.argv[5]) as tmp:
        pq.write_table(table, tmp + "/p.parquet", compression="zstd", compression_level=-3,
                       use_dictionary=["template"], write_statistics=["cluster"])


lines, msgs = read()
best = float("inf")
for _ in range(repeat):  # a fresh miner each time; the best time counts
    t0 = time.perf_counter()
    if raw:  # the whole chain: read the raw file, split off the header, parse, write Parquet
        lines, msgs = read()
        write(lines, msgs, columns(run(msgs)))
    else:
        run(msgs)
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"lines": len(msgs), "seconds": best, "lines_per_s": len(msgs) / best}))
'''


#: The reference runs, in table order: result key, tool, threads.
REFERENCE_RUNS = (("drain3", "drain3", 1), ("tipping_1", "tipping", 1),
                  ("tipping_templates_1", "tipping_templates", 1),
                  ("tipping_default_1", "tipping_default", 1), ("tipping_2", "tipping", 2),
                  ("loglead", "loglead", 1))


def ratios(lines_per_s: float, refs: dict) -> dict:
    """``lines_per_s`` over each reference run's lines/s per core (its lines/s / its threads)."""
    return {key: lines_per_s / (refs[key]["lines_per_s"] / refs[key]["threads"])
            for key, _, _ in REFERENCE_RUNS if "lines_per_s" in refs.get(key, {})}


def reference(tool: str, lines: list[str], threads: int = 1, repeat: int = 1,
              raw: bool = False) -> dict:
    """One reference tool on ``lines`` in a child process. ``raw``: ``lines`` are raw HDFS log
    lines and the clock covers the whole chain (read the file, split off the header, parse,
    write the lines with their clusters to Parquet), as logad's raw-file figure does; otherwise
    the messages are in memory and only the parse is timed."""
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", dir=WORK, delete=False,
                                     encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    env = {**os.environ, "RAYON_NUM_THREADS": str(threads), "POLARS_MAX_THREADS": str(threads),
           "OMP_NUM_THREADS": str(threads)}
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, tool, fh.name, str(repeat),
                               "raw" if raw else "messages", str(WORK)], env=env,
                              capture_output=True, text=True, timeout=1800)
    finally:
        os.unlink(fh.name)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:]}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "threads": threads}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--sample", type=int, default=100_000,
                    help="lines fed to the reference tools (they are slow)")
    ap.add_argument("--scale-lines", type=int, default=10_000_000,
                    help="HDFS fresh lines for a second scaling run, where start-up weighs less "
                         "(0: skip)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each tool on each input; the best time counts")
    ap.add_argument("--systems", nargs="*", default=["BGL", "Spark"],
                    help="loghub systems besides HDFS for the fresh-values corpora")
    ap.add_argument("--data", type=Path, default=Path(os.environ.get(
        "LOGAD_SHARED_DATA", ROOT.parent / "shared" / "data")))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray runs (scaling, memory)")
    ap.add_argument("--ray-only", action="store_true",
                    help="redo only the Ray runs; keep the other rows of the existing parse.json")
    ap.add_argument("--logad-only", action="store_true",
                    help="redo every logad run (rows and Ray) but keep the reference tools' "
                         "figures of the existing parse.json (their code did not change)")
    args = ap.parse_args(argv)
    load_start = os.getloadavg()
    cfg = load_config("parse")
    masking = load_yaml(cfg["masking"])
    WORK.mkdir(parents=True, exist_ok=True)

    headers, real = hdfs_real(args.data)
    corpora = {"HDFS real": ("HDFS", real)}
    corpora[f"HDFS fresh {args.lines:,}"] = ("HDFS", fresh_copies(real, args.lines))
    previous = (json.loads((args.out / "parse.json").read_text())
                if args.ray_only or args.logad_only else {})
    kept_refs = {r["input"]: r for r in previous.get("rows", [])} if args.logad_only else {}
    for system in ([] if args.ray_only else args.systems):
        base = load_loghub_2k(args.data, system).content
        corpora[f"{system} fresh {args.lines:,}"] = (system, fresh_copies(base, args.lines, seed=1))

    rows = [] if args.logad_only else previous.get("rows", [])
    for name, (system, lines) in ({} if args.ray_only else corpora).items():
        table = events(lines, system)
        row = {"input": name, "system": system, "lines": len(lines),
               "logad_1thread": logad_one_thread(table, system, cfg, masking, args.repeat)}
        row["distinct_share"] = row["logad_1thread"]["distinct_masked"] / len(lines)
        sample = lines[:args.sample]
        kept = kept_refs.get(name, {})
        for key, tool, threads in REFERENCE_RUNS:
            row[key] = kept[key] if key in kept else reference(tool, sample, threads, args.repeat)
        per_core = row["logad_1thread"]["lines_per_s"]
        row["ratio_per_core"] = ratios(per_core, row)
        if system == "HDFS":  # the whole chain from the raw log file: ingest + parse
            path = raw_log(name.lower().replace(" ", "-").replace(",", ""), headers, lines)
            row["logad_raw_1thread"] = logad_raw_one_thread(path, system, cfg, masking, args.repeat)
            raw_core = row["logad_raw_1thread"]["lines_per_s"]
            row["ratio_per_core_raw"] = ratios(raw_core, row)  # tools on messages in memory
            raw_sample = [f"{headers[i % len(headers)]} {c}" for i, c in enumerate(sample)]
            row["reference_raw"] = kept.get("reference_raw") or {
                key: reference(tool, raw_sample, threads, args.repeat, raw=True)
                for key, tool, threads in REFERENCE_RUNS}
            row["ratio_per_core_raw_both"] = ratios(raw_core, row["reference_raw"])
            if not args.no_ray and name.startswith("HDFS fresh"):  # the commands a user runs
                row["logad_commands"] = commands_pair(path, cfg, "chain", args.repeat)
                row["ratio_per_core_commands_both"] = ratios(
                    row["logad_commands"][1]["lines_per_s"], row["reference_raw"])
        rows.append(row)
        print(f"{name}: logad 1 thread {per_core:,.0f} lines/s, distinct share "
              f"{row['distinct_share']:.4%}", flush=True)

    ray_rows = {}
    if not args.no_ray:
        os.environ.setdefault("LOGAD_PROGRESS", "0")
        fresh = corpora[f"HDFS fresh {args.lines:,}"][1]
        big = events_dir(f"hdfs-fresh-{args.lines}", fresh, "HDFS")
        small = events_dir(f"hdfs-fresh-{args.lines // 10}", fresh[:args.lines // 10], "HDFS")
        ray_rows["cpu_ceiling_before"] = cpu_ceiling()
        part = [str(f) for f in sorted((big / "events").glob("part-*.parquet"))[:8]]  # 1M lines
        ray_rows["parse_ceiling_before"] = cpu_ceiling("parse", part)
        ray_rows["1x"] = ray_pair(small, cfg, "small", args.repeat)
        ray_rows["10x"] = ray_pair(big, cfg, "big", args.repeat)
        ray_rows["scaling_2_over_1"] = (ray_rows["10x"][2]["lines_per_s"]
                                        / ray_rows["10x"][1]["lines_per_s"])
        ray_rows["cpu_ceiling_after"] = cpu_ceiling()
        ray_rows["parse_ceiling_after"] = cpu_ceiling("parse", part)
        ray_rows["scaling_2_over_1_steady"] = (ray_rows["10x"][2]["steady_lines_per_s"]
                                               / ray_rows["10x"][1]["steady_lines_per_s"])
        ray_rows["memory_10x_over_1x_by_workers"] = {
            w: round(ray_rows["10x"][w]["peak_rss_mb"] / ray_rows["1x"][w]["peak_rss_mb"], 3)
            for w in (1, 2)}
        ray_rows["work_memory_10x_over_1x_by_workers"] = {
            w: round(ray_rows["10x"][w]["work_rss_mb"] / max(ray_rows["1x"][w]["work_rss_mb"], 1), 3)
            for w in (1, 2)}
        if args.scale_lines:
            name = f"hdfs-fresh-{args.scale_lines}"
            huge = (WORK / "inputs" / name if (WORK / "inputs" / name / "manifest.json").is_file()
                    else events_dir(name, fresh_copies(real, args.scale_lines), "HDFS"))
            ray_rows["scale"] = ray_pair(huge, cfg, "huge", args.repeat)
            ray_rows["scale_lines"] = args.scale_lines
            ray_rows["scaling_2_over_1_scale"] = (ray_rows["scale"][2]["lines_per_s"]
                                                  / ray_rows["scale"][1]["lines_per_s"])
            ray_rows["scaling_2_over_1_scale_steady"] = (
                ray_rows["scale"][2]["steady_lines_per_s"] / ray_rows["scale"][1]["steady_lines_per_s"])

    result = {"benchmark": "parse throughput", "date": dt.date.today().isoformat(),
              "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus "
                         f"({platform.processor() or 'unknown cpu'})",
              "note": "2 shared cores, other jobs may run: see load_avg",
              "load_avg": {"start": [round(x, 2) for x in load_start],
                           "end": [round(x, 2) for x in os.getloadavg()]},
              "command": "bench/bench_parse.py " + " ".join(argv or sys.argv[1:]),
              "sample_for_reference_tools": args.sample, "rows": rows, "ray": ray_rows}
    if args.ray_only:  # the rows keep the date, load and command of the run that made them
        result["rows_from"] = {k: previous.get(k) for k in ("date", "command", "load_avg")}
    if args.logad_only:  # the reference tools' figures: from the run that measured them
        result["references_from"] = previous.get("references_from") or {
            k: previous.get(k) for k in ("date", "command", "load_avg")}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "parse.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    # the table is printed from what was written, so rows kept by --ray-only (whose worker
    # counts JSON turned into strings) and fresh rows read the same way
    result = json.loads((args.out / "parse.json").read_text())
    rows, ray_rows = result["rows"], result["ray"]

    print(f"\n{'input':24} {'lines':>9} {'distinct':>8} {'logad/core':>11} {'drain3':>9} "
          f"{'tip 1t':>9} {'tip+t 1t':>9} {'tip dflt':>9} {'tip 2t':>9} {'loglead':>9} {'x drain3':>8} "
          f"{'x tip1':>7} {'x tip+t':>7} {'x dflt':>7} {'x tip2/c':>8} {'x loglead':>9}")
    for r in rows:
        def lps(k):
            return f"{r[k]['lines_per_s']:9,.0f}" if "lines_per_s" in r.get(k, {}) else f"{'-':>9}"
        rc = r["ratio_per_core"]
        print(f"{r['input']:24} {r['lines']:9,} {r['distinct_share']:8.3%} "
              f"{r['logad_1thread']['lines_per_s']:11,.0f} {lps('drain3')} {lps('tipping_1')} "
              f"{lps('tipping_templates_1')} {lps('tipping_default_1')} {lps('tipping_2')} "
              f"{lps('loglead')} {rc.get('drain3', 0):8.1f} {rc.get('tipping_1', 0):7.1f} "
              f"{rc.get('tipping_templates_1', 0):7.1f} {rc.get('tipping_default_1', 0):7.1f} "
              f"{rc.get('tipping_2', 0):8.1f} "
              f"{rc.get('loglead', 0):9.1f}")
    raw_rows = [r for r in rows if "logad_raw_1thread" in r]
    if raw_rows:
        print("\nraw log file -> parsed Parquet (ingest + parse), one thread, per core; the tools "
              "on their messages in memory (parse only), and on the same raw file (read, split "
              "off the header, parse, write Parquet):")
        print(f"{'input':24} {'logad':>9} {'tools':>9} {'drain3':>9} {'tip 1t':>9} {'tip+t 1t':>9} "
              f"{'tip dflt':>9} {'loglead':>9} {'x drain3':>8} {'x tip1':>7} {'x tip+t':>7} "
              f"{'x dflt':>7} {'x loglead':>9}")
        for r in raw_rows:
            for label, refs, rc in (("memory", r, r["ratio_per_core_raw"]),
                                    ("raw file", r.get("reference_raw", {}),
                                     r.get("ratio_per_core_raw_both", {}))):
                def lps(k):
                    v = refs.get(k, {}).get("lines_per_s")
                    return f"{v:9,.0f}" if v else f"{'-':>9}"
                print(f"{r['input']:24} {r['logad_raw_1thread']['lines_per_s']:9,.0f} {label:>9} "
                      f"{lps('drain3')} {lps('tipping_1')} {lps('tipping_templates_1')} "
                      f"{lps('tipping_default_1')} {lps('loglead')} {rc.get('drain3', 0):8.1f} "
                      f"{rc.get('tipping_1', 0):7.1f} {rc.get('tipping_templates_1', 0):7.1f} "
                      f"{rc.get('tipping_default_1', 0):7.1f} {rc.get('loglead', 0):9.1f}")
    for r in raw_rows:
        if "logad_commands" in r:
            c, rc = r["logad_commands"], r["ratio_per_core_commands_both"]
            print(f"{r['input']}: logad ingest --parse-out (Ray runners, events Parquet in "
                  f"between): 1 worker {c['1']['lines_per_s']:,.0f} lines/s (ingest "
                  f"{c['1']['ingest_seconds']} s, parse {c['1']['parse_seconds']} s), 2 workers "
                  f"{c['2']['lines_per_s']:,.0f} ({c['scaling_2_over_1']:.2f}x); 1 worker over the "
                  f"tools from the raw file: " + ", ".join(f"{k} {v:.1f}x" for k, v in rc.items()))
    if ray_rows:
        print(f"\nRay (local, num_cpus=2): {'size':>5} {'workers':>7} {'lines/s':>10} "
              f"{'steady':>10} {'start s':>7} {'groups':>6} {'start RSS MB':>12} {'peak RSS MB':>11}")
        for size in ("1x", "10x", "scale"):
            for w in ("1", "2") if size in ray_rows else ():
                r = ray_rows[size][w]
                print(f"{'':25}{size:>5} {w:>7} {r['lines_per_s']:10,.0f} "
                      f"{r['steady_lines_per_s']:10,.0f} {r['startup_seconds']:7.2f} "
                      f"{r['groups']:6d} {r['start_rss_mb']:12.1f} {r['peak_rss_mb']:11.1f}")
        print(f"scaling 2 workers / 1 worker: {ray_rows['scaling_2_over_1']:.2f}x "
              f"(steady state {ray_rows['scaling_2_over_1_steady']:.2f}x; machine ceiling, 2 "
              f"processes of pure Python: {ray_rows['cpu_ceiling_before']:.2f}x before, "
              f"{ray_rows['cpu_ceiling_after']:.2f}x after; 2 processes of logad's one-thread "
              f"parse: {ray_rows['parse_ceiling_before']:.2f}x before, "
              f"{ray_rows['parse_ceiling_after']:.2f}x after); "
              f"peak worker RSS 10x / 1x by workers: {ray_rows['memory_10x_over_1x_by_workers']}, "
              f"peak minus start: {ray_rows['work_memory_10x_over_1x_by_workers']}")
        if "scale" in ray_rows:
            print(f"scaling on {ray_rows['scale_lines']:,} lines: "
                  f"{ray_rows['scaling_2_over_1_scale']:.2f}x "
                  f"(steady state {ray_rows['scaling_2_over_1_scale_steady']:.2f}x)")
    print(f"wrote {args.out / 'parse.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
