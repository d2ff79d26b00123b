"""Triage runner: raw log files in, LOOK lines and a summary out, lines of one file across workers.

Plan (driver): expand the inputs and cut big plain files into byte ranges aligned to line starts
(:func:`logad.sources.files.plan_units`, the same units as ingest, newlines counted in parallel),
the units into groups that shrink towards the end. Work: a pool of Ray actors
(:class:`TriageWorker`, one CPU each, the model loaded once) reads each unit with
:func:`logad.sources.reader.iter_entries`, scores it with :func:`logad.triage.predict.look_rows`
and writes ``looks/part-<unit>.parquet`` plus a done-marker (a re-run skips finished units).
Finish (driver): ``looks.parquet`` (every LOOK line in file and line order), ``summary.json``
(:func:`logad.triage.predict.summarize`), ``manifest.json`` and the resolved config.

Actors rather than Ray Data, for the reason the ingest runner gives (on this project's 2-CPU
machines Ray Data ran such units one at a time). Units depend only on the inputs and
``chunk_bytes``, so the outputs are the same for any number of workers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa

from logad import __version__
from logad.errors import ConfigError
from logad.io import (as_folder, finished_manifest, join, local_dir, looks_remote, output_dir,
                      read_json, read_table, write_json, write_parquet, write_yaml)
from logad.ray.pool import count_newlines_parallel
from logad.ray.workers import map_unit_groups
from logad.ray.runtime import ensure_ray
from logad.settings import stage_key
from logad.settings.triage import TriagePredictSection, predict_settings
from logad.sources.files import WorkUnit, expand_sources, plan_units
from logad.sources.reader import UnitStats, iter_entries
from logad.triage.predict import LOOK_SCHEMA, cap_per_file, look_rows, summarize
from logad.triage.scorer import TriageScorer

__all__ = ["run_triage", "TriageWorker"]

log = logging.getLogger(__name__)

def _fingerprint(unit: WorkUnit, model_hash: str, threshold: float, settings: TriagePredictSection) -> str:
    """A unit's skip key: its identity, the model, the threshold used and every setting."""
    return stage_key([], settings.model_dump(mode="json", exclude={"max_look_share"}),
                     [unit.file.display, unit.file.size, unit.start, unit.end], model_hash, threshold)


class TriageWorker:
    """One triage worker (a Ray actor): holds the scorer, processes groups of units."""

    def __init__(self, model_doc: dict, out_dir: str, threshold: float, cfg: dict) -> None:
        self.scorer = TriageScorer(model_doc, "model")
        self.out, self.threshold, self.cfg = as_folder(out_dir), threshold, cfg

    def process(self, units: list[tuple[WorkUnit, str]]) -> list[dict]:
        return [self._unit(u, fp) for u, fp in units]

    def _unit(self, unit: WorkUnit, fp: str) -> dict:
        t0 = time.perf_counter()
        stats = UnitStats()
        parts = []
        lines = 0
        for batch in iter_entries(unit, stats, max_line_bytes=self.cfg["max_line_bytes"],
                                  batch_lines=self.cfg["batch_lines"]):
            lines += len(batch.raw)
            parts.append(look_rows(self.scorer, batch.raw, np.asarray(batch.line_no, np.int64),
                                   unit.file.display, self.threshold))
        table = pa.concat_tables(parts) if parts else LOOK_SCHEMA.empty_table()
        name = f"part-{unit.index:06d}"
        write_parquet(table, join(self.out, "looks", f"{name}.parquet"))
        row = {"unit": unit.index, "path": unit.file.display, "lines_read": stats.lines_read,
               "scored": lines, "rejected": stats.rejected, "look": table.num_rows,
               "bad_utf8": stats.bad_utf8, "error": stats.error,
               "seconds": round(time.perf_counter() - t0, 4), "fingerprint": fp}
        write_json(row, join(self.out, "_units", f"{name}.json"))
        return row


def run_triage(sources: Sequence[str], model: str | Path, out_dir: str | Path,
               cfg: TriagePredictSection | dict | None = None) -> dict:
    """Triage every line of ``sources`` with the model at ``model``; return the manifest.

    ``cfg``: the ``predict`` section of :class:`~logad.settings.TriageSettings` (a dict of its
    keys is validated over ``configs/triage.yaml`` at once). The manifest has per-file lines read, scored,
    rejected (blank, over-long) and LOOK, with ``read = scored + rejected`` for every file.

    ``model`` may be a folder on object storage (``logad triage train --out s3://...``: fetched
    to the cache) and so may ``out_dir``: there the workers write their parts under the run's
    prefix, the driver builds ``looks.parquet``, ``summary.json`` and the config locally and
    publishes them (:func:`logad.io.output_dir`), ``manifest.json`` last; a re-run whose key (the files' names and sizes, the model, the threshold and the
    settings) the committed manifest holds skips (``"skipped": True``); a killed run is redone
    whole (locally finished units are kept).
    """
    t0 = time.perf_counter()
    settings = predict_settings(cfg)
    cfg = settings.model_dump(mode="json")
    model = str(as_folder(model)) if looks_remote(model) else model
    scorer = TriageScorer.load(_local_model(model))
    threshold = float(scorer.threshold if cfg["threshold"] is None else cfg["threshold"])
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"--threshold: a probability in [0, 1], got {threshold}")
    model_hash = hashlib.blake2b(json.dumps(scorer.doc, sort_keys=True).encode(),
                                 digest_size=12).hexdigest()
    files = expand_sources(list(sources))
    if not looks_remote(out_dir):
        out = Path(out_dir)
        return _triage(sources, files, model, scorer, model_hash, threshold, settings, out, out, t0)[0]
    url = str(as_folder(out_dir))
    key = stage_key([], cfg, [[f.display, f.size] for f in files], model_hash, threshold)
    done = finished_manifest(url, key)
    if done is not None:
        log.info("%s: triage already complete for these inputs, model and settings; skipping", url)
        return {**done, "skipped": True}
    with output_dir(url) as built:
        manifest, rows = _triage(sources, files, model, scorer, model_hash, threshold, settings,
                                 f"{url}/{built.run}", built.path, t0, key=key)
        built.written = [f"{sub}/part-{r['unit']:06d}.{ext}" for r in rows
                         for sub, ext in (("looks", "parquet"), ("_units", "json"))]
    return {**manifest, "run": built.run}


