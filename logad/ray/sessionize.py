"""Runner for ``logad sessionize``: parsed events -> ``sequences/``, ``split.parquet``, manifest.

Plan (Ray Data, no pandas on the driver except the small per-session key table):

* id sessions (block, instance, file): read -> ``key_rows`` per block (explode for HDFS blocks)
  -> group by a hash bucket of the session key (``map_groups``: every session lands whole in one
  bucket, many sessions per call) -> ``build_sequences``.
* line-count windows (fixed, sliding): a line's window depends on its rank in the global
  ``order`` of its source. Pass 1 counts lines per ``(source, order >> 16)`` bucket on the blocks
  and prefix-sums the counts on the driver; pass 2 groups each bucket (<= 65,536 lines), ranks it
  and emits one row per window the line is in; then the same bucketed build as above.
* time windows: epoch-aligned, so each line's windows come from its own timestamp (no global
  pass); lines without a timestamp are rejected.

Session ids are content-derived and buckets are hashes of them, so the output does not depend on
the number of blocks, partitions or workers. The split needs every session's start time: the
driver collects ``(session_id, start_time, first_order, label, seq_hash)`` and calls
:func:`logad.sessions.make_split`. Outputs are written atomically; ``manifest.json`` last.
"""

from __future__ import annotations

import glob
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from logad import __version__
from logad.config import deep_merge, load_yaml
from logad.errors import ConfigError, InputError
from logad.io import Timer, atomic_dir, finished_manifest, run_key, write_json, write_parquet, write_yaml
from logad.schema import require_columns
from logad.sessions.build import SESSION_COL, apply_session_labels, build_sequences, key_rows, rejected_rows
from logad.sessions.schema import EVENT_COLUMNS, SEQUENCES_SCHEMA, SPLIT_SCHEMA
from logad.sessions.split import attach_split, make_split, sequence_hash
from logad.sessions.windows import (RANK_BUCKET_BITS, count_window_rows, parse_duration,
                                    time_window_rows)

__all__ = ["MODES", "resolve_config", "run_sessionize", "ray_data_get"]

log = logging.getLogger(__name__)

ID_MODES = ("block", "instance", "file")
MODES = (*ID_MODES, "fixed", "sliding", "time")
_BUCKET = "_bucket"
_RB = "_rb"


def resolve_config(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """``configs/sessionize.yaml`` updated by ``cfg``, checked; raises :class:`ConfigError`."""
    out = deep_merge(load_yaml("sessionize"), cfg or {})
    by = out.get("by")
    if by not in MODES:
        raise ConfigError(f"by must be one of {', '.join(MODES)}, got {by!r}")
    try:
        if by in ("fixed", "sliding"):
            out["window"] = int(out["window"])
            out["step"] = out["window"] if by == "fixed" or out.get("step") is None else int(out["step"])
            if out["window"] < 1 or not 1 <= out["step"] <= out["window"]:
                raise ConfigError(f"need window >= 1 and 1 <= step <= window, got window={out['window']} "
                                  f"step={out['step']}")
        if by == "time":
            span = parse_duration(out["span"])
            step = span if out.get("step") is None else parse_duration(out["step"])
            if step > span:
                raise ConfigError(f"time step ({step}s) must not exceed span ({span}s): lines would be left out")
            out["span_sec"], out["step_sec"] = span, step
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"sessionize window settings: {exc}") from None
    sp = out["split"]
    if sp.get("how") not in ("chronological", "random"):
        raise ConfigError(f"split.how must be chronological or random, got {sp.get('how')!r}")
    val, test = float(sp.get("val_frac", 0)), float(sp.get("test_frac", 0))
    if val < 0 or test < 0 or val + test > 1:
        raise ConfigError(f"split fractions need val_frac, test_frac >= 0 and val+test <= 1, got {val}, {test}")
    sp["val_frac"], sp["test_frac"], sp["seed"] = val, test, int(sp.get("seed") or 0)
    return out


def _input_files(parsed_dir: Path) -> tuple[Path, list[str]]:
    """The folder holding ``part-*.parquet`` (``parsed_dir`` or its ``events/``) and its files."""
    for folder in (parsed_dir, parsed_dir / "events"):
        files = sorted(glob.glob(str(folder / "part-*.parquet")))
        if files:
            return folder, files
    raise InputError(f"{parsed_dir}: no part-*.parquet files (nor in {parsed_dir / 'events'}); "
                     "run `logad parse` first and pass its --out folder")


