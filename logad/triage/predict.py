"""Pure functions of ``logad triage predict``: score a batch of lines, keep the LOOK ones, and
summarise a run (share of lines marked LOOK, the top LOOK templates).

:func:`summarize` is the summary the report stage reads (``summary.json`` of a predict folder,
also :func:`read_summary`): a small dict, no I/O inside.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logad.parsing.masking import MaskPass, mask_array
from logad.parsing.miner import DrainSettings, TemplateMiner
from logad.triage.features import as_string_array
from logad.triage.scorer import TriageScorer

__all__ = ["LOOK_SCHEMA", "look_rows", "cap_per_file", "summarize", "read_summary"]

LOOK_SCHEMA = pa.schema([("path", pa.string()), ("line_no", pa.int64()),
                         ("probability", pa.float64()), ("reason", pa.string()),
                         ("line", pa.string())])


def look_rows(scorer: TriageScorer, lines: Any, line_no: Sequence[int], path: str,
              threshold: float | None = None) -> pa.Table:
    """The LOOK lines of one batch with their probability and reason (:data:`LOOK_SCHEMA`).

    Parameters
    ----------
    scorer : TriageScorer
    lines : list of str or Arrow string array
        The raw lines of the batch.
    line_no : sequence of int
        1-based line number of every line in its file.
    path : str
        The file, stored on every row.
    threshold : float, optional
        P(LOOK) from which a line is LOOK; the model's own threshold by default.
    """
    raw = as_string_array(lines)
    t = scorer.threshold if threshold is None else float(threshold)
    scores = scorer.score(raw)
    p = scores.proba
    keep = np.flatnonzero(p >= t)
    sel = raw.take(pa.array(keep, pa.int64()))
    return pa.table({"path": pa.array([path] * len(keep), pa.string()),
                     "line_no": pa.array(np.asarray(line_no, np.int64)[keep], pa.int64()),
                     "probability": pa.array(p[keep], pa.float64()),
                     "reason": pa.array(scorer.reasons_of(scores, keep), pa.string()),
                     "line": sel}, schema=LOOK_SCHEMA)


def cap_per_file(looks: pa.Table, scored: dict[str, int], max_share: float | None
                 ) -> tuple[pa.Table, dict[str, float]]:
    """Keep at most ``max_share`` of each file's scored lines as LOOK: the most likely ones.

    A log of a system the model never saw may score many lines above the threshold; a person
    still reads only so much. For a file with more LOOK lines than ``floor(max_share *
    scored)``, the cut is raised to the probability of the last line allowed (lines tied with
    it go too when keeping them would pass the cap). Depends only on the LOOK rows, so on no
    worker count. Returns the kept rows (order unchanged) and the raised cut of each capped file.
    """
    if max_share is None or max_share >= 1.0 or looks.num_rows == 0:
        return looks, {}
    paths = looks.column("path").to_numpy(zero_copy_only=False)
    prob = looks.column("probability").to_numpy()
    keep = np.ones(len(prob), dtype=bool)
    cuts: dict[str, float] = {}
    for path in dict.fromkeys(paths.tolist()):
        rows = np.flatnonzero(paths == path)
        allowed = int(np.floor(float(max_share) * int(scored.get(path, len(rows)))))
        if len(rows) <= allowed:
            continue
        p = np.sort(prob[rows])[::-1]
        cut = float(p[allowed - 1]) if allowed > 0 else np.inf
        mine = prob[rows] >= cut
        if mine.sum() > allowed:  # ties at the cut would pass the cap: drop them
            mine = prob[rows] > cut
        keep[rows] = mine
        cuts[path] = cut
    return looks.filter(pa.array(keep)), cuts


def summarize(n_lines: int, looks: pa.Table, passes: Sequence[MaskPass], threshold: float, *,
              top: int = 10, per_file: dict[str, int] | None = None) -> dict:
    """The triage summary of a run.

    Parameters
    ----------
    n_lines : int
        Lines scored.
    looks : pa.Table
        Every LOOK row (:data:`LOOK_SCHEMA`), in file and line order.
    passes : sequence of MaskPass
        The model's masking passes; the LOOK lines are masked and mined with logad's Drain
        (:class:`logad.parsing.miner.TemplateMiner`) in line order.
    threshold : float
    top : int, default 10
        Templates listed.
    per_file : dict, optional
        Lines scored per file; the summary then lists LOOK lines per file too.

    Returns
    -------
    dict
        ``lines``, ``look``, ``look_share``, ``threshold``, ``top_templates`` (``template``,
        ``lines``, ``share_of_look``, ``mean_probability``, ``example``) and ``files``.
    """
    n_look = looks.num_rows
    templates: list[dict] = []
    if n_look:
        masked = mask_array(as_string_array(looks["line"]), passes)
        enc = pc.dictionary_encode(masked)
        idx = enc.indices.to_numpy(zero_copy_only=False)
        n_distinct = len(enc.dictionary)
        counts = np.bincount(idx, minlength=n_distinct)
        first = np.full(n_distinct, len(idx))
        np.minimum.at(first, idx, np.arange(len(idx)))
        miner = TemplateMiner(DrainSettings())
        texts = enc.dictionary.to_pylist()
        cluster_of = np.empty(n_distinct, np.int64)
        for j in np.argsort(first, kind="stable"):  # first-occurrence order: worker-independent
            cluster_of[j] = miner.add(texts[j], int(counts[j]), int(first[j]))
        row_cluster = cluster_of[idx]
        prob = looks["probability"].to_numpy()
        order = np.argsort(row_cluster, kind="stable")
        cids, starts = np.unique(row_cluster[order], return_index=True)
        lines_of = looks["line"]
        for c, rows in zip(cids, np.split(order, starts[1:])):
            templates.append({"template": miner.template(int(c)), "lines": int(len(rows)),
                              "share_of_look": len(rows) / n_look,
                              "mean_probability": float(prob[rows].mean()),
                              "example": lines_of[int(rows.min())].as_py()[:300]})
        templates.sort(key=lambda r: (-r["lines"], r["template"]))
    files = None
    if per_file is not None:
        look_per = {}
        for pth in looks["path"].to_pylist():
            look_per[pth] = look_per.get(pth, 0) + 1
        files = [{"path": f, "lines": n, "look": look_per.get(f, 0),
                  "look_share": look_per.get(f, 0) / n if n else 0.0}
                 for f, n in sorted(per_file.items())]
    return {"lines": int(n_lines), "look": int(n_look),
            "look_share": n_look / n_lines if n_lines else 0.0, "threshold": float(threshold),
            "top_templates": templates[:top], "n_look_templates": len(templates),
            "files": files}


def read_summary(predict_dir: str | Path) -> dict:
    """The summary of a ``logad triage predict`` folder (its ``summary.json``)."""
    from logad.errors import InputError

    p = Path(predict_dir) / "summary.json"
    if not p.is_file():
        raise InputError(f"{predict_dir}: no triage summary here (run `logad triage predict`)")
    return json.loads(p.read_text(encoding="utf-8"))
