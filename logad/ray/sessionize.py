"""Runner for ``logad sessionize``: parsed events -> ``sequences/``, ``split.parquet``, manifest.

Plan (driver): list the input units (one per row group of each ``part-*.parquet``), cut them
into groups (``ray.read_blocks`` equal groups, or shrinking groups as parse does) and hand the
groups to :class:`~logad.sessions.worker.SessionizeWorker` s: Ray actors (one CPU each,
``workers`` or one per cluster CPU), or, for inputs under ``ray.in_process_below`` lines,
one worker in this process (same functions, same output, no Ray start-up).

1. Key: every unit's lines get their session key and are spilled by a hash bucket of it
   (``out_dir/_spill``); lines without a key are found from the key column (``raw`` is read
   only for them) and written to ``rejected/``. Line-count windows (fixed, sliding) spill by
   rank bucket ``(source, order >> 16)`` first; the driver prefix-sums the per-bucket line
   counts, and a second spill ranks each rank bucket and emits one row per window a line is in.
2. Build: each session bucket (every session whole, many per bucket) becomes ``sequences``
   rows with labels; the workers return one small key row a session. The driver holds only
   those (``session_id, start_time, first_order, label, seq_len, seq_hash``) and calls
   :func:`logad.sessions.make_split`.
3. Write: each bucket's sessions get their split and go to ``sequences/part-<bucket>.parquet``.

No Ray Data shuffle: a bucket is a set of Parquet row groups a worker reads whole. Session ids
are content-derived and buckets are hashes of them, so the output does not depend on the number
of groups or workers. Outputs are written atomically; ``manifest.json`` last; the spill is
removed when the run completes.

Either folder may be an object-storage URL (``s3://...``, :mod:`logad.io.store`). The input is
read by URL. For an output there, the run works in a local folder of the driver (the spill is
memory-mapped, and a bucket's spill is read by another worker than the one that wrote it), so
its workers run on the driver's node (in this process when the cluster has more nodes); then
the driver uploads its files under the run's prefix ``_runs/<run-id>/`` and the manifest,
written last, commits the run.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from logad import __version__
from logad.errors import InputError
from logad.io import (StageFolder, Store, Timer, as_folder, atomic_dir, commit, finished_manifest,
                      mark_running, new_run, open_parquet, open_stage, part_entries, read_table,
                      write_manifest, write_parquet, write_yaml)
from logad.ray.pool import equal_groups, guided_groups
from logad.ray.workers import Workers, in_process
from logad.schema import REJECTED_SCHEMA, require_columns
from logad.sessions.build import apply_session_labels
from logad.sessions.schema import EVENT_COLUMNS, SEQUENCES_SCHEMA, SPLIT_SCHEMA
from logad.sessions.split import make_split
from logad.sessions.worker import KEYS_SCHEMA, SessionizeWorker, merge_keys, session_keys
from logad.settings import SessionizeSettings, coerce, stage_key
from logad.settings.sessionize import ID_MODES, MODES

__all__ = ["MODES", "resolve_config", "run_sessionize"]

log = logging.getLogger(__name__)

def resolve_config(cfg: SessionizeSettings | dict[str, Any] | None) -> SessionizeSettings:
    """``configs/sessionize.yaml`` updated by ``cfg``, validated (:func:`logad.settings.coerce`);
    raises :class:`~logad.errors.ConfigError`."""
    return coerce(SessionizeSettings, cfg)


def _input(parsed_dir: Path | str) -> StageFolder:
    """The finished `logad parse` output (an unfinished or damaged input is refused with a
    message saying how to finish it); its parts' footers are read here, once."""
    found = open_stage(parsed_dir, "parse")
    if not found.parts:
        raise InputError(f"{parsed_dir}: the parse output lists no parts; re-run `logad parse`")
    return found


def _labels_path(settings: SessionizeSettings, stage_in: StageFolder, parsed_dir: Path | str
                 ) -> Path | str | None:
    """``settings.labels`` (must exist), else the first ``labels.parquet`` beside the events."""
    if settings.labels:
        path = Path(settings.labels)
        if not path.is_file():
            raise InputError(f"labels file {path} not found (--labels / labels:)")
        return path
    if stage_in.store is not None:
        return stage_in.side("labels.parquet") if stage_in.has_side("labels.parquet") else None
    events_dir, parsed_dir = Path(stage_in.files[0]).parent, Path(parsed_dir)
    for cand in (events_dir / "labels.parquet", parsed_dir / "labels.parquet"):
        if cand.is_file():
            return cand
    return None


