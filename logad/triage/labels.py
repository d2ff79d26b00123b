"""Labelled lines for triage: one dataset per log system, three sources in order of trust.

1. **ground truth** where a system has it: BGL and Thunderbird (loghub), whose first field is the
   alert tag (``-``: not an alert). An alert line is LOOK. The tag is cut off the stored line, so
   no model ever sees the answer in its input.
2. **user** labels: JSONL rows ``{"dataset", "line", "label", "reason"}``; ``line`` is a 1-based
   line number of that dataset's file, or the exact text of a line (every line with that text).
3. **LLM** labels (:mod:`logad.triage.llm`).

A line takes the label of the most trusted source that has one; labels already stored are never
overwritten (:func:`merge_labels`). Everything here is plain Python over lists and Arrow tables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa

from logad.errors import InputError

__all__ = ["LABEL_SCHEMA", "SOURCES", "discover_datasets", "read_lines", "ground_truth",
           "read_user_labels", "user_rows", "combine", "merge_labels", "agreement", "to_table"]

#: Sources in order of trust.
SOURCES = ("ground_truth", "user", "llm")

LABEL_SCHEMA = pa.schema([("dataset", pa.string()), ("line_no", pa.int64()), ("line", pa.string()),
                          ("label", pa.int8()), ("reason", pa.string()), ("source", pa.string())])


def _dataset_name(path: Path) -> str:
    stem = path.name
    for suffix in (".log", ".txt"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem[:-3] if stem.endswith("_2k") else stem


def discover_datasets(roots: Sequence[str | Path]) -> dict[str, Path]:
    """Log files under ``roots`` (files, or folders searched for ``*.log``), by dataset name.

    The name is the file name without ``.log`` and a trailing ``_2k`` (``BGL_2k.log`` -> ``BGL``).
    A name found twice keeps its first file (the roots are searched in order).
    """
    found: dict[str, Path] = {}
    missing = []
    for root in roots:
        p = Path(root)
        if p.is_file():
            files = [p]
        elif p.is_dir():
            files = sorted(f for f in p.rglob("*.log") if f.is_file() and not f.name.startswith("."))
        else:
            missing.append(str(p))
            continue
        for f in files:
            found.setdefault(_dataset_name(f), f)
    if missing:
        raise InputError("label input not found: " + ", ".join(missing))
    return found


def read_lines(path: str | Path) -> list[tuple[int, str]]:
    """``(line_no, line)`` of every non-blank line (1-based; ``\\r`` stripped; bad UTF-8 replaced)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    lines = data.decode("utf-8", errors="replace").split("\n")
    return [(i + 1, ln[:-1] if ln.endswith("\r") else ln) for i, ln in enumerate(lines)
            if ln.strip()]


def ground_truth(pairs: Sequence[tuple[int, str]], dataset: str) -> list[dict]:
    """Rows labelled by the alert field (first whitespace-separated token; ``-`` is normal).

    >>> [r["label"] for r in ground_truth([(1, "- 1 ok"), (2, "KERNDTLB 2 bad")], "BGL")]
    [0, 1]
    >>> ground_truth([(1, "- 1 ok")], "BGL")[0]["line"]
    '1 ok'
    """
    rows = []
    for ln, text in pairs:
        tag, _, rest = text.partition(" ")
        rows.append({"dataset": dataset, "line_no": ln, "line": rest, "label": int(tag != "-"),
                     "reason": f"alert {tag}" if tag != "-" else "not an alert",
                     "source": "ground_truth"})
    return rows


def _label_value(v: Any) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)) and v in (0, 1):
        return int(v)
    if isinstance(v, str) and v.strip().upper() in ("LOOK", "SKIP"):
        return int(v.strip().upper() == "LOOK")
    return None


