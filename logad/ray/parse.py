"""Parse runner: an ``events`` folder in, parsed events + templates + template state out.

Plan (driver): list ``part-*.parquet``, resolve the masking rules (input preset + generic), load
the template state, cut the input into units (one per file row group) and the units into groups
(``num_blocks``). Work: one pool of Ray actors (``workers``, one CPU each), started once and used
by both passes; the driver hands each idle actor the next group (``ray.util.ActorPool``). Pass 1:
each unit is read batch by batch, masked and summarised into its distinct masked messages with
their first occurrence, its per-file counts and its rejected lines, so a worker holds one batch
at a time. Mine (driver): the union of distinct messages, sorted by first occurrence, goes through
Drain once. Pass 2 (join): every actor receives the ``masked -> template_id`` table once (object
store), reads each unit of its groups again, puts ids onto every line and writes
``events/part-<unit>.parquet`` itself.

Plain actors rather than Ray Data: in Ray 2.60 each Ray Data execution cost 1-1.5 s of set-up on
a 2-core machine even for no-op work, and the join's actor pool started its processes a second
time; with 2M lines that was a third of the run and kept 2 workers from scaling.

Pass 1 also spills each unit's masked column to ``out_dir/_spill/unit-<unit>.parquet``,
dictionary-encoded (one row group per batch: the unit's distinct masked messages plus an index
per line, a few bytes a line), so the join reads the masked messages instead of masking every
line a second time. The spill is removed when the run completes; a unit whose spill is missing
or does not line up is masked again (same result).

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
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from logad import __version__
from logad.config import CONFIG_DIR, load_yaml
from logad.errors import ConfigError, InputError
from logad.io import Timer, atomic_dir, atomic_path, read_json, write_json, write_parquet, write_yaml
from logad.parsing.distinct import (MASKED, SUMMARY_SCHEMA, DistinctTable, assign_ids,
                                    block_summary, drop_rejected, mask_block, parquet_options,
                                    split_summary)
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
                            "parquet": {}, "spill": True}


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


def _read_unit(unit: dict, batch_size: int, columns: Sequence[str] | None = None
               ) -> Iterator[pa.Table]:
    """Batches of one unit; a worker never holds more than one batch of input. One thread:
    a worker has one CPU, and pyarrow's decoding threads only add CPU time there."""
    pf = pq.ParquetFile(unit["file"])
    for rb in pf.iter_batches(batch_size=batch_size, row_groups=[int(unit["row_group"])],
                              columns=list(columns) if columns else None, use_threads=False):
        yield pa.Table.from_batches([rb])


#: Columns pass 1 reads (``raw`` only for batches with rejected lines, see _summary_batches).
_SUMMARY_COLUMNS = ("path", "line_no", "order", "content")


def _summary_batches(unit: dict, batch_size: int) -> Iterator[pa.Table]:
    """The unit's batches with the columns pass 1 needs; ``raw`` (as big as ``content``) is read
    only for a batch that has lines without content (they go to rejected.parquet)."""
    offset, raw = 0, None
    for t in _read_unit(unit, batch_size, _SUMMARY_COLUMNS):
        if t.column("content").null_count:
            if raw is None:
                raw = pq.ParquetFile(unit["file"]).read_row_group(
                    int(unit["row_group"]), columns=["raw"], use_threads=False).column("raw")
            t = t.append_column("raw", raw.slice(offset, t.num_rows))
        else:
            t = t.append_column("raw", pa.nulls(t.num_rows, pa.string()))
        offset += t.num_rows
        yield t


def _spill_path(spill_dir: str, unit: dict) -> Path:
    return Path(spill_dir) / f"unit-{int(unit['index']):06d}.parquet"


def _summarize_units(units: Sequence[dict], passes: Sequence[MaskPass], batch_size: int,
                     spill_dir: str | None = None) -> pa.Table:
    """Read, mask and summarise (distinct, file counts, rejected) every unit of ``units``;
    with ``spill_dir``, also write each unit's masked column there (see the module docstring)."""
    parts = []
    for unit in units:
        writer, spill = None, _spill_path(spill_dir, unit) if spill_dir else None
        tmp = spill.with_name(f".{spill.name}.{os.getpid()}.tmp") if spill else None
        try:
            for t in _summary_batches(unit, batch_size):
                masked = mask_block(t, passes)
                parts.append(block_summary(masked))
                if tmp is not None:
                    col = pa.table({MASKED: pc.dictionary_encode(masked.column(MASKED))})
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, col.schema, compression="none")
                    writer.write_table(col)
            if writer is not None:
                writer.close()
                os.replace(tmp, spill)  # a retried task never leaves half a spill
        finally:
            if tmp is not None and tmp.exists():
                tmp.unlink()
    return pa.concat_tables(parts) if parts else SUMMARY_SCHEMA.empty_table()


