"""``logad compare``: a target corpus against a baseline corpus by their template distributions.

Template ids are content hashes of the template text, so two corpora parsed separately share
the ids of the templates they share. Distances: cosine similarity of the count vectors, KL and
Jensen-Shannon divergence (base 2) of the smoothed distributions; templates that appear (only in
the target) or vanish (only in the baseline), each with sample raw lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from logad.errors import InputError
from logad.explain import events_files
from logad.io import (as_folder, dataset_of, finished_manifest, key_file, looks_remote, open_stage,
                      output_dir, read_published, read_table, write_json)
from logad.settings import stage_key

__all__ = ["template_counts", "distribution_distance", "run_compare"]


def template_counts(parsed: str | Path) -> dict[str, tuple[str, int]]:
    """``{template_id: (template, lines)}`` of a parse folder (local, or on object storage:
    the ``templates.parquet`` of the run its manifest commits)."""
    cols = ["template_id", "template", "count"]
    if looks_remote(parsed):
        found = open_stage(as_folder(parsed), "parse")
        if not found.has_side("templates.parquet"):
            raise InputError(f"{parsed}: no templates.parquet; run `logad parse` first and pass its --out")
        t = read_table(found.side("templates.parquet"), columns=cols)
    else:
        path = Path(parsed) / "templates.parquet"
        if not path.is_file():
            raise InputError(f"{parsed}: no templates.parquet; run `logad parse` first and pass its --out")
        t = pq.read_table(path, columns=cols)
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


def _samples(parsed: str | Path, ids: list[str], n: int) -> dict[str, list[str]]:
    files = events_files(as_folder(parsed) if looks_remote(parsed) else Path(parsed) / "events")
    if not ids or not files:
        return {}
    ds = dataset_of(files)
    col = "raw" if "raw" in ds.schema.names else "content"
    t = ds.to_table(columns=["template_id", col], filter=pads.field("template_id").isin(pa.array(ids)))
    out: dict[str, list[str]] = {}
    for tid, line in zip(t.column("template_id").to_pylist(), t.column(col).to_pylist()):
        if len(out.setdefault(tid, [])) < n:
            out[tid].append(line)
    return out


def run_compare(target: str | Path, baseline: str | Path, out_dir: str | Path | None = None, *,
                samples: int = 3, top: int = 20) -> dict:
    """Compare two parse folders (local or on object storage); writes ``compare.json`` into
    ``out_dir`` when given.

    An ``out_dir`` on object storage is built locally and published (:func:`logad.io.output_dir`),
    committed by its ``manifest.json``; a re-run whose key (both parse folders' committed
    manifests or ``templates.parquet``, ``samples``, ``top``) it holds reads the committed
    ``compare.json`` instead (``"skipped": True``).
    """
    target, baseline = (str(as_folder(f)) if looks_remote(f) else f for f in (target, baseline))
    if out_dir is not None and looks_remote(out_dir):
        return _on_object_storage(target, baseline, str(as_folder(out_dir)), samples, top)
    r = _compare(target, baseline, samples, top)
    if out_dir is not None:
        write_json(r, Path(out_dir) / "compare.json")
    return r


def _key(target: str | Path, baseline: str | Path, samples: int, top: int) -> str:
    inputs = [key_file(as_folder(f) if looks_remote(f) else f, "templates.parquet")
              for f in (target, baseline)]
    return stage_key(inputs, {"samples": samples, "top": top})


def _on_object_storage(target: str | Path, baseline: str | Path, url: str, samples: int,
                       top: int) -> dict:
    from logad import __version__

    key = _key(target, baseline, samples, top)
    if finished_manifest(url, key) is not None:
        return {**json.loads(read_published(url, "compare.json", "comparison")), "skipped": True}
    r = _compare(target, baseline, samples, top)
    with output_dir(url) as built:
        write_json(r, built.path / "compare.json")
        write_json({"stage": "compare", "status": "complete", "logad_version": __version__,
                    "run_key": key, "inputs": [str(target), str(baseline)],
                    "outputs": {"compare": "compare.json"}}, built.path / "manifest.json")
    return r


def _compare(target: str | Path, baseline: str | Path, samples: int, top: int) -> dict:
    tgt, base = template_counts(target), template_counts(baseline)
    r = distribution_distance({k: v[1] for k, v in tgt.items() if v[1]},
                              {k: v[1] for k, v in base.items() if v[1]})
    appeared = sorted((k for k in tgt if tgt[k][1] and not base.get(k, ("", 0))[1]), key=lambda k: (-tgt[k][1], k))
    vanished = sorted((k for k in base if base[k][1] and not tgt.get(k, ("", 0))[1]), key=lambda k: (-base[k][1], k))
    s_t, s_b = _samples(target, appeared[:top], samples), _samples(baseline, vanished[:top], samples)
    r["appeared"] = [{"template_id": k, "template": tgt[k][0], "lines": tgt[k][1], "samples": s_t.get(k, [])}
                     for k in appeared[:top]]
    r["vanished"] = [{"template_id": k, "template": base[k][0], "lines": base[k][1], "samples": s_b.get(k, [])}
                     for k in vanished[:top]]
    r["n_appeared"], r["n_vanished"] = len(appeared), len(vanished)
    r["target"], r["baseline"] = str(target), str(baseline)
    return r
