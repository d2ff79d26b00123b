"""Ingest runner: files or URLs in, one ``events`` folder out, spread over Ray workers.

Plan (driver): expand inputs, select LO2 files, count newlines of big files in parallel, cut into
units (whole files, byte ranges of big ones) and the units into groups that shrink towards the end
(:func:`logad.ray.pool.guided_groups`). Work: a pool of Ray actors (``workers``, one CPU each,
:class:`IngestWorker`, holding the preset and labels once) takes the groups as it frees up
(:func:`logad.ray.pool.ordered_map`); each unit is read, structured and labelled by
:func:`logad.sources.events.unit_events` and written to ``events/part-<unit>.parquet`` atomically;
a small JSON per unit marks it finished, so a re-run skips it. Finish (driver): per-file manifest,
``labels.parquet``, ``metrics.parquet``, the resolved config.

``out_dir`` may be an object-storage URL (``s3://...``, :mod:`logad.io.store`): the workers
then write their parts straight under the run's own prefix ``_runs/<run-id>/``, the driver its
side tables there too, and the manifest, written last, commits the run; a re-run with the same
inputs and settings skips, and a killed run is redone whole (its prefix is never read).

Plain actors rather than a Ray Data ``map``, as in the parse runner: on this 2-CPU machine Ray
Data (2.60) ran the units' tasks one at a time whatever their ``compute`` said (16 tasks of
0.2 s: 3.4 s, plain tasks 1.6 s) and its first execution in a job cost about 1 s more.

Output file names depend only on the inputs and ``chunk_bytes``, never on the number of workers.
"""

from __future__ import annotations

import os
import logging
import tempfile
import time
from dataclasses import fields
from pathlib import Path
from typing import Sequence

import pyarrow.parquet as pq
import yaml

from logad import __version__
from logad.errors import InputError
from logad.io import (ParquetSettings, Store, as_folder, commit, finished_manifest, mark_running,
                      new_run, part_entries, read_json, remove_leftovers, run_lock, write_json,
                      write_manifest, write_parquet, write_yaml)
from logad.ray.pool import count_newlines_parallel
from logad.ray.runtime import ensure_ray
from logad.ray.workers import in_process, map_unit_groups
from logad.settings import IngestSettings, coerce, stage_key
from logad.sources.events import UnitResult, unit_events
from logad.sources.files import SourceFile, WorkUnit, expand_sources, plan_units
from logad.sources.labels import LabelSpec, load_labels, session_labels
from logad.sources.lo2 import load_lo2_metrics, select_lo2
from logad.sources.presets import Preset, load_preset, preset_from_format, preset_from_regex
# needs no Ray, so it lives in logad.sources; imported here for the callers of its old place
from logad.sources.session_files import run_ingest_sessions

__all__ = ["run_ingest", "run_ingest_sessions"]

log = logging.getLogger(__name__)

_COUNTS = ("lines_read", "parsed", "rejected", "events", "unmatched", "bad_utf8", "bytes")


def _resolve_preset(cfg: dict) -> Preset:
    if cfg.get("regex"):
        return preset_from_regex(cfg["regex"], timestamp_format=cfg.get("timestamp_format"))
    if cfg.get("format"):
        return preset_from_format(cfg["format"], timestamp_format=cfg.get("timestamp_format"))
    return load_preset(cfg["preset"])


def _fingerprint(unit: WorkUnit, settings: IngestSettings) -> str:
    """A unit's skip key: its identity (file, size, byte range) and every setting."""
    return stage_key([], settings, [unit.file.display, unit.file.size, unit.start, unit.end])


def _process_unit(unit: WorkUnit, preset: Preset, labels: LabelSpec | None, file_columns: dict,
                  out_dir: str, cfg: dict, parquet: ParquetSettings, fingerprint: str,
                  run: str | None = None) -> dict:
    """Run on a worker: read one unit, write its shard and its done-marker, return its counts.
    With ``run`` (``out_dir`` on object storage) the shard and rejected rows go under that
    run's prefix, uploaded whole, and there is no marker (the manifest commits the run)."""
    if run is not None:
        return _process_unit_to_store(unit, preset, labels, file_columns, Store.at(out_dir), run,
                                      cfg, parquet, fingerprint)
    out = Path(out_dir)
    name = f"part-{unit.index:06d}"
    result = UnitResult(unit=unit.index, path=unit.file.display)
    shard = out / "events" / f"{name}.parquet"
    shard.parent.mkdir(parents=True, exist_ok=True)
    tmp = shard.with_name(f".{name}.parquet.tmp")
    has_events = _write_events(unit, preset, labels, file_columns, cfg, parquet, result, tmp)
    if has_events:
        os.replace(tmp, shard)
    elif shard.exists():
        shard.unlink()
    if result.rejects is not None and result.rejects.num_rows:
        write_parquet(result.rejects, out / "rejected" / f"{name}.parquet")
    row = _unit_row(result, fingerprint, has_events)
    # a stalled read is no finished unit, and a file that failed before its read (listing,
    # newline count) costs nothing to look at again: the re-run tries both again
    if not (result.stalled or unit.file.error):
        write_json(row, out / "_units" / f"{name}.json")
    return row


