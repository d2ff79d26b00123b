"""``logad ingest``: files or URLs in, one ``events`` Parquet folder out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from logad.cli.common import ConfigOpt, NumCpusOpt, OutOpt, SetOpt, WorkersOpt, echo_outputs, handle_errors
from logad.cli.settings import local_ray, stage_settings

__all__ = ["register", "ingest"]


@handle_errors
def ingest(
    sources: Annotated[List[str], typer.Argument(help="Files, directories, globs or URLs (s3://, gs://, file://); .gz/.bz2/.tar read directly.")],
    out: OutOpt,
    preset: Annotated[Optional[str], typer.Option("--preset", "-p", help="Source preset: HDFS, BGL, OpenStack, lo2, generic, ... (see `logad presets`).")] = None,
    log_format: Annotated[Optional[str], typer.Option("--format", help="A log-format string for other logs, e.g. '<Date> <Time> <Level> <Content>'.")] = None,
    regex: Annotated[Optional[str], typer.Option("--regex", help="A regex with named groups (content, level, component, ...) for other logs.")] = None,
    timestamp_format: Annotated[Optional[str], typer.Option("--timestamp-format", help="strptime format of the timestamp fields of --format/--regex, e.g. '%Y-%m-%d %H:%M:%S'.")] = None,
    labels: Annotated[Optional[str], typer.Option("--labels", help="Label file: HDFS anomaly_label.csv, OpenStack anomalous instance ids, or line_no,label CSV.")] = None,
    chunk_mb: Annotated[Optional[int], typer.Option("--chunk-mb", help="Cut plain files bigger than this into byte ranges (MB).")] = None,
    lo2_runs: Annotated[Optional[int], typer.Option("--lo2-runs", help="LO2: use the first N runs.")] = None,
    lo2_services: Annotated[Optional[List[str]], typer.Option("--lo2-service", help="LO2: only these services (repeat).")] = None,
    lo2_cases: Annotated[Optional[List[str]], typer.Option("--lo2-test-case", help="LO2: only these error test cases (repeat); 'correct' is always kept.")] = None,
    lo2_errors: Annotated[Optional[int], typer.Option("--lo2-errors-per-run", help="LO2: draw this many error test cases per run (seeded).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed for the LO2 draw.")] = None,
    load_metrics: Annotated[bool, typer.Option("--load-metrics", help="LO2: also load metrics CSV / metric_*.json into metrics.parquet.")] = False,
    parse_out: Annotated[Optional[Path], typer.Option("--parse-out", help="Also run `logad parse` on the result, into this folder (ingest + parse in one go; parse settings from configs/parse.yaml, as `logad parse`).")] = None,
    workers: WorkersOpt = None,
    num_cpus: NumCpusOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Read logs into the ``events`` table (one row a line) with a manifest of counts.

    Example:
        logad ingest data/HDFS.log.gz --preset HDFS --labels data/anomaly_label.csv --out runs/hdfs/events --parse-out runs/hdfs/parsed
    """
    from logad.io import as_folder, join
    from logad.pipeline import run_ingest_parse
    from logad.settings import IngestSettings, ParseSettings

    settings = stage_settings(IngestSettings, config, {
        "preset": preset, "format": log_format, "regex": regex,
        "timestamp_format": timestamp_format, "labels": labels,
        "chunk_bytes": chunk_mb * 1024 * 1024 if chunk_mb else None, "workers": workers,
        "lo2.runs": lo2_runs, "lo2.services": lo2_services or None, "lo2.test_cases": lo2_cases or None,
        "lo2.errors_per_run": lo2_errors, "lo2.seed": seed, "lo2.load_metrics": load_metrics or None,
    }, set_)
    # parse's settings resolve as `logad parse` resolves them (configs/parse.yaml), checked now
    parse_settings = stage_settings(ParseSettings, None, {"workers": workers}) if parse_out else None
    out = as_folder(out)
    parse_out = as_folder(parse_out) if parse_out else None
    local_ray(num_cpus)
    manifest, pm = run_ingest_parse(sources, out, settings, parse_out, parse_settings)
    t = manifest["totals"]
    echo_outputs(f"ingest → {out}", {
        "files": manifest["n_files"], "lines read": t["lines_read"], "events": t["events"],
        "rejected": t["rejected"], "unmatched format": t["unmatched"], "bad utf-8": t["bad_utf8"],
        "seconds": manifest["seconds"], "events folder": join(out, "events"),
        "manifest": join(out, "manifest.json")})
    if manifest["errors"]:
        for err in manifest["errors"]:
            typer.echo(f"logad: error: {err}", err=True)
        typer.echo(f"logad: {manifest['n_files_failed']} of {manifest['n_files']} file(s) failed; "
                   "the others were ingested (see manifest.json)", err=True)
        raise typer.Exit(code=1)
    if pm is not None:
        c = pm["counts"]
        echo_outputs(f"parse → {parse_out}", {"lines": c["read"],
                                               "templates used": c["templates_used"],
                                               "distinct masked": c["distinct_masked"],
                                               "manifest": join(parse_out, "manifest.json")})