def _spilled_batches(unit: dict, spill_dir: str | None, batch_size: int
                     ) -> Iterator[tuple[pa.Table, pa.ChunkedArray | None]]:
    """The unit's input batches, each with its spilled masked column (None: mask again)."""
    spill = _spill_path(spill_dir, unit) if spill_dir else None
    pf = pq.ParquetFile(spill) if spill is not None and spill.is_file() else None
    for i, batch in enumerate(_read_unit(unit, batch_size)):
        masked = None
        if pf is not None and i < pf.metadata.num_row_groups:
            masked = pf.read_row_group(i).column(MASKED)
            if len(masked) != batch.num_rows:
                masked = None
        yield batch, masked


def _assign_and_write(units: Sequence[dict], lookup: dict, out_dir: Path,
                      passes: Sequence[MaskPass], batch_size: int, options: dict,
                      spill_dir: str | None) -> pa.Table:
    """Join: read each unit again with its spilled masked column (or mask it again), attach the
    ids and write ``part-<unit>.parquet`` batch by batch (the name depends on the input only,
    never on workers, blocks or retries). Returns ``file, rows`` of the parts written."""
    files, rows = [], []
    for unit in units:
        name, n, writer = f"part-{int(unit['index']):06d}.parquet", 0, None
        with atomic_path(out_dir / name) as tmp:
            for batch, masked in _spilled_batches(unit, spill_dir, batch_size):
                masked_batch = (mask_block(drop_rejected(batch), passes) if masked is None
                                else drop_rejected(batch.append_column(MASKED, masked)))
                table = assign_ids(masked_batch, lookup, unknown=UNKNOWN_TEMPLATE_ID)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, **options)
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


class _ParseWorker:
    """One worker of a run (a Ray actor, one CPU): pass 1 (:meth:`summarize`), then, once it
    holds the mapping (:meth:`set_mapping`, built into a dict once per worker), pass 2
    (:meth:`assign`). Holds one batch of input at a time plus the mapping."""

    def __init__(self, passes: Sequence[MaskPass], batch_size: int, spill_dir: str | None,
                 parquet: dict | None) -> None:
        self.passes, self.batch_size, self.spill_dir = passes, batch_size, spill_dir
        self.options = parquet_options(parquet)
        self.lookup: dict = {}
        self.out_dir = Path(".")

    def ready(self) -> bool:
        return True

    def summarize(self, units: list[dict]) -> pa.Table:
        return _summarize_units(units, self.passes, self.batch_size, self.spill_dir)

    def set_mapping(self, mapping: pa.Table, out_dir: str) -> int:
        self.lookup = dict(zip(mapping.column("masked").to_pylist(),
                               mapping.column("template_id").to_pylist()))
        self.out_dir = Path(out_dir)
        return len(self.lookup)

    def assign(self, units: list[dict]) -> pa.Table:
        return _assign_and_write(units, self.lookup, self.out_dir, self.passes, self.batch_size,
                                 self.options, self.spill_dir)


def _groups(units: list[dict], n_blocks: int) -> list[list[dict]]:
    """``units`` cut into ``n_blocks`` contiguous groups of nearly equal size (none empty)."""
    n = max(1, min(int(n_blocks), len(units)))
    bounds = [round(i * len(units) / n) for i in range(n + 1)]
    return [units[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


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
    from ray.util import ActorPool

    batch_size = int(cfg["batch_size"])
    units = _units(files)
    groups = _groups(units, int(num_blocks) if num_blocks else min(len(units), 200))
    workers = cfg.get("workers")
    n_workers = int(workers) if workers else max(1, int(ray.cluster_resources().get("CPU", 1)))
    n_workers = max(1, min(n_workers, len(groups)))
    spill_dir = str(out / "_spill") if cfg.get("spill", True) else None
    if spill_dir:
        shutil.rmtree(spill_dir, ignore_errors=True)  # a killed run's leftovers
        Path(spill_dir).mkdir(parents=True)
    worker_cls = ray.remote(num_cpus=1, max_restarts=1, max_task_retries=1)(_ParseWorker)
    actors = [worker_cls.remote(passes, batch_size, spill_dir, cfg.get("parquet"))
              for _ in range(n_workers)]
    try:
        with timer("start_workers"):
            ray.get([a.ready.remote() for a in actors])
        with timer("read_mask_distinct"):
            acc = DistinctTable(int(cfg["max_distinct"]))
            counts, rejected = [], []
            for summary in ActorPool(actors).map(lambda a, g: a.summarize.remote(g), groups):
                parts = split_summary(summary)
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
                mapping = ray.put(result.mapping)
                ray.get([a.set_mapping.remote(mapping, str(tmp)) for a in actors])
                parts = {}
                for b in ActorPool(actors).map(lambda a, g: a.assign.remote(g), groups):
                    parts.update(zip(b.column("file").to_pylist(), b.column("rows").to_pylist()))
    finally:
        for a in actors:
            ray.kill(a)
    with timer("finish"):
        if spill_dir:
            shutil.rmtree(spill_dir, ignore_errors=True)
        per_file = _per_file(counts)
        rej = pa.concat_tables(rejected) if rejected else REJECTED_SCHEMA.empty_table()
        write_parquet(templates, out / "templates.parquet")
        write_parquet(rej, out / "rejected.parquet")
        write_json(state, out / "template_state.json")
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
