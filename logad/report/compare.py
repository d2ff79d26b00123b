"""``logad compare``: a target corpus against a baseline corpus by their template distributions.

Template ids are content hashes of the template text, so two corpora parsed separately share
the ids of the templates they share. Distances: cosine similarity of the count vectors, KL and
Jensen-Shannon divergence (base 2) of the smoothed distributions; templates that appear (only in
the target) or vanish (only in the baseline), each with sample raw lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from logad.errors import InputError
from logad.explain import events_files
from logad.io import local_only, write_json

__all__ = ["template_counts", "distribution_distance", "run_compare"]


def template_counts(parsed: str | Path) -> dict[str, tuple[str, int]]:
    """``{template_id: (template, lines)}`` of a parse folder."""
    path = Path(parsed) / "templates.parquet"
    if not path.is_file():
        raise InputError(f"{parsed}: no templates.parquet; run `logad parse` first and pass its --out")
    t = pq.read_table(path, columns=["template_id", "template", "count"])
    return {i: (s, int(c or 0)) for i, s, c in zip(t.column("template_id").to_pylist(),
                                                    t.column("template").to_pylist(), t.column("count").to_pylist())}


def distribution_distance(target: Mapping[str, int], baseline: Mapping[str, int], eps: float = 1e-6) -> dict:
    """Cosine similarity, KL(target || baseline) and JS divergence (bits) of two count maps."""
    ids = sorted(set(target) | set(baseline))
    a = np.array([target.get(i, 0) for i in ids], dtype=float)
    b = np.array([baseline.get(i, 0) for i in ids], dtype=float)
    cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) if a.any() and b.any() else 0.0
    p, q = (a + eps) / (a + eps).sum(), (b + eps) / (b + eps).sum()
    m = (p + q) / 2
    kl = float((p * np.log2(p / q)).sum())
    js = float(0.5 * (p * np.log2(p / m)).sum() + 0.5 * (q * np.log2(q / m)).sum())
    return {"cosine": cos, "kl": kl, "js": js, "templates": len(ids)}


def _samples(parsed: Path, ids: list[str], n: int) -> dict[str, list[str]]:
    files = events_files(parsed / "events")
    if not ids or not files:
        return {}
    ds = pads.dataset(files, format="parquet")
    col = "raw" if "raw" in ds.schema.names else "content"
    t = ds.to_table(columns=["template_id", col], filter=pads.field("template_id").isin(pa.array(ids)))
    out: dict[str, list[str]] = {}
    for tid, line in zip(t.column("template_id").to_pylist(), t.column(col).to_pylist()):
        if len(out.setdefault(tid, [])) < n:
            out[tid].append(line)
    return out


def run_compare(target: str | Path, baseline: str | Path, out_dir: str | Path | None = None, *,
                samples: int = 3, top: int = 20) -> dict:
    """Compare two parse folders; writes ``compare.json`` into ``out_dir`` when given."""
    if out_dir is not None:
        local_only(out_dir)  # object storage: not written by this command yet
    tgt, base = template_counts(target), template_counts(baseline)
    r = distribution_distance({k: v[1] for k, v in tgt.items() if v[1]},
                              {k: v[1] for k, v in base.items() if v[1]})
    appeared = sorted((k for k in tgt if tgt[k][1] and not base.get(k, ("", 0))[1]), key=lambda k: (-tgt[k][1], k))
    vanished = sorted((k for k in base if base[k][1] and not tgt.get(k, ("", 0))[1]), key=lambda k: (-base[k][1], k))
    s_t, s_b = _samples(Path(target), appeared[:top], samples), _samples(Path(baseline), vanished[:top], samples)
    r["appeared"] = [{"template_id": k, "template": tgt[k][0], "lines": tgt[k][1], "samples": s_t.get(k, [])}
                     for k in appeared[:top]]
    r["vanished"] = [{"template_id": k, "template": base[k][0], "lines": base[k][1], "samples": s_b.get(k, [])}
                     for k in vanished[:top]]
    r["n_appeared"], r["n_vanished"] = len(appeared), len(vanished)
    r["target"], r["baseline"] = str(target), str(baseline)
    if out_dir is not None:
        write_json(r, Path(out_dir) / "compare.json")
    return r
