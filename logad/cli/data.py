"""``logad data fetch`` / ``logad data list``: the public corpora, downloaded and verified."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from logad.cli.common import echo_outputs, echo_table, handle_errors

__all__ = ["register", "fetch", "list_datasets"]

data_app = typer.Typer(name="data", help="Public log corpora: list and fetch.", no_args_is_help=True)
CatalogueOpt = Annotated[Optional[Path], typer.Option("--catalogue", help="Another catalogue YAML (default configs/datasets.yaml).")]


@handle_errors
def fetch(
    source: Annotated[str, typer.Argument(help="A catalogue name (HDFS, BGL, ...) or a URL: https://, s3://, gs://, file://.")],
    to: Annotated[Path, typer.Option("--to", help="Folder the file goes into.")],
    sha256: Annotated[Optional[str], typer.Option("--sha256", help="Expected sha256 (overrides the catalogue's).")] = None,
    catalogue: CatalogueOpt = None,
    retries: Annotated[int, typer.Option("--retries", help="Further attempts after a broken transfer, each resuming.")] = 3,
    force: Annotated[bool, typer.Option("--force", help="Download again even when a verified copy is cached.")] = False,
) -> None:
    """Download a corpus or archive, verify its sha256, resume a broken download, reuse a cached copy.

    The file appears under its final name only once complete and verified; a mismatch deletes it.

    Example:
        logad data fetch HDFS --to data/raw
    """
    from logad.data import fetch as run_fetch

    r = run_fetch(source, to, sha256=sha256, catalogue=catalogue, retries=retries, force=force)
    echo_outputs(f"data fetch {r['name']} → {r['path']}", {
        "bytes": f"{r['bytes']:,}", "sha256": r["sha256"],
        "verified": "yes" if r["verified"] else "NO (no known checksum; pin the one above)",
        "cached (no download)": r["cached"], "resumed at byte": r["resumed_at"],
        "attempts": r["attempts"], "seconds": r["seconds"]})


@handle_errors
def list_datasets(catalogue: CatalogueOpt = None) -> None:
    """List the catalogue: name, URL, whether a checksum is pinned.

    Example:
        logad data list
    """
    from logad.data import load_catalogue

    rows = [{"name": k, "url": v.get("url") or f"(none: see {v.get('page', '')})",
             "sha256": (v.get("sha256") or "not pinned")[:16]} for k, v in load_catalogue(catalogue).items()]
    echo_table("datasets", rows)


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group (``fetch``, ``list``) to ``app``."""
    data_app.command("fetch")(fetch)
    data_app.command("list")(list_datasets)
    app.add_typer(data_app, name="data")
