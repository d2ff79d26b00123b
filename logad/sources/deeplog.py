"""Pre-parsed session files in the DeepLog style, straight into the ``sequences`` table.

Each line is one session: space-separated integer event keys (``5 5 22 11 9 11 9 26``), as in the
published ``hdfs_train`` / ``hdfs_test_normal`` / ``hdfs_test_abnormal`` files. Labels come from a
separate file (one 0/1 a line, aligned with the sessions) or from the file name (a name containing
``abnormal`` or ``anomal`` is anomalous, one containing ``normal`` is normal).

The sessions get the columns of :data:`logad.sessions.schema.SEQUENCES_SCHEMA`; there are no
times or messages, so ``timestamps``, ``levels`` and ``messages`` are empty lists and sessions are
ordered by their input position (``first_order``).

CSV session files with a header (logdeep / LogRobust ``Sequence,label``, loglizer
``BlockId,EventSequence,Label``) are read by :func:`parse_session_csv`.
"""

from __future__ import annotations

import csv
import re
from pathlib import PurePosixPath
from typing import Sequence

import pyarrow as pa

from logad.errors import InputError
from logad.schema import order_key
from logad.sessions.schema import SEQUENCES_SCHEMA

__all__ = ["LABEL_NAMES", "label_from_name", "csv_layout", "parse_session_lines",
           "parse_session_csv"]

_KEY_RE = re.compile(r"^\s*-?\d+(\s+-?\d+)*\s*$")


def label_from_name(name: str) -> int | None:
    """1 for ``*abnormal*``/``*anomal*`` names, 0 for ``*normal*`` ones, else None."""
    stem = PurePosixPath(name).name.lower()
    if "abnormal" in stem or "anomal" in stem:
        return 1
    if "normal" in stem:
        return 0
    return None


_SEQ_COLUMNS = ("sequence", "eventsequence", "event_sequence", "events", "event_ids")
_LABEL_COLUMNS = ("label", "labels", "anomaly", "is_anomaly")
_ID_COLUMNS = ("blockid", "block_id", "session_id", "sessionid", "id")
_KEY_TOKEN = re.compile(r"[^\s,;\[\]()'\"]+")
_EVENT_KEY = re.compile(r"^[A-Za-z]{0,8}-?\d+$")  # 5, -1, E5
_LABEL_WORDS = {"0": 0, "1": 1, "normal": 0, "anomaly": 1, "abnormal": 1, "anomalous": 1,
                "success": 0, "fail": 1, "failure": 1, "false": 0, "true": 1}

#: The values ``--label`` takes, per file.
LABEL_NAMES = {"normal": 0, "anomaly": 1, "anomalous": 1, "abnormal": 1}


def csv_layout(first_line: str) -> dict[str, int] | None:
    """Column positions of a session CSV header (logdeep / LogRobust: ``Sequence,label``,
    loglizer: ``BlockId,EventSequence,Label``), or None when ``first_line`` is not one.

    >>> csv_layout("BlockId,EventSequence,Label")
    {'sequence': 1, 'label': 2, 'id': 0}
    >>> csv_layout("5 5 22") is None
    True
    """
    if "," not in first_line:
        return None
    names = [c.strip().strip('"').lower() for c in next(csv.reader([first_line]))]
    layout = {}
    for key, options in (("sequence", _SEQ_COLUMNS), ("label", _LABEL_COLUMNS), ("id", _ID_COLUMNS)):
        found = next((i for i, n in enumerate(names) if n in options), None)
        if found is not None:
            layout[key] = found
    return layout if "sequence" in layout else None


def _table(sessions: list[tuple[str, int | None, list[str], int]], path: str, file_index: int,
           source: str) -> pa.Table:
    """Sequences rows of ``(session_id, label, event keys, line_no)``."""
    rows: dict[str, list] = {name: [] for name in SEQUENCES_SCHEMA.names}
    for sid, label, keys, line_no in sessions:
        rows["session_id"].append(sid)
        rows["source"].append(source)
        rows["label"].append(label)
        rows["event_ids"].append(keys)
        rows["timestamps"].append([])
        rows["start_time"].append(None)
        rows["duration_sec"].append(0.0)
        rows["seq_len"].append(len(keys))
        rows["n_distinct"].append(len(set(keys)))
        rows["levels"].append([])
        rows["n_error"].append(0)
        rows["messages"].append([])
        rows["refs"].append([{"path": path, "line_no": line_no}])
        rows["first_order"].append(order_key(file_index, line_no))
        rows["split"].append(None)
    return pa.table(rows, schema=SEQUENCES_SCHEMA)


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
    sessions, rejects = [], []
    for i, text in enumerate(lines, start=1):
        if not text.strip():
            rejects.append((i, "blank line", text))
            continue
        if not _KEY_RE.match(text):
            rejects.append((i, "not a list of integer event keys", text[:1024]))
            continue
        sessions.append((f"{PurePosixPath(path).name}:{i}",
                         labels[i - 1] if labels is not None else None, text.split(), i))
    return _table(sessions, path, file_index, source), rejects


def parse_session_csv(lines: Sequence[str], *, path: str, file_index: int,
                      label: int | None = None, source: str = "deeplog"
                      ) -> tuple[pa.Table, list[tuple[int, str, str]]]:
    """Sessions of a CSV with a header (see :func:`csv_layout`): one session a row, its event
    keys in the sequence column (``5 5 22``, ``[5, 5, 22]`` or ``['E5', 'E22']``), its label in
    the label column (0/1, Normal/Anomaly, Success/Fail) unless ``label`` overrides it.

    Returns the table and the rejected rows as ``(line_no, reason, raw)``.
    """
    layout = csv_layout(lines[0]) if lines else None
    if layout is None:
        raise InputError(f"{path}: not a session CSV (its header names no Sequence column)")
    sessions, rejects = [], []
    for i, row in enumerate(csv.reader(lines[1:]), start=2):
        text = lines[i - 1]
        if not row or not "".join(row).strip():
            rejects.append((i, "blank line", text))
            continue
        if len(row) <= max(layout.values()):
            rejects.append((i, f"{len(row)} columns, the header has more", text[:1024]))
            continue
        keys = _KEY_TOKEN.findall(row[layout["sequence"]])
        if not keys or not all(_EVENT_KEY.match(k) for k in keys):
            rejects.append((i, "sequence column is not a list of event keys", text[:1024]))
            continue
        lab = label
        if lab is None and "label" in layout:
            word = row[layout["label"]].strip().lower()
            if word not in _LABEL_WORDS:
                rejects.append((i, f"label {row[layout['label']]!r} is not 0/1 or "
                                   "Normal/Anomaly", text[:1024]))
                continue
            lab = _LABEL_WORDS[word]
        sid = row[layout["id"]].strip() if "id" in layout else ""
        sessions.append((sid or f"{PurePosixPath(path).name}:{i}", lab, keys, i))
    return _table(sessions, path, file_index, source), rejects