def _rank_offsets(counts: list[pa.Table]) -> tuple[dict, dict]:
    """Global rank of the first line of each ``(source, rank bucket)`` and lines per source."""
    counts = [c for c in counts if c is not None and c.num_rows]
    if not counts:
        return {}, {}
    merged = pa.concat_tables(counts).group_by(["source", "_rb"]).aggregate([("_rb_count", "sum")]) \
        .sort_by([("source", "ascending"), ("_rb", "ascending")])
    offsets, totals = {}, {}
    for src, rb, n in zip(*(merged.column(c).to_pylist() for c in ("source", "_rb", "_rb_count_sum"))):
        offsets[(src, rb)] = totals.get(src, 0)
        totals[src] = totals.get(src, 0) + n
    return offsets, totals


class _KeyMerger:
    """Partial session keys merged as they arrive, so the driver holds O(sessions) rows."""

    def __init__(self) -> None:
        self.parts: list[pa.Table] = []
        self.rows = self.merged_rows = 0

    def add(self, part: pa.Table | None) -> None:
        if part is None or part.num_rows == 0:
            return
        self.parts.append(part)
        self.rows += part.num_rows
        if self.rows > 2 * self.merged_rows + 200_000:
            self.parts = [merge_keys(self.parts)]
            self.rows = self.merged_rows = self.parts[0].num_rows

    def result(self) -> pa.Table:
        return merge_keys(self.parts)


def _by_bucket(index: list[pa.Table]) -> list[tuple[int, pa.Table]]:
    """Spill index rows grouped by bucket, buckets ascending (files in input order within)."""
    idx = [t for t in index if t.num_rows]
    if not idx:
        return []
    t = pa.concat_tables(idx)
    t = t.take(pc.sort_indices(t, sort_keys=[("bucket", "ascending"), ("file", "ascending"),
                                              ("row_group", "ascending")]))
    out, buckets = [], t.column("bucket").to_numpy()
    for b in sorted(set(buckets.tolist())):
        out.append((int(b), t.filter(pc.equal(t.column("bucket"), b))))
    return out


def _key_pass(workers: Workers, groups: list, plan: dict, out_dir: Path, by: str, timer: Timer
              ) -> tuple[list[tuple[int, pa.Table]], dict[str, int], _KeyMerger]:
    """Pass 1 (and, for line-count windows, the ranking pass): every line keyed and spilled by
    bucket, the keyless lines written to ``rejected/``. Returns the buckets (with their spill
    index), the rejected counts by reason and the merged partial session keys."""
    with timer("key_spill"), atomic_dir(out_dir / "rejected") as rej_tmp:
        workers.each("set_plan", {**plan, "rejected_dir": str(rej_tmp)})
        index, reasons, counts, merger = [], {}, [], _KeyMerger()
        for idx, why, cnt, part in workers.map("key_units", groups, progress="sessionize: key"):
            index.append(idx)
            counts.append(cnt)
            merger.add(part)
            for r, n in why.items():
                reasons[r] = reasons.get(r, 0) + n
        if not glob.glob(str(rej_tmp / "*.parquet")):
            pq.write_table(REJECTED_SCHEMA.empty_table(), rej_tmp / "part-empty.parquet")
    buckets = _by_bucket(index)
    if by in ("fixed", "sliding"):
        with timer("windows"):
            workers.each("set_ranks", *_rank_offsets(counts))
            index = []
            for idx, part in workers.map("window_buckets", buckets, progress="sessionize: windows"):
                index.append(idx)
                merger.add(part)
            buckets = _by_bucket(index)
    return buckets, reasons, merger


def _session_keys(workers: Workers, buckets: list[tuple[int, pa.Table]], merger: _KeyMerger,
                  labels: pa.Table | None, early: bool, id_mode: str, timer: Timer) -> pa.Table:
    """One :data:`KEYS_SCHEMA` row a session, labelled: from the lines' keys when the split
    needs no event ids (``early``), else from building every bucket (dedup)."""
    if early:
        return apply_session_labels(session_keys(merger.result(), id_mode), labels)
    with timer("build"):
        keys_tables = [k for k in workers.map("build_bucket", buckets, progress="sessionize: build")
                       if k.num_rows]
    return pa.concat_tables(keys_tables) if keys_tables else KEYS_SCHEMA.empty_table()


def _write_pass(workers: Workers, buckets: list[tuple[int, pa.Table]], split: pa.Table,
                early: bool, out_dir: Path) -> int:
    """Each bucket's sessions with their split into ``sequences/`` (built here when
    ``early``); returns the sessions written."""
    with atomic_dir(out_dir / "sequences") as tmp:
        workers.each("set_split", split)
        if early:
            items, method = [(b, idx, str(tmp)) for b, idx in buckets], "build_write_bucket"
        else:
            items, method = [(b, str(tmp)) for b, _ in buckets], "write_bucket"
        written = sum(workers.map(method, items, progress="sessionize: write"))
        if not glob.glob(str(tmp / "*.parquet")):
            pq.write_table(SEQUENCES_SCHEMA.empty_table(), tmp / "part-empty.parquet")
    return written