def read_user_labels(path: str | Path) -> tuple[list[dict], list[str]]:
    """Rows of a user JSONL file and the problems found (each names the file and line).

    Raises
    ------
    InputError
        When the file cannot be read, or none of its rows is usable.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{p}: cannot read user labels ({exc})") from None
    rows, problems = [], []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            problems.append(f"{p}:{i}: not JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict) or not {"dataset", "line", "label"} <= set(obj):
            problems.append(f"{p}:{i}: needs 'dataset', 'line' and 'label'")
            continue
        lab = _label_value(obj["label"])
        ref = obj["line"]
        if lab is None:
            problems.append(f"{p}:{i}: label must be LOOK or SKIP, got {obj['label']!r}")
            continue
        if isinstance(ref, bool) or not isinstance(ref, (int, str)) or (isinstance(ref, int) and ref < 1):
            problems.append(f"{p}:{i}: 'line' must be a line number >= 1 or the line's text")
            continue
        rows.append({"dataset": str(obj["dataset"]), "line": ref, "label": lab,
                     "reason": str(obj.get("reason") or "user label")[:200], "at": f"{p}:{i}"})
    if not rows:
        raise InputError(f"{p}: no usable user label rows" + (f" ({problems[0]})" if problems else ""))
    return rows, problems


def user_rows(user: Sequence[dict], datasets: Mapping[str, Sequence[tuple[int, str]]]
              ) -> tuple[list[dict], list[str]]:
    """Resolve user rows against the datasets' lines; rows that match nothing are problems."""
    by_no = {d: dict(pairs) for d, pairs in datasets.items()}
    by_text: dict[str, dict[str, list[int]]] = {}
    out, problems = [], []
    for r in user:
        d = r["dataset"]
        if d not in by_no:
            problems.append(f"{r['at']}: unknown dataset {d!r}")
            continue
        if isinstance(r["line"], int):
            nos = [r["line"]] if r["line"] in by_no[d] else []
        else:
            if d not in by_text:
                idx: dict[str, list[int]] = {}
                for ln, t in datasets[d]:
                    idx.setdefault(t, []).append(ln)
                by_text[d] = idx
            nos = by_text[d].get(r["line"], [])
        if not nos:
            problems.append(f"{r['at']}: line {r['line']!r} not found in dataset {d}")
        out += [{"dataset": d, "line_no": n, "line": by_no[d][n], "label": r["label"],
                 "reason": r["reason"], "source": "user"} for n in nos]
    return out, problems


def combine(*sources: Iterable[dict]) -> list[dict]:
    """One row per ``(dataset, line_no)``: the first source (most trusted) that labels it wins."""
    seen: set[tuple[str, int]] = set()
    out = []
    for rows in sources:
        for r in rows:
            key = (r["dataset"], int(r["line_no"]))
            if key not in seen:
                seen.add(key)
                out.append(r)
    return out


def to_table(rows: Sequence[dict]) -> pa.Table:
    """Rows as a table of :data:`LABEL_SCHEMA`, sorted by dataset and line number."""
    rows = sorted(rows, key=lambda r: (r["dataset"], int(r["line_no"])))
    return pa.Table.from_pylist([{k: r[k] for k in LABEL_SCHEMA.names} for r in rows],
                                schema=LABEL_SCHEMA)


def merge_labels(existing: pa.Table | None, new: pa.Table) -> tuple[pa.Table, int]:
    """``existing`` plus the rows of ``new`` whose ``(dataset, line_no)`` it lacks; and how many
    were added. Existing labels are never overwritten."""
    if existing is None or existing.num_rows == 0:
        return new, new.num_rows
    have = set(zip(existing["dataset"].to_pylist(), existing["line_no"].to_pylist()))
    keep = [(d, n) not in have for d, n in zip(new["dataset"].to_pylist(), new["line_no"].to_pylist())]
    add = new.filter(pa.array(keep, pa.bool_()))
    merged = pa.concat_tables([existing.cast(LABEL_SCHEMA), add])
    return to_table(merged.to_pylist()), add.num_rows


def agreement(reference: Sequence[dict], other: Sequence[dict]) -> dict[str, dict]:
    """Per dataset, how ``other`` (LLM) labels agree with ``reference`` (ground truth) on the
    lines both label: lines, agreement, the other's recall and precision of LOOK, LOOK shares."""
    ref = {(r["dataset"], int(r["line_no"])): r["label"] for r in reference}
    out: dict[str, dict] = {}
    pairs: dict[str, list[tuple[int, int]]] = {}
    for r in other:
        key = (r["dataset"], int(r["line_no"]))
        if key in ref:
            pairs.setdefault(r["dataset"], []).append((ref[key], r["label"]))
    for d, ps in sorted(pairs.items()):
        a = np.array(ps, np.int64)
        tp = int(((a[:, 0] == 1) & (a[:, 1] == 1)).sum())
        out[d] = {"lines": len(a), "agreement": float((a[:, 0] == a[:, 1]).mean()),
                  "look_recall": tp / int(a[:, 0].sum()) if a[:, 0].any() else None,
                  "look_precision": tp / int(a[:, 1].sum()) if a[:, 1].any() else None,
                  "reference_look_share": float(a[:, 0].mean()),
                  "llm_look_share": float(a[:, 1].mean())}
    return out
