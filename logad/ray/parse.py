"""Parse runner: an ``events`` folder in, parsed events + templates + template state out.

Plan (driver): list ``part-*.parquet``, resolve the masking rules (input preset + generic), load
the template state, cut the input into units (one per file row group). Work (Ray Data over the
units, streaming): each unit is read batch by batch, masked and summarised into its distinct
masked messages with their first occurrence, its per-file counts and its rejected lines, so a
worker holds one batch at a time. Mine (driver): the union of distinct messages, sorted by first
occurrence, goes through Drain once. Join (Ray Data, an actor pool that holds the
``masked -> template_id`` table once per worker): each unit is read and masked again, ids go onto
every line, and the worker writes ``events/part-<unit>.parquet`` itself.

Units are read with pyarrow inside the workers rather than with ``ray.data.read_parquet``: in
Ray 2.60 its reader held about 1 GB per worker on a 2M-line input (it grew with the input),
while a row group read batch by batch keeps a worker's memory flat.

Outputs in ``out_dir``: ``events/``, ``templates.parquet``, ``template_state.json``,
``rejected.parquet``, ``parse_config.yaml`` and, last, ``manifest.json`` (it marks the run
complete: a re-run with the same inputs, config and state returns it without work).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from logad import __version__
from logad.config import CONFIG_DIR, load_yaml
from logad.errors import ConfigError, InputError
from logad.io import Timer, atomic_dir, atomic_path, read_json, write_json, write_parquet, write_yaml
from logad.parsing.distinct import (SUMMARY_SCHEMA, DistinctTable, assign_ids, block_summary,
                                    drop_rejected, mask_block, split_summary)
from logad.parsing.masking import MaskPass, compile_passes, rules_from_config, rules_to_json, select_rules
from logad.parsing.miner import DrainSettings, TemplateMiner
from logad.parsing.state import (from_drain3_snapshot, from_state, is_logad_state, state_aliases,
                                 to_state)
from logad.parsing.templates import mine_distinct, templates_table
from logad.ray.runtime import ensure_ray
from logad.schema import EVENTS_SCHEMA, REJECTED_SCHEMA, UNKNOWN_TEMPLATE_ID, require_columns

__all__ = ["run_parse", "DEFAULTS", "resolve_rules", "load_template_state"]

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {"masking": "masking", "drain": DrainSettings().to_dict(),
                            "max_distinct": 5_000_000, "match_full_search": "fallback",
                            "batch_size": 65536, "num_blocks": None, "workers": None,
                            "block_mb": 32}


def _input_files(events_dir: Path) -> tuple[list[Path], dict]:
    if not events_dir.is_dir():
        raise InputError(f"{events_dir}: no such folder (give the output folder of `logad ingest`)")
    files = sorted(events_dir.glob("part-*.parquet"))
    if not files and (events_dir / "events").is_dir():
        files = sorted((events_dir / "events").glob("part-*.parquet"))
    if not files:
        raise InputError(f"{events_dir}: no part-*.parquet files (here or in events/); "
                         "was it written by `logad ingest`?")
    manifest = {}
    for cand in (events_dir / "manifest.json", files[0].parent / "manifest.json"):
        if cand.is_file():
            manifest = read_json(cand)
            break
    schema = pq.read_schema(files[0])
    require_columns(schema, [f.name for f in EVENTS_SCHEMA], f"{files[0]}")
    return files, manifest


def _preset_rules(preset: str | None) -> list:
    if not preset:
        return []
    for name in (preset, preset.lower()):
        path = CONFIG_DIR / "presets" / f"{name}.yaml"
        if path.is_file():
            return list(load_yaml(path).get("masking") or [])
    return []


def resolve_rules(cfg: dict, preset: str | None, no_mask: Sequence[str] = ()) -> list:
    """Masking rules of a run: masking.yaml's preset section, the preset file's, then generic."""
    masking_cfg = load_yaml(cfg.get("masking") or "masking")
    rules = rules_from_config(masking_cfg, preset, _preset_rules(preset))
    return select_rules(rules, no_mask)


def _sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def load_template_state(path: Path | None, settings: DrainSettings, *, trusted: bool = False
                        ) -> tuple[TemplateMiner, dict, dict]:
    """Miner to start from: ``path``'s state (logad JSON, or a trusted drain3 snapshot) or empty.

    Returns the miner, the aliases carried by the state and the state's masking section.
    """
    if path is None or not Path(path).exists():
        return TemplateMiner(settings), {}, {}
    data = Path(path).read_bytes()
    try:
        obj = json.loads(data)
    except ValueError:
        obj = None
    if is_logad_state(obj):
        miner = from_state(obj, source=str(path))
        if miner.settings != settings:
            log.warning("%s: using the state's Drain settings %s (config asks for %s)", path,
                        miner.settings.to_dict(), settings.to_dict())
        return miner, state_aliases(obj), dict(obj.get("masking") or {})
    return from_drain3_snapshot(data, trusted=trusted, source=str(path)), {}, {}


def _fingerprint(files: Sequence[Path], cfg: dict, rules: list, state_sha: str | None,
                 match_only: bool, num_blocks: int | None) -> str:
    key = json.dumps([[(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files],
                      cfg, rules_to_json(rules), state_sha, match_only, num_blocks, __version__],
                     sort_keys=True, default=str)
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def _units(files: Sequence[Path]) -> list[dict]:
    """Work units: one per (file, row group), numbered in input order."""
    units = []
    for f in files:
        for rg in range(pq.ParquetFile(f).metadata.num_row_groups):
            units.append({"index": len(units), "file": str(f), "row_group": rg})
    return units


def _read_unit(unit: dict, batch_size: int) -> Iterator[pa.Table]:
    """Batches of one unit; a worker never holds more than one batch of input."""
    pf = pq.ParquetFile(unit["file"])
    for rb in pf.iter_batches(batch_size=batch_size, row_groups=[int(unit["row_group"])]):
        yield pa.Table.from_batches([rb])


def _summarize_units(units: pa.Table, passes: Sequence[MaskPass], batch_size: int) -> pa.Table:
    """Read, mask and summarise (distinct, file counts, rejected) every unit of ``units``."""
    parts = [block_summary(mask_block(t, passes)) for unit in units.to_pylist()
             for t in _read_unit(unit, batch_size)]
    return pa.concat_tables(parts) if parts else SUMMARY_SCHEMA.empty_table()


class _AssignAndWrite:
    """Actor-side join: holds the ``masked -> template_id`` table once; reads each unit again,
    masks it, attaches the ids and writes ``part-<unit>.parquet`` itself, batch by batch (the
    name depends on the input only, never on workers, blocks or retries)."""

    def __init__(self, mapping: pa.Table, out_dir: str, passes: Sequence[MaskPass],
                 batch_size: int) -> None:
        self.lookup = dict(zip(mapping.column("masked").to_pylist(),
                               mapping.column("template_id").to_pylist()))
        self.out_dir, self.passes, self.batch_size = Path(out_dir), passes, batch_size

    def __call__(self, units: pa.Table) -> pa.Table:
        files, rows = [], []
        for unit in units.to_pylist():
            name, n, writer = f"part-{int(unit['index']):06d}.parquet", 0, None
            with atomic_path(self.out_dir / name) as tmp:
                for batch in _read_unit(unit, self.batch_size):
                    table = assign_ids(mask_block(drop_rejected(batch), self.passes), self.lookup,
                                       unknown=UNKNOWN_TEMPLATE_ID)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema)
                    writer.write_table(table)
                    n += table.num_rows
                if writer is not None:
                    writer.close()
                else:
                    tmp.unlink()
            if n:
                files.append(name)
                rows.append(n)
        return pa.table({"file": pa.array(files, pa.string()), "rows": pa.array(rows, pa.int64())})


def run_parse(events_dir: str | Path, out_dir: str | Path, *, cfg: dict | None = None,
              drain_state: str | Path | None = None, match_only: bool = False,
              no_mask: Sequence[str] = (), num_blocks: int | None = None,
              trust_drain3_snapshot: bool = False) -> dict:
    """Parse an ``events`` folder into ``out_dir`` and return the manifest.

    Parameters
    ----------
    events_dir : path
        Output folder of ingest (``part-*.parquet`` here or in ``events/``, ``manifest.json``).
    out_dir : path
        Created if needed; see the module docstring for what goes in it.
    cfg : dict, optional
        Resolved ``configs/parse.yaml`` (missing keys take :data:`DEFAULTS`).
    drain_state : path, optional
        Template state to start from and to save the result to (created when absent).
    match_only : bool
        Assign templates of ``drain_state`` only; unmatched lines get ``UNKNOWN_TEMPLATE_ID``.
    no_mask : sequence of str
        Masking rules to switch off.
    num_blocks : int, optional
        Split the input into this many blocks (results never depend on it).
    trust_drain3_snapshot : bool
        Allow ``drain_state`` to be a drain3 (jsonpickle) snapshot.

    Returns
    -------
    dict
        The manifest: counts (``read = parsed + rejected``, per file too), seconds per phase.

    Examples
    --------
    >>> run_parse("runs/hdfs/ingest", "runs/hdfs/parse", cfg=load_config("parse"))  # doctest: +SKIP
    """
    cfg = {**DEFAULTS, **(cfg or {})}
    timer = Timer()
    events_dir, out = Path(events_dir), Path(out_dir)
    state_path = Path(drain_state) if drain_state else None
    num_blocks = num_blocks if num_blocks is not None else cfg.get("num_blocks")
    with timer("plan"):
        files, in_manifest = _input_files(events_dir)
        preset = in_manifest.get("preset")
        rules = resolve_rules(cfg, preset, no_mask)
        passes = compile_passes(rules)
        settings = DrainSettings.from_config(cfg.get("drain"))
        if match_only and (state_path is None or not state_path.exists()):
            raise ConfigError("--match-only needs an existing --drain-state FILE to match against")
        state_sha = _sha(state_path) if state_path else None
        fp = _fingerprint(files, cfg, rules, state_sha, match_only, num_blocks)
        done = read_json(out / "manifest.json") if (out / "manifest.json").is_file() else None
        if done and done.get("status") == "complete" and done.get("fingerprint") == fp:
            log.info("%s: parse already complete for these inputs; skipping", out)
            return {**done, "skipped": True}
        if (done and done.get("status") == "complete" and state_path is not None
                and done.get("fingerprint") == _fingerprint(
                    files, cfg, rules, done.get("drain_state", {}).get("sha256_before"),
                    match_only, num_blocks)
                and done.get("drain_state", {}).get("sha256_after") == state_sha):
            log.info("%s: parse already complete (state saved by that run); skipping", out)
            return {**done, "skipped": True}
        miner, aliases, state_masking = load_template_state(state_path, settings,
                                                            trusted=trust_drain3_snapshot)
        if state_masking.get("rules") and state_masking["rules"] != rules_to_json(rules):
            log.warning("%s was mined with other masking rules; templates may not line up",
                        state_path)

    ensure_ray()
    import ray

    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    if cfg.get("block_mb"):  # a worker holds one block at a time: cap its size
        ctx.target_max_block_size = int(float(cfg["block_mb"]) * 2**20)
    workers = cfg.get("workers")
    batch_size = int(cfg["batch_size"])
    units = _units(files)
    n_blocks = int(num_blocks) if num_blocks else min(len(units), 200)

    def unit_ds():
        return ray.data.from_items(units, override_num_blocks=max(1, min(n_blocks, len(units))))

    with timer("read_mask_distinct"):
        summary = unit_ds().map_batches(
            _summarize_units, fn_kwargs={"passes": passes, "batch_size": batch_size},
            batch_format="pyarrow", batch_size=1,
            compute=ray.data.TaskPoolStrategy(size=int(workers)) if workers else None)
        acc = DistinctTable(int(cfg["max_distinct"]))
        counts, rejected = [], []
        for batch in summary.iter_batches(batch_format="pyarrow", batch_size=None):
            parts = split_summary(batch)
            acc.add(parts["distinct"])
            counts.append(parts["file"])
            if parts["rejected"].num_rows:
                rejected.append(parts["rejected"])
        distinct = acc.result()
    with timer("mine"):
        result = mine_distinct(miner, distinct, match_only=match_only,
                               full_search=str(cfg.get("match_full_search", "fallback")))
        templates = templates_table(miner, distinct, result)
        state = to_state(miner, masking={"preset": preset, "rules": rules_to_json(rules)},
                         aliases=aliases)
    with timer("assign_write"):
        with atomic_dir(out / "events") as tmp:
            pool = (ray.data.ActorPoolStrategy(size=int(workers)) if workers
                    else ray.data.ActorPoolStrategy(min_size=1, max_size=None))
            written = unit_ds().map_batches(
                _AssignAndWrite, batch_format="pyarrow", batch_size=1, compute=pool,
                fn_constructor_kwargs={"mapping": result.mapping, "out_dir": str(tmp),
                                       "passes": passes, "batch_size": batch_size})
            parts = {}
            for b in written.iter_batches(batch_format="pyarrow", batch_size=None):
                parts.update(zip(b.column("file").to_pylist(), b.column("rows").to_pylist()))
    with timer("finish"):
        per_file = _per_file(counts)
        rej = pa.concat_tables(rejected) if rejected else REJECTED_SCHEMA.empty_table()
        write_parquet(templates, out / "templates.parquet")
        write_parquet(rej, out / "rejected.parquet")
        write_json(state, out / "template_state.json")
        for side in ("labels.parquet", "metrics.parquet"):  # ingest's side tables travel along
            if (events_dir / side).is_file():
                write_parquet(pq.read_table(events_dir / side), out / side)
        for side in ("labels.parquet", "metrics.parquet"):  # ingest's side tables travel along
            if (events_dir / side).is_file():
                write_parquet(pq.read_table(events_dir / side), out / side)
        state_after = state_sha
        if state_path is not None and not match_only:
            write_json(state, state_path)
            state_after = _sha(state_path)
        write_yaml({**cfg, "no_mask": list(no_mask), "match_only": match_only,
                    "num_blocks": num_blocks, "preset": preset,
                    "masking_rules": rules_to_json(rules)}, out / "parse_config.yaml")
    read = sum(r["read"] for r in per_file.values())
    n_rej = sum(r["rejected"] for r in per_file.values())
    manifest = {
        "stage": "parse", "status": "complete", "logad_version": __version__,
        "events_dir": str(events_dir), "preset": preset, "fingerprint": fp,
        "counts": {"read": read, "parsed": read - n_rej, "rejected": n_rej,
                   "unmatched": result.unmatched_lines, "distinct_masked": distinct.num_rows,
                   "templates": templates.num_rows,
                   "new_templates": int(sum(templates.column("new").to_pylist()))},
        "files": per_file,
        "seconds": timer.seconds,
        "lines_per_second": round(read / max(sum(timer.seconds.values()), 1e-9), 1),
        "drain": miner.settings.to_dict(),
        "masking_rules": [r.name for r in rules], "no_mask": list(no_mask),
        "match_only": match_only, "num_blocks": num_blocks,
        "drain_state": {"path": str(state_path) if state_path else None,
                        "sha256_before": state_sha, "sha256_after": state_after},
        "event_files": dict(sorted(parts.items())),
        "outputs": {"events": "events/", "templates": "templates.parquet",
                    "template_state": "template_state.json", "rejected": "rejected.parquet",
                    "config": "parse_config.yaml"},
    }
    with atomic_path(out / "manifest.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    return manifest


def _per_file(counts: list[pa.Table]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for t in counts:
        for path, read, rej in zip(t.column("path").to_pylist(), t.column("read").to_pylist(),
                                   t.column("rejected").to_pylist()):
            row = out.setdefault(path, {"read": 0, "parsed": 0, "rejected": 0})
            row["read"] += read
            row["rejected"] += rej
            row["parsed"] = row["read"] - row["rejected"]
    return dict(sorted(out.items()))
