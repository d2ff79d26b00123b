"""``logad lo2 extract``: unpack the LO2 dump's per-run archives, in chunks, resumably."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from logad.cli.common import OutOpt, echo_outputs, echo_table, handle_errors

__all__ = ["register", "extract"]

lo2_app = typer.Typer(name="lo2", help="The LO2 dump as published: per-run archives.", no_args_is_help=True)


@handle_errors
def extract(
    archives: Annotated[str, typer.Option("--archives", help="Folder or fsspec URL with light-oauth2-data-<epoch>.tar / .tar.gz files.")],
    out: OutOpt,
    mode: Annotated[str, typer.Option("--mode", help="all: every run; newest: only the newest run (highest epoch).")] = "all",
    split: Annotated[int, typer.Option("--split", help="Cut the run list (oldest first) into N contiguous chunks ...")] = 1,
    chunk: Annotated[int, typer.Option("--chunk", help="... and do chunk K (0-based), so N machines share the dump.")] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write nothing; list each run's action and sizes.")] = False,
    reserve_mb: Annotated[int, typer.Option("--reserve-mb", help="Free disk (MiB) that must remain after each run.")] = 512,
) -> None:
    """Unpack each run into OUT/<run>/; finished runs are recorded and skipped on a re-run.

    A run is written under a hidden name and renamed when complete, so an interrupted run leaves
    nothing visible and is redone. Members with absolute paths, '..' or links leaving the run
    folder make the whole archive refused (named in the output; exit 1).

    Example:
        logad lo2 extract --archives /data/lo2-archives --out /data/lo2 --split 4 --chunk 0
    """
    from logad.lo2 import extract_archives

    s = extract_archives(archives, out, mode=mode, split=split, chunk=chunk, dry_run=dry_run,
                         reserve=reserve_mb << 20)
    for note in s["notes"]:
        typer.echo(f"note: {note}", err=True)
    if dry_run:
        rows = [{"run": r["run"], "action": r["action"], "archive bytes": r["archive_bytes"],
                 "unpacked bytes": "?" if r["unpacked"] is None else
                 f"{r['unpacked']:,}" if r["exact"] else f"≈{r['unpacked']:,} (gzip trailer)",
                 "members": "?" if r["members"] is None else r["members"],
                 "problem": r["problem"] or ""} for r in s["runs"]]
        if rows:
            echo_table(f"lo2 extract --dry-run: chunk {chunk} of {split} ({mode})", rows)
        echo_outputs("lo2 extract --dry-run", {
            "runs": len(rows), "to extract": sum(r["action"] == "extract" for r in s["runs"]),
            "already done": sum(r["action"] == "skip" for r in s["runs"]),
            "archive bytes to read": f"{sum(r['archive_bytes'] for r in s['runs'] if r['action'] == 'extract'):,}"})
        return
    echo_outputs(f"lo2 extract → {out}", {
        "runs in chunk": len(s["runs"]), "extracted": s["extracted"], "skipped (done before)": s["skipped"],
        "refused (unsafe members)": s["refused"], "failed": s["failed"], "out": Path(out)})
    for err in s["errors"]:
        typer.echo(f"logad: error: {err}", err=True)
    if s["errors"]:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add the ``lo2`` command group (``logad lo2 extract``) to ``app``."""
    lo2_app.command("extract")(extract)
    app.add_typer(lo2_app, name="lo2")