def _local_model(model: str | Path) -> str | Path:
    """``model`` as a local folder or file to load: on object storage the folder (or the
    folder of the ``model.json`` named) fetched to the cache."""
    if not looks_remote(model):
        return model
    url = str(model)
    if url.endswith(".json"):
        folder, _, name = url.rpartition("/")
        return local_dir(folder, "triage model folder") / name
    return local_dir(url, "triage model folder")


def _triage(sources: Sequence[str], files: list, model: str | Path, scorer: TriageScorer,
            model_hash: str, threshold: float, settings: TriagePredictSection,
            work: str | Path, out: Path, t0: float, key: str | None = None) -> tuple[dict, list[dict]]:
    """The triage run: the workers' parts and unit markers in ``work`` (the local output
    folder, or a run prefix on object storage, where no unit is ever finished yet), the
    outputs in the local folder ``out``; returns the manifest and the units' rows."""
    cfg = settings.model_dump(mode="json")
    ensure_ray()
    units = plan_units(files, int(cfg["chunk_bytes"]), count_newlines=count_newlines_parallel)
    done, todo = [], []
    for u in units:
        fp = _fingerprint(u, model_hash, threshold, settings)
        marker = join(work, "_units", f"part-{u.index:06d}.json")
        if isinstance(work, Path) and marker.exists() and \
                (work / "looks" / f"part-{u.index:06d}.parquet").exists():
            row = read_json(marker)
            if row.get("fingerprint") == fp:
                done.append(row)
                continue
        todo.append((u, fp))
    log.info("triage: %d files, %d units (%d already done)", len(files), len(units), len(done))
    rows = list(done) + map_unit_groups(TriageWorker, (scorer.doc, str(work), threshold, cfg),
                                        todo, settings.workers, "triage")
    rows.sort(key=lambda r: r["unit"])
    expected = {f"part-{u.index:06d}.parquet" for u in units}
    if isinstance(work, Path) and (work / "looks").exists():
        for p in (work / "looks").glob("part-*.parquet"):
            if p.name not in expected:
                p.unlink()
    parts = [read_table(join(work, "looks", f"part-{r['unit']:06d}.parquet")) for r in rows]
    looks = pa.concat_tables(parts).cast(LOOK_SCHEMA) if parts else LOOK_SCHEMA.empty_table()

    per_file: dict[str, dict] = {}
    for r in rows:
        f = per_file.setdefault(r["path"], {"path": r["path"], "lines_read": 0, "scored": 0,
                                            "rejected": 0, "look": 0, "bad_utf8": 0, "errors": []})
        for k in ("lines_read", "scored", "rejected", "look", "bad_utf8"):
            f[k] += r[k]
        if r.get("error"):
            f["errors"].append(r["error"])
    looks, cuts = cap_per_file(looks, {p: f["scored"] for p, f in per_file.items()},
                               cfg.get("max_look_share"))
    for path, cut in cuts.items():
        f = per_file[path]
        f["look_above_threshold"], f["capped_at"] = f["look"], cut
        log.info("triage: %s: %d lines above the threshold, more than max_look_share %.0f %% of "
                 "%d; kept the %s most likely (P(LOOK) >= %.3f)", path, f["look"],
                 100 * cfg["max_look_share"], f["scored"], "lines" if cut < np.inf else "none", cut)
    if cuts:
        kept = looks.column("path").to_pylist()
        for path in cuts:
            per_file[path]["look"] = kept.count(path)
    write_parquet(looks, out / "looks.parquet")
    scored = sum(f["scored"] for f in per_file.values())
    summary = summarize(scored, looks, scorer.passes, threshold, top=int(cfg["top_templates"]),
                        per_file={p: f["scored"] for p, f in per_file.items()})
    write_json(summary, out / "summary.json")
    file_rows = list(per_file.values())
    manifest = {
        "stage": "triage", "status": "complete", "logad_version": __version__,
        **({"run_key": key} if key is not None else {}), "model": str(model),
        "inputs": [str(s) for s in sources], "threshold": threshold,
        "max_look_share": cfg.get("max_look_share"), "capped_files": len(cuts), "units": len(units),
        "units_skipped": len(done), "files": file_rows,
        "totals": {k: sum(f[k] for f in file_rows) for k in ("lines_read", "scored", "rejected", "look")},
        "errors": [e for f in file_rows for e in f["errors"]],
        "accounting_ok": all(f["lines_read"] == f["scored"] + f["rejected"] for f in file_rows),
        "look_share": summary["look_share"], "seconds": round(time.perf_counter() - t0, 3),
    }
    write_yaml(cfg, out / "triage_config.yaml")
    write_json(manifest, out / "manifest.json")
    return manifest, rows
