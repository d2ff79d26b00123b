"""Pre-parsed session files in the DeepLog style, straight into the ``sequences`` table.

Each line is one session: space-separated integer event keys (``5 5 22 11 9 11 9 26``), as in the
published ``hdfs_train`` / ``hdfs_test_normal`` / ``hdfs_test_abnormal`` files. Labels come from a
separate file (one 0/1 a line, aligned with the sessions) or from the file name (a name containing
``abnormal`` or ``anomal`` is anomalous, one containing ``normal`` is normal).

The sessions get the columns of :data:`logad.sessions.schema.SEQUENCES_SCHEMA`; there are no
times or messages, so ``timestamps``, ``levels`` and ``messages`` are empty lists and sessions are
ordered by their input position (``first_order``).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Sequence

import pyarrow as pa

from logad.errors import InputError
from logad.schema import order_key
from logad.sessions.schema import SEQUENCES_SCHEMA

__all__ = ["label_from_name", "parse_session_lines"]

_KEY_RE = re.compile(r"^\s*-?\d+(\s+-?\d+)*\s*$")


def label_from_name(name: str) -> int | None:
    """1 for ``*abnormal*``/``*anomal*`` names, 0 for ``*normal*`` ones, else None."""
    stem = PurePosixPath(name).name.lower()
    if "abnormal" in stem or "anomal" in stem:
        return 1
    if "normal" in stem:
        return 0
    return None


def parse_session_lines(lines: Sequence[str], *, path: str, file_index: int,
                        labels: Sequence[int | None] | None = None, source: str = "deeplog"
                        ) -> tuple[pa.Table, list[tuple[int, str, str]]]:
    """Turn the lines of one session file into sequences rows.

    Returns the table and the rejected lines as ``(line_no, reason, raw)``; blank lines and lines
    that are not space-separated integers are rejected, never guessed at.
    """
    if labels is not None and len(labels) != len(lines):
        raise InputError(f"{path}: {len(lines)} sessions but {len(labels)} labels; "
                         "the label file needs one 0/1 a session line")
    rows: dict[str, list] = {name: [] for name in SEQUENCES_SCHEMA.names}
    rejects: list[tuple[int, str, str]] = []
    for i, text in enumerate(lines, start=1):
        if not text.strip():
            rejects.append((i, "blank line", text))
            continue
        if not _KEY_RE.match(text):
            rejects.append((i, "not a list of integer event keys", text[:1024]))
            continue
        keys = text.split()
        rows["session_id"].append(f"{PurePosixPath(path).name}:{i}")
        rows["source"].append(source)
        rows["label"].append(labels[i - 1] if labels is not None else None)
        rows["event_ids"].append(keys)
        rows["timestamps"].append([])
        rows["start_time"].append(None)
        rows["duration_sec"].append(0.0)
        rows["seq_len"].append(len(keys))
        rows["n_distinct"].append(len(set(keys)))
        rows["levels"].append([])
        rows["n_error"].append(0)
        rows["messages"].append([])
        rows["refs"].append([{"path": path, "line_no": i}])
        rows["first_order"].append(order_key(file_index, i))
        rows["split"].append(None)
    return pa.table(rows, schema=SEQUENCES_SCHEMA), rejects