def run_sessionize(parsed_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                   cfg: SessionizeSettings | dict[str, Any] | None = None) -> dict[str, Any]:
    """Sessionize a parsed-events folder; returns the manifest.

    Parameters
    ----------
    parsed_dir : path
        Folder with ``part-*.parquet`` (``EVENTS_SCHEMA`` + ``template_id`` + preset columns),
        directly or in ``events/``, and optionally ``labels.parquet`` (in either folder; or
        ``cfg["labels"]``). Session labels from it win over line labels in id modes.
    out_dir : path
        Receives ``sequences/`` (Parquet, :data:`SEQUENCES_SCHEMA`), ``split.parquet``,
        ``rejected/`` (lines in no session, with the reason), ``sessionize_config.yaml`` and
        ``manifest.json``.
    cfg : SessionizeSettings or dict, optional
        The resolved settings; a dict (or None) is taken as values over
        ``configs/sessionize.yaml`` and validated at once.

    Returns
    -------
    dict
        The manifest: ``events_read = lines_sessioned + rejected.total``, sessions built /
        written, duplicates removed, train anomalies dropped, per-split counts, timings, and
        ``retried``: items redone because their worker died (a worker that dies is replaced and
        its work redone with the same result; when none is left the run stops with
        :class:`~logad.errors.WorkerLost`).
    """
    settings = resolve_config(cfg)
    parsed_dir, out = as_folder(parsed_dir), as_folder(out_dir)
    stage_in = _input(parsed_dir)
    files = [str(p) for p in stage_in.files]
    by = settings.by
    key_col = getattr(settings.keys, by) if by in ID_MODES else None
    needed = [*EVENT_COLUMNS] + ([key_col] if key_col and key_col not in EVENT_COLUMNS else [])
    for part in stage_in.parts:
        require_columns(part.schema, needed, f"{part.path} (sessionize --by {by})")
    labels_path = _labels_path(settings, stage_in, parsed_dir) if by in ID_MODES else None
    key = stage_key([*files, *([labels_path] if labels_path else [])], settings)
    done = finished_manifest(out, key)
    if done:
        log.info("%s: sessionize already complete for these inputs and settings; skipping", out)
        return {**done, "skipped": True}
    labels = None
    if labels_path is not None:
        require_columns(open_parquet(labels_path).schema_arrow, ["session_key", "label"],
                        str(labels_path))
        labels = read_table(labels_path, columns=["session_key", "label"])
    if isinstance(out, str):
        work = Path(tempfile.mkdtemp(prefix="logad-sessionize-"))
        try:
            manifest = _sessionize(settings, stage_in, parsed_dir, work, key, labels, labels_path,
                                   one_node=True)
            return _upload(Store.at(out), work, manifest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return _sessionize(settings, stage_in, parsed_dir, out, key, labels, labels_path)


def _upload(store: Store, work: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The files of a run made in the local folder ``work`` uploaded under a new run's prefix
    of ``store``, then its manifest (naming them there) committed."""
    run = new_run()
    for path in sorted(p for p in work.rglob("*") if p.is_file()):
        rel = path.relative_to(work).as_posix()
        if rel != "manifest.json":
            store.fs.put_file(str(path), store.path(f"{run}/{rel}"))
    manifest = {**manifest,
                "parts": [{**p, "file": f"{run}/{p['file']}"} for p in manifest["parts"]],
                "settings_file": f"{run}/{manifest['settings_file']}",
                "outputs": {k: store.url_of(f"{run}/{Path(v).relative_to(work).as_posix()}")
                            for k, v in manifest["outputs"].items()}}
    return commit(store, manifest, run)


def _sessionize(settings: SessionizeSettings, stage_in: StageFolder, parsed_dir: Path | str,
                out_dir: Path, key: str, labels: pa.Table | None,
                labels_path: Path | str | None, one_node: bool = False) -> dict[str, Any]:
    """The work of :func:`run_sessionize` into the local folder ``out_dir`` once the skip
    check is done; with ``one_node``, its workers all run on this node."""
    by = settings.by
    key_col = getattr(settings.keys, by) if by in ID_MODES else None
    needed = [*EVENT_COLUMNS] + ([key_col] if key_col and key_col not in EVENT_COLUMNS else [])
    n_read = stage_in.num_rows
    n_buckets = settings.ray.num_partitions or max(2, min(512, n_read // 250_000 + 1))
    blocks = settings.ray.read_blocks
    local = in_process(n_read, settings.ray.in_process_below)
    timer = Timer()
    out_dir.mkdir(parents=True, exist_ok=True)
    mark_running(out_dir)  # an earlier manifest must not vouch for the parts this run replaces
    spill = out_dir / "_spill"
    shutil.rmtree(spill, ignore_errors=True)  # a killed run's leftovers
    spill.mkdir(parents=True)
    build_kw = {"id_mode": "first_order" if by in ("fixed", "sliding") else "key",
                "error_levels": list(settings.error_levels), "keep_messages": settings.keep_messages}
    early = not settings.dedup  # the split needs no event ids: it can be made before the sessions
    plan = {"by": by, "key_col": key_col, "columns": needed, "n_buckets": n_buckets, "early_split": early,
            "spill_dir": str(spill), "span_sec": settings.span_sec, "step_sec": settings.step_sec,
            "size": settings.window, "step": settings.step}

    with timer("start_workers"):
        if not local:
            from logad.ray.pool import pool_size
            from logad.ray.runtime import ensure_ray
            from logad.ray.runtime import one_node as on_one_node

            ensure_ray()
            if one_node and not on_one_node():
                log.warning("sessionize into object storage: its workers share a local spill, "
                            "so they run in this process (the cluster has several nodes)")
                local = True
        units = stage_in.units()
        n_workers = 1 if local else pool_size(settings.workers)
        groups = equal_groups(units, blocks) if blocks else guided_groups(units, n_workers)
        workers = Workers(SessionizeWorker, (plan, build_kw), n=min(n_workers, len(groups)), local=local)
    try:
        buckets, reasons, merger = _key_pass(workers, groups, plan, out_dir, by, timer)
        n_rejected = sum(reasons.values())
        workers.each("set_labels", labels)
        keys = _session_keys(workers, buckets, merger, labels, early, build_kw["id_mode"], timer)
        session_rows = int(pc.sum(keys.column("seq_len")).as_py() or 0)
        n_sessioned = n_read - n_rejected
        exact = by in ("instance", "file", "fixed")
        if (exact and session_rows != n_sessioned) or session_rows < n_sessioned:
            raise RuntimeError(f"sessionize lost lines: {n_sessioned} lines with a session, {session_rows} "
                               f"rows in sessions (by={by})")  # a bug, not bad input

        with timer("split"):
            sp = settings.split
            fracs = (1.0 - sp.val_frac - sp.test_frac, sp.val_frac, sp.test_frac)
            split, stats = make_split(keys, how=sp.how, fracs=fracs, seed=sp.seed,
                                      dedup=settings.dedup, train_normal_only=settings.train_normal_only)
            write_parquet(split.cast(SPLIT_SCHEMA), out_dir / "split.parquet")

        with timer("build_write" if early else "write"):
            written = _write_pass(workers, buckets, split, early, out_dir)
    finally:
        workers.close()
    shutil.rmtree(spill, ignore_errors=True)

    write_yaml(settings.dump(), out_dir / "sessionize_config.yaml")
    manifest = {
        "stage": "sessionize", "status": "complete", "logad_version": __version__, "run_key": key,
        "inputs": [str(parsed_dir)], "input": str(parsed_dir), "by": by, "key_column": key_col,
        "counts": {"read": n_read, "processed": n_sessioned, "rejected": n_rejected},
        "settings_file": "sessionize_config.yaml",
        "labels_from": str(labels_path) if labels is not None else "line labels",
        "events_read": n_read, "lines_sessioned": n_sessioned,
        "rejected": {"total": n_rejected, "reasons": reasons},
        "session_rows": session_rows, "sessions_built": stats["sessions_in"],
        "duplicates_removed": stats["duplicates_removed"],
        "train_anomalous_dropped": stats["train_anomalous_dropped"],
        "sessions_written": written, "splits": stats["splits"], "split_how": sp.how,
        "seconds": timer.seconds, "in_process": local, "workers": 1 if local else n_workers,
        # items redone after their worker died (its process or node): the output is the same
        "retried": workers.retried,
        "groups": len(groups), "buckets": n_buckets,
        "outputs": {"sequences": str(out_dir / "sequences"), "split": str(out_dir / "split.parquet"),
                    "rejected": str(out_dir / "rejected"), "config": str(out_dir / "sessionize_config.yaml")},
    }
    manifest["parts"] = part_entries(out_dir, [f"sequences/{p.name}" for p in
                                               sorted((out_dir / "sequences").glob("*.parquet"))])
    write_manifest(manifest, out_dir / "manifest.json")
    log.info("sessionize: %d events -> %d sessions (%d rejected lines)", n_read, written, n_rejected)
    return manifest

