"""End to end: a raw HDFS log file in, scores and metrics out, logad's stages against LogLead.

The input is the shared HDFS sample (../shared/data/hdfs_loglead_2pct, 134k lines, 6,952
labelled blocks) repeated until it has ``--lines`` lines, each copy with fresh block ids
(every block id of a copy redrawn by bench_parse's :func:`fresh_copies`, the same new id for
the same old one, its label carried over), written once to ``bench/work/inputs``.

logad runs its stages through the library's runners, one after the other, in one Ray session
per worker count (``num_cpus`` = workers; Ray's start-up is timed apart): ingest (with the
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
import gzip
import json
import os
import platform
import resource
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
