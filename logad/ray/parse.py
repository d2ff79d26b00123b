"""Parse runner: an ``events`` folder in, parsed events + templates + template state out.

Plan (driver): list ``part-*.parquet``, resolve the masking rules (input preset + generic), load
the template state, cut the input into units (one per file row group) and the units into groups
(``num_blocks`` equal groups, or by default :func:`~logad.ray.pool.guided_groups`, shrinking towards
the end).
Work: one pool of Ray actors (:class:`logad.ray.workers.Workers` of
:class:`logad.parsing.worker.ParseWorker`, ``workers``, one CPU each), started once and used by
both passes; the four steps are those of :mod:`logad.parsing.steps`; groups go to
whichever actor frees up, each actor with a second group queued
(:func:`logad.ray.pool.ordered_map`), and results come back in input order. Pass 1: each unit is masked and summarised into its
distinct masked messages with their first occurrence, per-file counts and rejected lines (its
masked column spilled to ``out_dir/_spill/``). Mine (driver): the union of distinct messages,
sorted by first occurrence, goes through Drain once. Pass 2 (join): every actor receives the
``masked -> template_id`` table once (object store), reads each unit of its groups again with its
spill, puts ids onto every line and writes ``events/part-<unit>.parquet`` itself. The spill is
removed when the run completes.

Plain actors rather than Ray Data: in Ray 2.60 each Ray Data execution cost 1-1.5 s of set-up on
a 2-core machine even for no-op work, and the join's actor pool started its processes a second
time; with 2M lines that was a third of the run and kept 2 workers from scaling.

Outputs in ``out_dir``: ``events/``, ``templates.parquet``, ``template_state.json``,
``rejected.parquet``, ``parse_config.yaml`` and, last, ``manifest.json`` (it marks the run
complete: a re-run with the same inputs, config and state returns it without work).

Either folder may be an object-storage URL (``s3://...``, :mod:`logad.io.store`). Out there, the
workers write their parts straight under the run's prefix ``_runs/<run-id>/``, the driver the
other files, and the manifest, written last, commits the run. The masked-column spill is a
local folder, so it is not used then (pass 2 masks again: the same result).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from contextlib import nullcontext
from pathlib import Path
from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from logad import __version__
from logad.errors import ConfigError, InputError
from logad.io import (StageFolder, Store, Timer, as_folder, atomic_dir, commit, finished_manifest,
                      join, mark_running, new_run, open_stage, read_table, remove_leftovers,
                      run_lock, write_json, write_manifest, write_parquet, write_yaml)
from logad.parsing.masking import compile_passes, rules_to_json
from logad.parsing.miner import DrainSettings, TemplateMiner
from logad.parsing.state import (from_drain3_snapshot, from_state, is_logad_state, state_aliases,
                                 to_state)
from logad.parsing.steps import SummaryFold, mine
from logad.parsing.worker import ParseWorker
from logad.ray.pool import equal_groups, guided_groups, pool_size
from logad.ray.runtime import ensure_ray
from logad.ray.workers import Workers, in_process
from logad.schema import EVENTS_SCHEMA, REJECTED_SCHEMA, require_columns
from logad.settings import ParseSettings, coerce, masking_rules, stage_key

__all__ = ["run_parse", "resolve_rules", "load_template_state"]

log = logging.getLogger(__name__)

def _input(events_dir: Path | str) -> StageFolder:
    """The finished ingest (:func:`logad.io.open_stage`), checked for the columns, with its
    damaged parts (``damaged``): a part missing, truncated or of another row count is left out
    and reported, its rows counted as rejected; the others are parsed."""
    found = open_stage(events_dir, "ingest", keep_damaged=True)
    for d in found.damaged:
        log.warning("%s (its %d rows are not parsed, counted as rejected)", d["message"], d["rows"])
    if not found.parts:
        if found.damaged:
            raise InputError(f"{events_dir}: no readable part ({len(found.damaged)} damaged; "
                             f"first: {found.damaged[0]['message']})")
        raise InputError(f"{events_dir}: the ingest wrote no events (see its manifest.json)")
    require_columns(found.schema, [f.name for f in EVENTS_SCHEMA], f"{found.files[0]}")
    return found


def _damaged_rows(damaged: Sequence[dict]) -> tuple[dict[str, dict[str, int]], pa.Table]:
    """Per-file counts and rejected rows of the damaged input parts: each part is a "file" whose
    rows (as its manifest gives them) were all read as rejected; it has one rejected row (no
    line number: its lines could not be read) whose reason names the part and the count."""
    per_file = {d["file"]: {"read": d["rows"], "parsed": 0, "rejected": d["rows"]} for d in damaged}
    rej = pa.table({"path": [d["file"] for d in damaged],
                    "line_no": pa.nulls(len(damaged), pa.int64()),
                    "reason": [f"{d['reason']}: its {d['rows']} rows not parsed" for d in damaged],
                    "raw": pa.nulls(len(damaged), pa.string())}, schema=REJECTED_SCHEMA)
    return per_file, rej


def resolve_rules(cfg: ParseSettings | dict | None, preset: str | None, no_mask: Sequence[str] = ()) -> list:
    """Masking rules of a run (:func:`logad.settings.masking_rules`): masking.yaml's preset
    section, the preset file's, then generic."""
    return masking_rules(coerce(ParseSettings, cfg), preset, no_mask)


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
    except ValueError as exc:
        if data.lstrip()[:1] in (b"{", b"["):  # meant as JSON (a logad state, a plain drain3 one)
            where = (f" (line {exc.lineno}, column {exc.colno}: {exc.msg})"
                     if isinstance(exc, json.JSONDecodeError) else f" ({exc})")
            raise InputError(f"{path}: not valid JSON{where}; a template state is the "
                             "template_state.json a `logad parse` wrote") from None
        obj = None
    if is_logad_state(obj):
        miner = from_state(obj, source=str(path))
        if miner.settings != settings:
            log.warning("%s: using the state's Drain settings %s (config asks for %s)", path,
                        miner.settings.to_dict(), settings.to_dict())
        return miner, state_aliases(obj), dict(obj.get("masking") or {})
    return from_drain3_snapshot(data, trusted=trusted, source=str(path)), {}, {}


