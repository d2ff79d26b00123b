"""The report's "lines to look at" section, from a ``logad triage predict`` folder.

The section holds the run's summary (lines, LOOK share, threshold), its top LOOK templates and
the LOOK lines with the highest probability. The lines are read batch by batch keeping the best
``top`` of each, so memory stays flat however many lines were marked LOOK.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from logad.errors import InputError
from logad.triage.predict import read_summary

__all__ = ["triage_section", "TEMPLATES_HEAD", "LINES_HEAD", "template_rows", "line_rows", "summary_text"]

TEMPLATES_HEAD = ["template", "LOOK lines", "share of LOOK", "mean P(LOOK)", "example"]
LINES_HEAD = ["file:line", "P(LOOK)", "reason", "line"]


def _top_lines(looks: Path, top: int) -> list[dict[str, Any]]:
    best: pa.Table | None = None
    for batch in pq.ParquetFile(looks).iter_batches(batch_size=65536):
        t = pa.Table.from_batches([batch])
        if best is not None:
            t = pa.concat_tables([best, t])
        keep = pc.select_k_unstable(t, k=min(top, t.num_rows),
                                    sort_keys=[("probability", "descending")])
        best = t.take(keep)
    if best is None or best.num_rows == 0:
        return []
    order = pc.sort_indices(best, sort_keys=[("probability", "descending"), ("path", "ascending"),
                                             ("line_no", "ascending")])
    return best.take(order).to_pylist()


def triage_section(predict_dir: str | Path, top: int = 20) -> dict[str, Any]:
    """``summary`` (of :func:`logad.triage.predict.summarize`) and ``lines`` (the ``top`` LOOK
    lines by probability, ties in file and line order) of a triage predict folder."""
    d = Path(predict_dir)
    summary = read_summary(d)
    looks = d / "looks.parquet"
    if not looks.is_file():
        raise InputError(f"{d}: no looks.parquet (an unfinished `logad triage predict`; re-run it)")
    return {"folder": str(d), "summary": summary, "lines": _top_lines(looks, int(top))}


def template_rows(section: dict) -> list[list[str]]:
    return [[t["template"], str(t["lines"]), f"{t['share_of_look']:.1%}",
             f"{t['mean_probability']:.3f}", t["example"][:160]]
            for t in section["summary"].get("top_templates") or []]


def line_rows(section: dict) -> list[list[str]]:
    return [[f"{r['path']}:{r['line_no']}", f"{r['probability']:.3f}", r.get("reason") or "",
             (r.get("line") or "")[:240]] for r in section["lines"]]


def summary_text(section: dict) -> str:
    s = section["summary"]
    return (f"{s['look']:,} of {s['lines']:,} lines marked LOOK ({s['look_share']:.1%}) at "
            f"P(LOOK) ≥ {s['threshold']:.3f}, in {s.get('n_look_templates', 0)} templates; "
            f"from {section['folder']}")