def _labels_path(cfg: dict[str, Any], parsed_dir: Path, events_dir: Path) -> Path | None:
    """``cfg['labels']`` (must exist), else the first ``labels.parquet`` beside the events."""
    if cfg.get("labels"):
        path = Path(cfg["labels"])
        if not path.is_file():
            raise InputError(f"labels file {path} not found (--labels / labels:)")
        return path
    for cand in (events_dir / "labels.parquet", parsed_dir / "labels.parquet"):
        if cand.is_file():
            return cand
    return None


def _bucket_of(keys: pa.Array | pa.ChunkedArray, n_buckets: int) -> pa.Array:
    values = np.asarray(keys.to_pylist(), dtype=object)
    h = pd.util.hash_array(values) if len(values) else np.zeros(0, dtype=np.uint64)
    return pa.array((h % np.uint64(n_buckets)).astype(np.int64))


# --- batch functions (module level so Ray can pickle them) ---------------------------------------

def _key_batch(batch: pa.Table, key_col: str, explode: bool, n_buckets: int) -> pa.Table:
    keyed, _ = key_rows(batch, key_col, explode=explode)
    keyed = keyed.select([*EVENT_COLUMNS, SESSION_COL])
    return keyed.append_column(_BUCKET, _bucket_of(keyed.column(SESSION_COL), n_buckets))


def _rejected_batch(batch: pa.Table, by: str, key_col: str | None) -> pa.Table:
    if by == "time":
        has = np.asarray(pc.is_valid(batch.column("timestamp")).to_numpy(zero_copy_only=False), dtype=bool)
        return rejected_rows(batch, ~has, "no timestamp")
    _, rejected = key_rows(batch, key_col, explode=by == "block")
    return rejected


def _time_batch(batch: pa.Table, span_sec: float, step_sec: float, n_buckets: int) -> pa.Table:
    keyed, _ = time_window_rows(batch, span_sec, step_sec)
    keyed = keyed.select([*EVENT_COLUMNS, SESSION_COL])
    return keyed.append_column(_BUCKET, _bucket_of(keyed.column(SESSION_COL), n_buckets))


def _add_rank_bucket(batch: pa.Table) -> pa.Table:
    rb = pc.shift_right(batch.column("order"), RANK_BUCKET_BITS)
    return batch.append_column(_RB, rb)


def _rank_bucket_counts(batch: pa.Table) -> pa.Table:
    b = _add_rank_bucket(batch.select(["source", "order"]))
    return b.group_by(["source", _RB]).aggregate([("order", "count")])


def _rank_window_group(group: pa.Table, offsets: dict, totals: dict, size: int, step: int,
                       n_buckets: int) -> pa.Table:
    group = group.sort_by([("order", "ascending")])
    src, rb = group.column("source")[0].as_py(), group.column(_RB)[0].as_py()
    rank = offsets[(src, rb)] + np.arange(group.num_rows, dtype=np.int64)
    keyed = count_window_rows(group.select(list(EVENT_COLUMNS)), rank, totals, size, step)
    return keyed.append_column(_BUCKET, _bucket_of(keyed.column(SESSION_COL), n_buckets))


def _build_group(group: pa.Table, id_mode: str, labels: pa.Table | None, error_levels: list[str],
                 keep_messages: bool) -> pa.Table:
    seqs = build_sequences(group.drop_columns([_BUCKET]), id_mode=id_mode, error_levels=error_levels,
                           keep_messages=keep_messages)
    return apply_session_labels(seqs, labels)


def _split_keys(batch: pa.Table) -> pa.Table:
    return pa.table({"session_id": batch.column("session_id"), "start_time": batch.column("start_time"),
                     "first_order": batch.column("first_order"), "label": batch.column("label"),
                     "seq_len": batch.column("seq_len"), "seq_hash": sequence_hash(batch.column("event_ids"))})


def _attach_batch(batch: pa.Table, split: pa.Table) -> pa.Table:
    return attach_split(batch, split).cast(SEQUENCES_SCHEMA)


# --- the runner ----------------------------------------------------------------------------------