def _write_events(unit: WorkUnit, preset: Preset, labels: LabelSpec | None, file_columns: dict,
                  cfg: dict, parquet: ParquetSettings, result: UnitResult, path: Path) -> bool:
    """The unit's events written to ``path``; False (nothing written) when it has none."""
    writer = None
    try:
        for table in unit_events(unit, preset, result, source=preset.name,
                                 file_columns=file_columns, labels=labels,
                                 max_line_bytes=cfg["max_line_bytes"], batch_lines=cfg["batch_lines"],
                                 read_timeout_s=cfg.get("read_timeout_s")):
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, **parquet.writer_options(table.schema))
            writer.write_table(table)
    except InputError as exc:  # e.g. labels that need a column this preset does not make
        result.error = f"{unit.file.display}: {exc}"
    finally:
        if writer is not None:
            writer.close()
    return writer is not None


def _process_unit_to_store(unit: WorkUnit, preset: Preset, labels: LabelSpec | None,
                           file_columns: dict, store: Store, run: str, cfg: dict,
                           parquet: ParquetSettings, fingerprint: str) -> dict:
    """:func:`_process_unit` for a folder on object storage."""
    name = f"part-{unit.index:06d}"
    result = UnitResult(unit=unit.index, path=unit.file.display)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".parquet.tmp")
    os.close(fd)
    try:
        has_events = _write_events(unit, preset, labels, file_columns, cfg, parquet, result, Path(tmp))
        if has_events:
            store.fs.put_file(tmp, store.path(f"{run}/events/{name}.parquet"))
    finally:
        os.unlink(tmp)
    if result.rejects is not None and result.rejects.num_rows:
        store.write_parquet(result.rejects, f"{run}/rejected/{name}.parquet")
    return _unit_row(result, fingerprint, has_events)


def _unit_row(result: UnitResult, fingerprint: str, has_events: bool) -> dict:
    """A unit's manifest row: its counts (the rejected rows themselves went to their part)."""
    row = {f.name: getattr(result, f.name) for f in fields(result) if f.name != "rejects"}
    return {**row, "fingerprint": fingerprint, "has_events": has_events}


class IngestWorker:
    """One ingest worker (a Ray actor, one CPU): holds what every unit needs, processes groups of
    units one after another."""

    def __init__(self, preset: Preset, labels: LabelSpec | None, file_columns: dict,
                 out_dir: str, cfg: dict, parquet: ParquetSettings, run: str | None = None) -> None:
        self.preset, self.labels, self.file_columns = preset, labels, file_columns
        self.out_dir, self.cfg, self.parquet, self.run = out_dir, cfg, parquet, run

    def process(self, units: list[tuple[WorkUnit, str]]) -> list[dict]:
        """Each ``(unit, fingerprint)`` read, structured, written; its manifest row."""
        return [_process_unit(u, self.preset, self.labels,
                              self.file_columns.get(u.file.display, {}), self.out_dir, self.cfg,
                              self.parquet, fp, self.run)
                for u, fp in units]


def _file_columns(files: Sequence[SourceFile], preset: Preset, cfg: dict) -> tuple[list[SourceFile], dict, dict]:
    """LO2: select files and attach run / test_case / service / label to each; others: as they are."""
    if preset.name.lower() != "lo2":
        return list(files), {}, {}
    sel = cfg["lo2"]
    chosen, other = select_lo2(files, runs=sel.get("runs"), services=sel.get("services"),
                               test_cases=sel.get("test_cases"),
                               errors_per_run=sel.get("errors_per_run"), seed=sel.get("seed", 0))
    if not chosen:
        raise InputError("no LO2 service logs found under the inputs (expected "
                         "<root>/light-oauth2-data-<epoch>/<test_case>/light-oauth2-oauth2-<service>-1.log)")
    cols = {f.file.display: {"run": f.run, "test_case": f.test_case, "service": f.service,
                             "label": f.label} for f in chosen}
    return [f.file for f in chosen], cols, {"lo2_files": len(chosen), "lo2_other_files": other}


