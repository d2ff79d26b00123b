"""How fast `logad lo2 extract` unpacks LO2-shaped run archives on one core (plain and gzipped).

Writes bench/results/lo2_extract.json. The archives are synthetic (`logad synth lo2 --tar`): the
real dump is not on this machine. One process, one run at a time, as one chunk of
`--split N --chunk K` does on one machine.

    .venv/bin/python bench/bench_lo2_extract.py [--runs 6] [--lines-per-file 6000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from logad.lo2 import extract_archives
from logad.synth.lo2 import generate_lo2

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--lines-per-file", type=int, default=6000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    load_start = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="lo2bench"))
    try:
        src = work / "src"
        s = generate_lo2(src, seed=0, runs=args.runs, errors_per_run=4, lines_per_file=args.lines_per_file, tar=True)
        plain, gz = work / "plain", work / "gz"
        plain.mkdir()
        gz.mkdir()
        for t in sorted(src.glob("light-oauth2-data-*.tar")):
            shutil.copy(t, plain / t.name)
            (gz / f"{t.name}.gz").write_bytes(gzip.compress(t.read_bytes(), compresslevel=6, mtime=0))
        log_lines = s["lines"]
        rows = []
        for kind, folder in (("tar", plain), ("tar.gz", gz)):
            archive_bytes = sum(p.stat().st_size for p in folder.iterdir())
            best = None
            for _ in range(args.repeat):
                out = work / f"out-{kind}"
                shutil.rmtree(out, ignore_errors=True)
                t0 = time.perf_counter()
                r = extract_archives(str(folder), out)
                dt = time.perf_counter() - t0
                assert r["extracted"] == args.runs and not r["errors"]
                best = dt if best is None else min(best, dt)
            unpacked = sum(row["unpacked"] for row in r["runs"])
            rows.append({"archives": kind, "runs": args.runs, "archive_bytes": archive_bytes,
                         "unpacked_bytes": unpacked, "log_lines": log_lines, "seconds": round(best, 3),
                         "unpacked_MB_per_s": round(unpacked / best / 1e6, 1),
                         "log_lines_per_s": round(log_lines / best)})
        doc = {"benchmark": "lo2_extract", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": os.uname().machine, "cpus": os.cpu_count(), "load_avg_start": load_start,
               "command": f"bench/bench_lo2_extract.py --runs {args.runs} --lines-per-file {args.lines_per_file}",
               "note": "synthetic LO2 runs; one process; best of --repeat; the machine was shared with other jobs",
               "rows": rows}
        doc["load_avg_end"] = os.getloadavg()
        out = ROOT / "bench" / "results" / "lo2_extract.json"
        out.write_text(json.dumps(doc, indent=2) + "\n")
        for row in rows:
            print(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