def _read(ray_data: Any, files: list[str], columns: list[str], blocks: int | None) -> Any:
    """``read_parquet`` of ``columns``, cut into exactly ``blocks`` blocks when given."""
    ds = ray_data.read_parquet(files, columns=list(dict.fromkeys(columns)))
    return ds.repartition(blocks) if blocks else ds


def _rank_offsets(ray_data: Any, files: list[str], blocks: int | None) -> tuple[dict, dict]:
    counts = _read(ray_data, files, ["source", "order"], blocks) \
        .map_batches(_rank_bucket_counts, batch_format="pyarrow", batch_size=None)
    tables = ray_data_get(counts)
    if not tables:
        return {}, {}
    merged = pa.concat_tables(tables).group_by(["source", _RB]).aggregate([("order_count", "sum")]) \
        .sort_by([("source", "ascending"), (_RB, "ascending")])
    offsets, totals = {}, Counter()
    for src, rb, n in zip(*(merged.column(c).to_pylist() for c in ("source", _RB, "order_count_sum"))):
        offsets[(src, rb)] = totals[src]
        totals[src] += n
    return offsets, dict(totals)


def ray_data_get(ds: Any) -> list[pa.Table]:
    """The blocks of ``ds`` as Arrow tables on the driver (for small results only)."""
    import ray

    return [t for t in ray.get(ds.to_arrow_refs()) if t.num_rows]


def _reason_counts(folder: Path) -> dict[str, int]:
    files = sorted(glob.glob(str(folder / "*.parquet")))
    if not files:
        return {}
    reasons = pa.concat_tables([pq.read_table(f, columns=["reason"]) for f in files]).column("reason")
    return {r["values"]: int(r["counts"]) for r in pc.value_counts(reasons).to_pylist()}


