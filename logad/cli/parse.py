"""``logad parse`` (events in, templates out) and ``logad templates export|import``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from logad.cli.common import ConfigOpt, NumCpusOpt, OutOpt, SetOpt, WorkersOpt, echo_outputs, handle_errors
from logad.cli.settings import local_ray, stage_settings

__all__ = ["register", "parse", "templates_app"]

_TRUST_HELP = ("Allow reading a drain3 snapshot. drain3 saves its state with jsonpickle, which "
               "can build arbitrary Python objects (and so run code) while loading: pass this only "
               "for a file you made yourself or trust like code. logad's own template_state.json "
               "is plain JSON and needs no flag.")

templates_app = typer.Typer(name="templates", help="Template states: export to drain3, import from drain3.",
                            no_args_is_help=True)


@handle_errors
def parse(
    events_dir: Annotated[Path, typer.Argument(help="Output folder of `logad ingest` (part-*.parquet here or in events/).")],
    out: OutOpt,
    drain_state: Annotated[Optional[Path], typer.Option("--drain-state", help="Template state to start from; the result is saved back to it (created when absent). Shares templates and ids across runs.")] = None,
    match_only: Annotated[bool, typer.Option("--match-only", help="Only assign the templates of --drain-state, create none; unmatched lines get the unknown id 000… and are counted.")] = False,
    no_mask: Annotated[Optional[List[str]], typer.Option("--no-mask", help="Switch a masking rule off by name (repeat); names are in configs/masking.yaml.")] = None,
    num_blocks: Annotated[Optional[int], typer.Option("--num-blocks", help="Split the input into N blocks (results never depend on it).")] = None,
    sim_th: Annotated[Optional[float], typer.Option("--sim-th", help="Drain similarity threshold (drain.sim_th).")] = None,
    depth: Annotated[Optional[int], typer.Option("--depth", help="Drain tree depth (drain.depth).")] = None,
    max_distinct: Annotated[Optional[int], typer.Option("--max-distinct", help="Cap on distinct masked messages (max_distinct).")] = None,
    trust_drain3_snapshot: Annotated[bool, typer.Option("--trust-drain3-snapshot", help=_TRUST_HELP)] = False,
    workers: WorkersOpt = None,
    num_cpus: NumCpusOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Mask every line, mine templates with Drain, and tag each event with its template id.

    Writes events/ (events + template_id), templates.parquet, template_state.json,
    rejected.parquet, parse_config.yaml and manifest.json.

    Example:
        logad parse runs/hdfs/ingest --out runs/hdfs/parse --drain-state runs/templates.json
    """
    from logad.io import as_folder, join
    from logad.ray.parse import run_parse
    from logad.settings import ParseSettings

    settings = stage_settings(ParseSettings, config, {
        "drain.sim_th": sim_th, "drain.depth": depth, "max_distinct": max_distinct,
        "num_blocks": num_blocks, "workers": workers}, set_)
    events_dir, out = as_folder(events_dir), as_folder(out)
    local_ray(num_cpus)
    m = run_parse(events_dir, out, cfg=settings, drain_state=drain_state, match_only=match_only,
                  no_mask=no_mask or (),
                  trust_drain3_snapshot=trust_drain3_snapshot)
    c = m["counts"]
    rows = {"lines read": c["read"], "parsed": c["parsed"], "rejected": c["rejected"],
            "distinct masked": c["distinct_masked"],
            "templates used": c.get("templates_used", c["templates"]),
            "new templates": c["new_templates"],
            "templates in the state": c.get("templates_in_state", c["templates"])}
    if match_only:
        rows["unmatched lines (unknown id)"] = c["unmatched"]
    rows.update({"seconds": m["seconds"], "skipped (already complete)": m.get("skipped", False),
                 "manifest": join(out, "manifest.json")})
    echo_outputs(f"parse → {out}", rows)
    damaged = m.get("damaged_parts") or []
    if damaged:  # as ingest does with failed files: each named, the rest done, exit 1
        for d in damaged:
            typer.echo(f"logad: error: {d['file']}: {d['reason']}; its {d['rows']} rows were not "
                       "parsed (counted as rejected); re-run the ingest to redo it", err=True)
        typer.echo(f"logad: {len(damaged)} input part(s) damaged; the others were parsed (see "
                   "manifest.json)", err=True)
        raise typer.Exit(code=1)


def _state_file(path: Path) -> Path:
    return path / "template_state.json" if path.is_dir() else path


@templates_app.command("export")
@handle_errors
def export(
    state: Annotated[Path, typer.Argument(help="template_state.json, or a parse output folder.")],
    out: OutOpt,
    drain3: Annotated[bool, typer.Option("--drain3", help="Write drain3's own snapshot (FilePersistence format) for drain3.TemplateMiner.")] = False,
    compress: Annotated[bool, typer.Option("--compress/--no-compress", help="drain3 snapshot compressed like drain3's default snapshot_compress_state=True.")] = True,
) -> None:
    """Export a template state: a drain3 snapshot (--drain3) or a CSV of templates.

    Example:
        logad templates export runs/hdfs/parse --drain3 --out drain3_state.bin
    """
    from logad.errors import InputError
    from logad.io import atomic_path
    from logad.parsing.state import from_state, templates_csv, to_drain3_snapshot

    src = _state_file(state)
    if not src.is_file():
        raise InputError(f"{src}: no template state here (expected template_state.json)")
    data = json.loads(src.read_text(encoding="utf-8"))
    miner = from_state(data, source=str(src))
    with atomic_path(out) as tmp:
        if drain3:
            tmp.write_bytes(to_drain3_snapshot(miner, compress=compress))
        else:
            tmp.write_text(templates_csv(data), encoding="utf-8", newline="")
    echo_outputs(f"templates export → {out}", {"clusters": len(data["clusters"]),
                                                "format": "drain3 snapshot" if drain3 else "csv"})


@templates_app.command("import")
@handle_errors
def import_(
    snapshot: Annotated[Path, typer.Argument(help="A drain3 snapshot file (FilePersistence).")],
    out: OutOpt,
    trust_drain3_snapshot: Annotated[bool, typer.Option("--trust-drain3-snapshot", help=_TRUST_HELP)] = False,
) -> None:
    """Convert a drain3 snapshot into a logad template state (plain JSON).

    Example:
        logad templates import drain3_state.bin --trust-drain3-snapshot --out templates.json
    """
    from logad.errors import InputError
    from logad.io import write_json
    from logad.parsing.state import from_drain3_snapshot, to_state

    if not snapshot.is_file():
        raise InputError(f"{snapshot}: no such file")
    miner = from_drain3_snapshot(snapshot.read_bytes(), trusted=trust_drain3_snapshot,
                                 source=str(snapshot))
    write_json(to_state(miner), out)
    echo_outputs(f"templates import → {out}", {"clusters": len(miner)})


def register(app: typer.Typer) -> None:
    app.command("parse")(parse)
    app.add_typer(templates_app, name="templates")