def _file_rows(rows: list[dict]) -> list[dict]:
    by_path: dict[str, dict] = {}
    for r in sorted(rows, key=lambda r: r["unit"]):
        f = by_path.setdefault(r["path"], {"path": r["path"], **{k: 0 for k in _COUNTS},
                                           "seconds": 0.0, "errors": []})
        for k in _COUNTS:
            f[k] += r[k]
        f["seconds"] = round(f["seconds"] + r["seconds"], 4)
        if r.get("error"):
            f["errors"].append(r["error"])
    return list(by_path.values())


def run_ingest(sources: Sequence[str], out_dir: str | Path,
               cfg: IngestSettings | dict | None = None) -> dict:
    """Ingest ``sources`` into ``out_dir`` and return the manifest.

    ``cfg``: the resolved :class:`~logad.settings.IngestSettings` (a dict is taken as values over
    ``configs/ingest.yaml`` and validated at once). The manifest lists every
    file with lines read, parsed, rejected, events, unmatched, bad UTF-8 lines, bytes and seconds,
    plus totals, where ``lines_read == parsed + rejected`` for every file. Files that failed (empty,
    binary, truncated, corrupt) carry their message under ``errors``; the others still finish.
    """
    t0 = time.perf_counter()
    settings = coerce(IngestSettings, cfg)
    cfg = settings.dump()
    out = as_folder(out_dir)
    preset = _resolve_preset(cfg)
    parquet = settings.parquet.writer()
    labels = load_labels(cfg["labels"]) if cfg.get("labels") else None
    all_files = expand_sources(list(sources), cfg.get("read_timeout_s"))
    files, file_cols, extra = _file_columns(all_files, preset, cfg)
    local = in_process(sum(f.size for f in files), settings.in_process_below_bytes)
    if isinstance(out, str):
        return _run_to_store(sources, Store.at(out), settings, preset, parquet, labels, all_files,
                             files, file_cols, extra, t0, local)
    with run_lock(out, "ingest"):
        remove_leftovers(out, ("events", "rejected", "_units"))
        if not local:
            ensure_ray()
        return _run(sources, out, settings, preset, parquet, labels, all_files, files, file_cols,
                    extra, t0, local)


def _run(sources: Sequence[str], out: Path, settings: IngestSettings, preset: Preset,
         parquet: ParquetSettings,
         labels: LabelSpec | None, all_files: list[SourceFile], files: list[SourceFile],
         file_cols: dict, extra: dict, t0: float, local: bool = False) -> dict:
    """The work of :func:`run_ingest` once its inputs are checked and ``out`` is locked (in
    this process when ``local``)."""
    cfg = settings.dump()
    units = plan_units(files, int(cfg["chunk_bytes"]), count_newlines=lambda tasks:
                       count_newlines_parallel(tasks, cfg.get("read_timeout_s"), here=local))

    done, todo = [], []
    for u in units:
        fp = _fingerprint(u, settings)
        marker = out / "_units" / f"part-{u.index:06d}.json"
        if marker.exists():
            row = read_json(marker)
            if row.get("fingerprint") == fp and (not row["has_events"] or
                                                  (out / "events" / f"part-{u.index:06d}.parquet").exists()):
                done.append(row)
                continue
        todo.append((u, fp))
    log.info("ingest: %d files, %d units (%d already done)", len(files), len(units), len(done))

    rows = list(done)
    mark_running(out)
    if todo:
        rows += map_unit_groups(IngestWorker, (preset, labels, file_cols, str(out), cfg, parquet),
                                todo, settings.workers, "ingest", local=local)

    # keep only shards of this plan: a re-run with another chunk size must not leave stale parts
    expected = {f"part-{u.index:06d}.parquet" for u in units}
    for sub in ("events", "rejected"):
        for p in (out / sub).glob("part-*.parquet") if (out / sub).exists() else []:
            if p.name not in expected:
                p.unlink()

    _side_tables(rows, labels, preset, cfg, all_files, extra,
                 lambda table, name: write_parquet(table, out / name))
    manifest = _manifest(sources, preset, units, done, rows, extra, t0, "ingest_config.yaml")
    manifest["in_process"] = local
    manifest["parts"] = part_entries(out, [f"events/part-{r['unit']:06d}.parquet"
                                           for r in sorted(rows, key=lambda r: r["unit"])
                                           if r["has_events"]])
    write_yaml(cfg, out / "ingest_config.yaml")
    return write_manifest(manifest, out / "manifest.json")