def run_sessionize(parsed_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                   cfg: dict[str, Any] | None = None) -> dict[str, Any]:
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
    cfg : dict, optional
        Overrides of ``configs/sessionize.yaml``.

    Returns
    -------
    dict
        The manifest: ``events_read = lines_sessioned + rejected.total``, sessions built /
        written, duplicates removed, train anomalies dropped, per-split counts, timings.
    """
    import ray

    from logad.ray.runtime import ensure_ray

    cfg = resolve_config(cfg)
    parsed_dir, out_dir = Path(parsed_dir), Path(out_dir)
    events_dir, files = _input_files(parsed_dir)
    by = cfg["by"]
    key_col = cfg["keys"][by] if by in ID_MODES else None
    needed = [*EVENT_COLUMNS] + ([key_col] if key_col and key_col not in EVENT_COLUMNS else [])
    for f in files:
        require_columns(pq.read_schema(f), needed, f"{f} (sessionize --by {by})")
    labels_path = _labels_path(cfg, parsed_dir, events_dir) if by in ID_MODES else None
    key = run_key([*files, *([labels_path] if labels_path else [])], cfg)
    done = finished_manifest(out_dir, key)
    if done:
        log.info("%s: sessionize already complete for these inputs and settings; skipping", out_dir)
        return {**done, "skipped": True}
    labels = None
    if labels_path is not None:
        require_columns(pq.read_schema(labels_path), ["session_key", "label"], str(labels_path))
        labels = pq.read_table(labels_path, columns=["session_key", "label"])
    n_read = sum(pq.read_metadata(f).num_rows for f in files)
    ray_cfg = cfg.get("ray") or {}
    n_buckets = int(ray_cfg.get("num_partitions") or max(2, min(512, n_read // 250_000 + 1)))
    blocks = int(ray_cfg["read_blocks"]) if ray_cfg.get("read_blocks") else None
    ensure_ray(ray_cfg.get("num_cpus"))
    rd = ray.data
    timer = Timer()
    out_dir.mkdir(parents=True, exist_ok=True)
    build_kw = {"id_mode": "first_order" if by in ("fixed", "sliding") else "key",
                "labels": labels, "error_levels": list(cfg["error_levels"]),
                "keep_messages": bool(cfg["keep_messages"])}

    with timer("rejected"), atomic_dir(out_dir / "rejected") as tmp:
        if by in ID_MODES or by == "time":
            cols = ["path", "line_no", "raw"] + ([key_col] if key_col else ["timestamp"])
            _read(rd, files, cols, blocks) \
                .map_batches(_rejected_batch, batch_format="pyarrow", fn_kwargs={"by": by, "key_col": key_col}) \
                .write_parquet(str(tmp))
        reasons = _reason_counts(tmp)
    n_rejected = sum(reasons.values())

    with timer("sessions"):
        ds = _read(rd, files, needed, blocks)
        if by in ID_MODES:
            keyed = ds.map_batches(_key_batch, batch_format="pyarrow", fn_kwargs={
                "key_col": key_col, "explode": by == "block", "n_buckets": n_buckets})
        elif by == "time":
            keyed = ds.map_batches(_time_batch, batch_format="pyarrow", fn_kwargs={
                "span_sec": cfg["span_sec"], "step_sec": cfg["step_sec"], "n_buckets": n_buckets})
        else:
            offsets, totals = _rank_offsets(rd, files, blocks)
            keyed = ds.map_batches(_add_rank_bucket, batch_format="pyarrow") \
                .groupby(["source", _RB], num_partitions=n_buckets) \
                .map_groups(_rank_window_group, batch_format="pyarrow", fn_kwargs={
                    "offsets": offsets, "totals": totals, "size": cfg["window"], "step": cfg["step"],
                    "n_buckets": n_buckets})
        seqs = keyed.groupby(_BUCKET, num_partitions=n_buckets) \
            .map_groups(_build_group, batch_format="pyarrow", fn_kwargs=build_kw).materialize()
        keys_tables = ray_data_get(seqs.map_batches(_split_keys, batch_format="pyarrow"))
    keys = pa.concat_tables(keys_tables) if keys_tables else _split_keys(SEQUENCES_SCHEMA.empty_table())
    session_rows = int(pc.sum(keys.column("seq_len")).as_py() or 0)
    n_sessioned = n_read - n_rejected
    exact = by in ("instance", "file", "fixed")
    if (exact and session_rows != n_sessioned) or session_rows < n_sessioned:
        raise RuntimeError(f"sessionize lost lines: {n_sessioned} lines with a session, {session_rows} "
                           f"rows in sessions (by={by})")  # a bug, not bad input

    with timer("split"):
        sp = cfg["split"]
        fracs = (1.0 - sp["val_frac"] - sp["test_frac"], sp["val_frac"], sp["test_frac"])
        split, stats = make_split(keys, how=sp["how"], fracs=fracs, seed=sp["seed"],
                                  dedup=bool(cfg["dedup"]), train_normal_only=bool(cfg["train_normal_only"]))
        write_parquet(split.cast(SPLIT_SCHEMA), out_dir / "split.parquet")

    with timer("write"), atomic_dir(out_dir / "sequences") as tmp:
        seqs.map_batches(_attach_batch, batch_format="pyarrow", fn_kwargs={"split": split}) \
            .write_parquet(str(tmp))
        if not glob.glob(str(tmp / "*.parquet")):
            pq.write_table(SEQUENCES_SCHEMA.empty_table(), tmp / "part-empty.parquet")
    written = sum(pq.read_metadata(f).num_rows for f in glob.glob(str(out_dir / "sequences" / "*.parquet")))

    write_yaml(cfg, out_dir / "sessionize_config.yaml")
    manifest = {
        "stage": "sessionize", "logad_version": __version__, "run_key": key, "input": str(parsed_dir), "by": by, "key_column": key_col,
        "labels_from": str(labels_path) if labels is not None else "line labels",
        "events_read": n_read, "lines_sessioned": n_sessioned,
        "rejected": {"total": n_rejected, "reasons": reasons},
        "session_rows": session_rows, "sessions_built": stats["sessions_in"],
        "duplicates_removed": stats["duplicates_removed"],
        "train_anomalous_dropped": stats["train_anomalous_dropped"],
        "sessions_written": written, "splits": stats["splits"], "split_how": sp["how"],
        "seconds": timer.seconds,
        "outputs": {"sequences": str(out_dir / "sequences"), "split": str(out_dir / "split.parquet"),
                    "rejected": str(out_dir / "rejected"), "config": str(out_dir / "sessionize_config.yaml")},
    }
    write_json(manifest, out_dir / "manifest.json")
    log.info("sessionize: %d events -> %d sessions (%d rejected lines)", n_read, written, n_rejected)
    return manifest