def run_parse(events_dir: str | Path, out_dir: str | Path, *, cfg: ParseSettings | dict | None = None,
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
    cfg : ParseSettings or dict, optional
        The resolved :class:`~logad.settings.ParseSettings`; a dict (or None) is taken as
        values over ``configs/parse.yaml`` and validated at once, as ``logad parse`` does.
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
        The manifest: counts (``read = parsed + rejected``, per file too), seconds per phase,
        ``damaged_parts`` (input parts missing, truncated or of another row count than ingest's
        manifest says: left out, named, their rows counted as rejected; the rest is parsed).

    Examples
    --------
    >>> run_parse("runs/hdfs/ingest", "runs/hdfs/parse", cfg=resolve(ParseSettings))  # doctest: +SKIP
    """
    settings = coerce(ParseSettings, cfg)  # every setting checked before the output folder is touched
    timer = Timer()
    events_dir, out = as_folder(events_dir), as_folder(out_dir)
    state_path = Path(drain_state) if drain_state else None
    num_blocks = num_blocks if num_blocks is not None else settings.num_blocks
    stage_in = _input(events_dir)
    if isinstance(out, str):  # object storage: no lock, no leftovers, no local spill
        return _run(events_dir, out, settings.model_copy(update={"spill": False}), timer,
                    stage_in, state_path, match_only, no_mask, num_blocks,
                    trust_drain3_snapshot, run=new_run())
    with run_lock(out, "parse"):
        remove_leftovers(out)
        try:
            return _run(events_dir, out, settings, timer, stage_in, state_path, match_only,
                        no_mask, num_blocks, trust_drain3_snapshot)
        finally:
            shutil.rmtree(out / "_spill", ignore_errors=True)  # also after a failure


def _run(events_dir: Path | str, out: Path | str, settings: ParseSettings, timer: Timer,
         stage_in: StageFolder, state_path: Path | None, match_only: bool, no_mask: Sequence[str],
         num_blocks: int | None, trust_drain3_snapshot: bool, run: str | None = None) -> dict:
    """The work of :func:`run_parse` once its input is checked and ``out`` is locked (or,
    with ``run``, ``out`` is on object storage and the run writes under ``run``)."""
    files, damaged = stage_in.files, stage_in.damaged
    dest = out if run is None else join(out, run)  # where this run's files go
    rel = "" if run is None else f"{run}/"  # and their names in the manifest
    cfg = settings.dump()
    with timer("plan"):
        preset = stage_in.info.preset
        rules = masking_rules(settings, preset, no_mask)
        passes = compile_passes(rules)
        drain = settings.drain.miner_settings()
        parquet = settings.parquet.writer()
        if match_only and (state_path is None or not state_path.exists()):
            raise ConfigError("--match-only needs an existing --drain-state FILE to match against")
        state_sha = _sha(state_path) if state_path else None
        identity = (rules_to_json(rules), match_only, num_blocks,
                    [(d["file"], d["reason"]) for d in damaged])
        fp = stage_key(files, settings, state_sha, *identity)
        done = finished_manifest(out, fp)
        if done:
            log.info("%s: parse already complete for these inputs; skipping", out)
            return {**done, "skipped": True}
        miner, aliases, state_masking = load_template_state(state_path, drain,
                                                            trusted=trust_drain3_snapshot)
        if state_masking.get("rules") and state_masking["rules"] != rules_to_json(rules):
            log.warning("%s was mined with other masking rules; templates may not line up",
                        state_path)

    mark_running(out)
    local = in_process(stage_in.num_rows, settings.in_process_below)
    if not local:
        ensure_ray()
    batch_size = settings.batch_size
    units = stage_in.units()
    n_workers = 1 if local else pool_size(settings.workers)
    groups = equal_groups(units, int(num_blocks)) if num_blocks else guided_groups(units, n_workers)
    n_workers = max(1, min(n_workers, len(groups)))
    spill_dir = str(out / "_spill") if settings.spill else None
    if spill_dir:
        shutil.rmtree(spill_dir, ignore_errors=True)  # a killed run's leftovers
        Path(spill_dir).mkdir(parents=True)
    with Workers(ParseWorker, (passes, batch_size, spill_dir, parquet), n=n_workers,
                 local=local) as workers:
        with timer("start_workers"):
            workers.each("ready")
        with timer("read_mask_distinct"):
            fold = SummaryFold(settings.max_distinct)
            for summary in workers.map("summarize", groups,
                                       progress="parse pass 1 (mask, distinct)"):
                fold.add(summary)
            distinct = fold.distinct()
        with timer("mine"):
            result, templates = mine(miner, distinct, match_only=match_only,
                                     full_search=settings.match_full_search)
            state = to_state(miner, masking={"preset": preset, "rules": rules_to_json(rules)},
                             aliases=aliases)
        with timer("assign_write"):
            with _events_folder(dest, run) as tmp:
                mapping = workers.put(result.mapping)
                workers.each("set_mapping", mapping, str(tmp), drop_lost=True)
                parts = {}
                for b in workers.map("assign", groups, progress="parse pass 2 (join, write)",
                                     prepare=("set_mapping", (mapping, str(tmp)))):
                    parts.update(zip(b.column("file").to_pylist(), b.column("rows").to_pylist()))
        memory = workers.each("memory", drop_lost=True)
        retried = workers.retried  # items redone after their worker died; the output is the same
    with timer("finish"):
        if spill_dir:
            shutil.rmtree(spill_dir, ignore_errors=True)
        per_file = _per_file(fold.counts)
        rej = fold.rejected()
        if damaged:
            lost_files, lost_rows = _damaged_rows(damaged)
            per_file = {**per_file, **lost_files}
            rej = pa.concat_tables([rej, lost_rows.cast(rej.schema)])
        write_parquet(templates, join(dest, "templates.parquet"))
        write_parquet(rej, join(dest, "rejected.parquet"))
        write_json(state, join(dest, "template_state.json"))
        for side in ("labels.parquet", "metrics.parquet"):  # ingest's side tables travel along
            if stage_in.has_side(side):
                write_parquet(read_table(stage_in.side(side)), join(dest, side))
        state_after = state_sha
        if state_path is not None and not match_only:
            write_json(state, state_path)
            state_after = _sha(state_path)
        write_yaml({**cfg, "no_mask": list(no_mask), "match_only": match_only,
                    "num_blocks": num_blocks, "preset": preset,
                    "masking_rules": rules_to_json(rules)}, join(dest, "parse_config.yaml"))
    read = sum(r["read"] for r in per_file.values())
    n_rej = sum(r["rejected"] for r in per_file.values())
    manifest = {
        "stage": "parse", "status": "complete", "logad_version": __version__,
        "events_dir": str(events_dir), "preset": preset, "run_key": fp,
        "run_key_after": stage_key(files, settings, state_after, *identity),
        "inputs": [str(events_dir)],
        "counts": {"read": read, "processed": read - n_rej, "parsed": read - n_rej,
                   "rejected": n_rej,
                   "unmatched": result.unmatched_lines, "distinct_masked": distinct.num_rows,
                   "templates": templates.num_rows,
                   "templates_in_state": templates.num_rows,
                   "templates_used": int(pc.sum(pc.greater(templates.column("count"), 0)).as_py()
                                         or 0),
                   "new_templates": int(sum(templates.column("new").to_pylist()))},
        "files": per_file,
        "damaged_parts": [{k: d[k] for k in ("file", "rows", "reason")} for d in damaged],
        "seconds": timer.seconds,
        "retried": retried,
        "in_process": local,
        "workers": {"count": n_workers, "groups": len(groups),
                    "start_rss_mb": max(m["start_rss_mb"] for m in memory),
                    "peak_rss_mb": max(m["peak_rss_mb"] for m in memory)},
        "peak_rss_mb": max(m["peak_rss_mb"] for m in memory),
        "settings_file": f"{rel}parse_config.yaml",
        "lines_per_second": round(read / max(sum(timer.seconds.values()), 1e-9), 1),
        "drain": miner.settings.to_dict(),
        "masking_rules": [r.name for r in rules], "no_mask": list(no_mask),
        "match_only": match_only, "num_blocks": num_blocks,
        "drain_state": {"path": str(state_path) if state_path else None,
                        "sha256_before": state_sha, "sha256_after": state_after},
        "event_files": dict(sorted(parts.items())),
        "parts": [{"file": f"{rel}events/{name}", "rows": rows}
                  for name, rows in sorted(parts.items())],
        "outputs": {"events": f"{rel}events/", "templates": f"{rel}templates.parquet",
                    "template_state": f"{rel}template_state.json",
                    "rejected": f"{rel}rejected.parquet", "config": f"{rel}parse_config.yaml"},
    }
    if run is not None:
        return commit(Store.at(out), manifest, run)
    return write_manifest(manifest, out / "manifest.json")


def _events_folder(dest: Path | str, run: str | None):
    """Where pass 2 writes the parts: a temporary folder renamed onto ``dest/events`` (local),
    or straight ``dest/events`` under the run's own prefix (object storage)."""
    if run is None:
        return atomic_dir(dest / "events")
    return nullcontext(join(dest, "events"))


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
