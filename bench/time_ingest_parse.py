"""CPU seconds of logad's in-process ingest + parse (``bench_parse.logad_raw_one_thread``) on the
real HDFS lines, for a before/after check of a change on a shared machine.

    zcat ../shared/data/hdfs_loglead_2pct/HDFS_loglead2pct_shared.log.gz > /tmp/hdfs.log
    .venv/bin/python bench/time_ingest_parse.py ROOT /tmp/hdfs.log 5   # ROOT: a logad checkout

CPU time (``time.process_time``), best of N: wall time swings too much when others share the
machine; the load is printed with the figure.
"""

import importlib.util
import json
import os
import sys
import time
import types
from pathlib import Path

root, log, repeat = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, str(root))
(root / "bench" / "work").mkdir(parents=True, exist_ok=True)
spec = importlib.util.spec_from_file_location("bench_parse", root / "bench" / "bench_parse.py")
bp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bp)
bp.time = types.SimpleNamespace(perf_counter=time.process_time)

import logad  # noqa: E402
from logad.config import load_config, load_yaml  # noqa: E402

assert str(root) in logad.__file__, logad.__file__
r = bp.logad_raw_one_thread(log, "HDFS", load_config("parse"),
                            load_yaml("masking"), repeat=repeat)
print(json.dumps({"code": str(root), **r, "load": os.getloadavg()}))
