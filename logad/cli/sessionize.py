"""``logad sessionize``: parsed events in, ``sequences`` (one row a session) and the split out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from logad.cli.common import ConfigOpt, NumCpusOpt, OutOpt, SetOpt, WorkersOpt, echo_outputs, handle_errors
from logad.cli.settings import local_ray, stage_settings

__all__ = ["register", "sessionize"]


@handle_errors
def sessionize(
    parsed_dir: Annotated[Path, typer.Argument(help="Parsed events folder (part-*.parquet with template_id), e.g. the --out of `logad parse`, or its s3:// URL.")],
    out: OutOpt,
    by: Annotated[Optional[str], typer.Option("--by", help="block | instance | file | fixed | sliding | time.")] = None,
    window: Annotated[Optional[int], typer.Option("--window", help="fixed/sliding: lines per window.")] = None,
    step: Annotated[Optional[str], typer.Option("--step", help="sliding: lines between window starts; time: a duration such as 30s.")] = None,
    span: Annotated[Optional[str], typer.Option("--span", help="time: window length, e.g. 60s, 5m, 1h.")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="chronological (default) | random.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the random split.")] = None,
    val_frac: Annotated[Optional[float], typer.Option("--val-frac", help="Share of sessions for validation.")] = None,
    test_frac: Annotated[Optional[float], typer.Option("--test-frac", help="Share of sessions for test (train gets the rest).")] = None,
    dedup: Annotated[Optional[bool], typer.Option("--dedup/--no-dedup", help="Drop sessions repeating an earlier event-id sequence.")] = None,
    train_normal_only: Annotated[Optional[bool], typer.Option("--train-normal-only/--train-all", help="Drop anomalous sessions from train (they leave the run).")] = None,
    labels: Annotated[Optional[Path], typer.Option("--labels", help="labels.parquet (session_key, label); default: the one beside the events.")] = None,
    messages: Annotated[Optional[bool], typer.Option("--messages/--no-messages", help="Keep line texts in sequences.messages (needed by words/trigram features).")] = None,
    workers: WorkersOpt = None,
    num_cpus: NumCpusOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Group parsed events into sessions and split them into train/val/test.

    Example:
        logad sessionize runs/hdfs/parsed --by block --dedup --train-normal-only --out runs/hdfs/sessions
    """
    from logad.io import as_folder, join
    from logad.ray.sessionize import run_sessionize
    from logad.settings import SessionizeSettings

    settings = stage_settings(SessionizeSettings, config, {
        "by": by, "window": window, "step": step, "span": span, "split.how": split, "split.seed": seed,
        "split.val_frac": val_frac, "split.test_frac": test_frac, "dedup": dedup,
        "train_normal_only": train_normal_only, "labels": str(labels) if labels else None,
        "keep_messages": messages, "workers": workers,
    }, set_)
    parsed_dir, out = as_folder(parsed_dir), as_folder(out)
    local_ray(num_cpus)
    m = run_sessionize(parsed_dir, out, cfg=settings)
    splits = ", ".join(f"{k} {v['sessions']} ({v['anomalous']} anomalous)" for k, v in m["splits"].items())
    echo_outputs(f"sessionize --by {m['by']} → {out}", {
        "events read": m["events_read"], "lines in sessions": m["lines_sessioned"],
        "rejected lines": m["rejected"]["total"], "sessions built": m["sessions_built"],
        "duplicates removed": m["duplicates_removed"], "train anomalies dropped": m["train_anomalous_dropped"],
        "sessions written": m["sessions_written"], "splits": splits, "labels": m["labels_from"],
        "skipped (already complete)": m.get("skipped", False),
        "sequences": m["outputs"]["sequences"], "manifest": join(out, "manifest.json")})


def register(app: typer.Typer) -> None:
    app.command("sessionize")(sessionize)
