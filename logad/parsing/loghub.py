"""Read the loghub 2k parsing benchmark (structured CSVs) for accuracy checks.

``<root>/loghub_2k/<S>/<S>_2k.log_structured.csv`` holds each line's ``Content`` and the ground
truth ``EventTemplate``; ``<root>/loghub2_2k_corrected/<S>/<S>_2k.log_structured_corrected.csv``
holds loghub-2.0's corrected templates for the same lines, row by row.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

__all__ = ["LOGHUB_SYSTEMS", "DRAIN_PUBLISHED_GA", "LoghubSample", "load_loghub_2k"]

LOGHUB_SYSTEMS = ("HDFS", "Hadoop", "Spark", "Zookeeper", "OpenStack", "BGL", "HPC", "Thunderbird",
                  "Windows", "Linux", "Mac", "Android", "HealthApp", "Apache", "OpenSSH",
                  "Proxifier")

#: Drain's Grouping Accuracy as published (Zhu et al., "Tools and Benchmarks for Automated Log
#: Parsing", ICSE-SEIP 2019), per-system tuned settings.
DRAIN_PUBLISHED_GA = {"HDFS": 0.998, "Hadoop": 0.948, "Spark": 0.920, "Zookeeper": 0.967,
                      "OpenStack": 0.733, "BGL": 0.963, "HPC": 0.887, "Thunderbird": 0.955,
                      "Windows": 0.997, "Linux": 0.690, "Mac": 0.787, "Android": 0.911,
                      "HealthApp": 0.780, "Apache": 1.000, "OpenSSH": 0.788, "Proxifier": 0.527}


@dataclass
class LoghubSample:
    system: str
    content: list[str]
    truth: list[str]            # loghub EventTemplate per line
    corrected: list[str] | None  # loghub-2.0 corrected EventTemplate per line

    def events(self) -> pa.Table:
        """A minimal events table (``source, path, line_no, order, content, raw``)."""
        n = len(self.content)
        return pa.table({"source": [self.system] * n, "path": [f"{self.system}_2k.log"] * n,
                         "line_no": pa.array(range(1, n + 1), pa.int64()),
                         "order": pa.array(range(1, n + 1), pa.int64()),
                         "content": self.content, "raw": self.content})


def _read(path: Path) -> tuple[list[str], list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["Content"] for r in rows], [r["EventTemplate"] for r in rows]


def load_loghub_2k(root: str | Path, system: str) -> LoghubSample:
    """Load one system; ``root`` is the shared data folder holding ``loghub_2k/``."""
    root = Path(root)
    content, truth = _read(root / "loghub_2k" / system / f"{system}_2k.log_structured.csv")
    corr_path = (root / "loghub2_2k_corrected" / system
                 / f"{system}_2k.log_structured_corrected.csv")
    corrected = _read(corr_path)[1] if corr_path.exists() else None
    return LoghubSample(system, content, truth, corrected)