def presets() -> None:
    """List the source presets.

    Example:
        logad presets
    """
    from logad.sources.presets import list_presets, load_preset

    for name in list_presets():
        p = load_preset(name)
        typer.echo(f"{name:12s} {p.description}")


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("presets")(presets)
    app.command("ingest-sessions")(ingest_sessions)


def _file_labels(values: list[str]) -> dict[str, int]:
    """``--label`` values (``FILE=normal``, or ``normal`` for every file) as file -> 0/1."""
    from logad.errors import ConfigError
    from logad.sources.deeplog import LABEL_NAMES

    out = {}
    for value in values:
        name, _, word = value.rpartition("=")
        if word.lower() not in LABEL_NAMES:
            raise ConfigError(f"--label {value!r}: expected [FILE=]normal or [FILE=]anomaly")
        out[name or "*"] = LABEL_NAMES[word.lower()]
    return out


@handle_errors
def ingest_sessions(
    sources: Annotated[List[str], typer.Argument(help="Session files: one session a line of space-separated integer event keys (DeepLog's hdfs_train), or a CSV with a Sequence column (logdeep's Sequence,label).")],
    out: OutOpt,
    labels: Annotated[Optional[str], typer.Option("--labels", help="One 0/1 a session line, in input order; default: the CSV's label column, else from file names (*abnormal* = 1, *normal* = 0).")] = None,
    label: Annotated[Optional[List[str]], typer.Option("--label", help="Label every session of a file: FILE=normal or FILE=anomaly (repeat), or normal|anomaly for every file.")] = None,
    split: Annotated[str, typer.Option("--split", help="chronological (input order) or random.")] = "chronological",
    val_frac: Annotated[float, typer.Option("--val-frac", help="Share of sessions for validation.")] = 0.1,
    test_frac: Annotated[float, typer.Option("--test-frac", help="Share of sessions for test.")] = 0.2,
    dedup: Annotated[bool, typer.Option("--dedup/--no-dedup", help="Drop sessions repeating an earlier event-key sequence.")] = False,
    train_normal_only: Annotated[bool, typer.Option("--train-normal-only/--train-all", help="Drop anomalous sessions from train (they leave the run).")] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Load pre-parsed session files (DeepLog's hdfs_train etc.) as a ``sequences`` folder.

    Example:
        logad ingest-sessions hdfs_train hdfs_test_normal hdfs_test_abnormal --label hdfs_train=normal --out runs/deeplog
    """
    from logad.errors import ConfigError
    from logad.sources.session_files import run_ingest_sessions

    if not (val_frac >= 0 and test_frac >= 0 and val_frac + test_frac <= 1):
        raise ConfigError(f"--val-frac {val_frac} and --test-frac {test_frac}: each at least 0, "
                          "together at most 1")
    m = run_ingest_sessions(sources, out, labels=labels, file_labels=_file_labels(label or []),
                            split=split, fracs=(1 - val_frac - test_frac, val_frac, test_frac),
                            seed=seed, dedup=dedup, train_normal_only=train_normal_only)
    st = m["split"]
    rows = {**m["totals"], **{f"label {k}": v for k, v in m["labels"].items()},
            "duplicates removed": st["duplicates_removed"],
            "train anomalies dropped": st["train_anomalous_dropped"]}
    rows.update({f"{name} sessions (anomalous)": f"{v['sessions']} ({v['anomalous']})"
                 for name, v in st["splits"].items()})
    from logad.io import as_folder, join

    echo_outputs(f"ingest-sessions → {as_folder(out)}", {**rows, "sequences": join(as_folder(out), "sequences"),
                                                         "skipped": bool(m.get("skipped"))})