def _run_to_store(sources: Sequence[str], store: Store, settings: IngestSettings, preset: Preset,
                  parquet: ParquetSettings, labels: LabelSpec | None,
                  all_files: list[SourceFile], files: list[SourceFile], file_cols: dict,
                  extra: dict, t0: float, local: bool = False) -> dict:
    """:func:`run_ingest` into a folder on object storage: every unit into a new run's prefix,
    then the manifest commits it (:mod:`logad.io.store`). The skip key is the inputs' (name,
    size) and the settings: a re-run of a committed run returns its manifest."""
    cfg = settings.dump()
    key = stage_key([], settings, [[f.display, f.size] for f in all_files])
    done = finished_manifest(store.url, key)
    if done:
        log.info("%s: ingest already complete for these inputs and settings; skipping", store.url)
        return {**done, "skipped": True}
    units = plan_units(files, int(cfg["chunk_bytes"]), count_newlines=lambda tasks:
                       count_newlines_parallel(tasks, cfg.get("read_timeout_s"), here=local))
    run = new_run()
    log.info("ingest: %d files, %d units into %s/%s", len(files), len(units), store.url, run)
    if not local:
        ensure_ray()
    rows = map_unit_groups(IngestWorker, (preset, labels, file_cols, store.url, cfg, parquet, run),
                           [(u, _fingerprint(u, settings)) for u in units], settings.workers,
                           "ingest", local=local) if units else []
    _side_tables(rows, labels, preset, cfg, all_files, extra,
                 lambda table, name: store.write_parquet(table, f"{run}/{name}"))
    manifest = _manifest(sources, preset, units, [], rows, extra, t0, f"{run}/ingest_config.yaml")
    manifest["in_process"] = local
    # a stalled read, or a file that failed before its read, is tried again by the next run
    retry = any(r.get("stalled") for r in rows) or any(u.file.error for u in units)
    manifest["run_key"] = None if retry else key
    manifest["parts"] = part_entries(store.url, [f"{run}/events/part-{r['unit']:06d}.parquet"
                                                 for r in sorted(rows, key=lambda r: r["unit"])
                                                 if r["has_events"]])
    store.write_bytes(f"{run}/ingest_config.yaml",
                      yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True).encode("utf-8"))
    return commit(store, manifest, run)


def _side_tables(rows: list[dict], labels: LabelSpec | None, preset: Preset, cfg: dict,
                 all_files: list[SourceFile], extra: dict, write) -> None:
    """``labels.parquet`` (the session labels seen) and LO2's ``metrics.parquet``, each given
    to ``write(table, name)``; the metrics' counts go into ``extra``."""
    seen_keys = sorted({k for r in rows for k in r.get("keys", [])})
    if labels is not None:
        lab = session_labels(labels, seen_keys)
        if lab is not None:
            write(lab, "labels.parquet")
    if preset.name.lower() == "lo2" and cfg["lo2"].get("load_metrics"):
        metrics, problems = load_lo2_metrics(all_files)
        write(metrics, "metrics.parquet")
        extra["metrics_rows"] = metrics.num_rows
        extra["metrics_problems"] = problems


def _manifest(sources: Sequence[str], preset: Preset, units: list[WorkUnit], done: list[dict],
              rows: list[dict], extra: dict, t0: float, settings_file: str) -> dict:
    """The manifest of an ingest run, but its ``parts``."""
    file_rows = _file_rows(rows)
    totals = {k: sum(f[k] for f in file_rows) for k in _COUNTS}
    errors = [e for f in file_rows for e in f["errors"]]
    return {
        "stage": "ingest", "status": "complete", "logad_version": __version__,
        "preset": preset.name,
        "inputs": [str(s) for s in sources], "units": len(units), "units_skipped": len(done),
        "counts": {"read": totals["lines_read"], "processed": totals["parsed"],
                   "rejected": totals["rejected"]},
        "settings_file": settings_file,
        "files": file_rows, "totals": totals, "errors": errors, "n_files": len(file_rows),
        "n_files_failed": sum(1 for f in file_rows if f["errors"]),
        "accounting_ok": all(f["lines_read"] == f["parsed"] + f["rejected"] for f in file_rows),
        "seconds": round(time.perf_counter() - t0, 3), **extra,
    }
