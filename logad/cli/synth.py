"""``logad synth``: write a labelled synthetic corpus (OpenStack, LO2 or Linux syslog)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, List, Optional

import typer

from logad.cli.common import ConfigOpt, OutOpt, echo_outputs, handle_errors
from logad.config import load_config, load_yaml
from logad.errors import ConfigError

__all__ = ["register", "synth", "SynthKind"]


class SynthKind(str, Enum):
    openstack = "openstack"
    lo2 = "lo2"
    kernel = "kernel"


def _opt(help_text: str, *names: str) -> Any:
    return typer.Option(*names, help=help_text, show_default=False)


# Flags that mean something for some kinds only: flag name -> {kind: config key}.
_SHARED = {
    "--lines": {"openstack": "lines", "kernel": "lines"},
    "--anomaly-ratio": {"openstack": "anomaly_ratio", "kernel": "anomaly_ratio"},
    "--anomaly-kind": {"openstack": "anomaly_kinds", "kernel": "episode_kinds"},
    "--start": {"openstack": "start", "kernel": "start"},
}


@handle_errors
def synth(
    kind: Annotated[SynthKind, typer.Argument(help="What to write: openstack, lo2 or kernel.")],
    out: OutOpt,
    seed: Annotated[Optional[int], _opt("Random seed; the same seed writes the same bytes. [default: 42]", "--seed")] = None,
    lines: Annotated[Optional[int], _opt("openstack, kernel: total log lines.", "--lines")] = None,
    anomaly_ratio: Annotated[Optional[float], _opt("openstack: share of anomalous instances (0.15); kernel: share of lines in anomalous episodes (0.05).", "--anomaly-ratio")] = None,
    anomaly_kind: Annotated[Optional[List[str]], _opt("openstack: anomaly kinds to draw from; kernel: episode kinds (repeat the flag).", "--anomaly-kind")] = None,
    start: Annotated[Optional[str], _opt("openstack, kernel: time of the first line, 'YYYY-MM-DD HH:MM:SS'.", "--start")] = None,
    compute_hosts: Annotated[Optional[int], _opt("openstack: compute nodes.", "--compute-hosts")] = None,
    instance_share: Annotated[Optional[float], _opt("openstack: share of lines from instance lifecycles.", "--instance-share")] = None,
    mean_gap_s: Annotated[Optional[float], _opt("openstack: mean seconds between boot requests.", "--mean-gap-s")] = None,
    combined: Annotated[Optional[bool], _opt("openstack: also write openstack_combined.log.", "--combined/--no-combined")] = None,
    runs: Annotated[Optional[int], _opt("lo2: number of runs (light-oauth2-data-<epoch>).", "--runs")] = None,
    service: Annotated[Optional[List[str]], _opt("lo2: services to write (repeat; default all seven).", "--service")] = None,
    errors_per_run: Annotated[Optional[int], _opt("lo2: error test cases per run.", "--errors-per-run")] = None,
    error_case: Annotated[Optional[List[str]], _opt("lo2: allowed error test case names (repeat; default all).", "--error-case")] = None,
    lines_per_file: Annotated[Optional[int], _opt("lo2: lines of a token-service log; other services scale.", "--lines-per-file")] = None,
    correct_length_factor: Annotated[Optional[float], _opt("lo2: 'correct' logs this many times longer (real LO2 ~6).", "--correct-length-factor")] = None,
    error_share: Annotated[Optional[float], _opt("lo2: share of the broken service's requests that fail.", "--error-share")] = None,
    noise_rate: Annotated[Optional[float], _opt("lo2: share of requests with a benign ERROR.", "--noise-rate")] = None,
    start_epoch: Annotated[Optional[int], _opt("lo2: epoch of the first run.", "--start-epoch")] = None,
    tar: Annotated[Optional[bool], _opt("lo2: also pack each run as light-oauth2-data-<epoch>.tar.", "--tar/--no-tar")] = None,
    episode_min: Annotated[Optional[int], _opt("kernel: smallest anomalous episode, in lines.", "--episode-min")] = None,
    episode_max: Annotated[Optional[int], _opt("kernel: largest anomalous episode, in lines.", "--episode-max")] = None,
    host: Annotated[Optional[str], _opt("kernel: host name column.", "--host")] = None,
    config: ConfigOpt = None,
) -> None:
    """Write a labelled synthetic corpus that looks like real logs (defaults: configs/synth.yaml).

    openstack: one loghub-format log per service + anomaly_labels.txt + instances.csv.
    lo2: the LO2 tree (runs / test cases / service logs), metrics, optional tars.
    kernel: kernel.log + kernel_labels.csv (line_no,label).

    Example:
        logad synth openstack --out demo/openstack --seed 7 --lines 20000 --anomaly-ratio 0.1
    """
    from logad.synth import run_synth

    k = kind.value
    shared = {"--lines": lines, "--anomaly-ratio": anomaly_ratio, "--anomaly-kind": anomaly_kind or None,
              "--start": start}
    overrides: dict[str, Any] = {"seed": seed}
    for flag, value in shared.items():
        if value is None:
            continue
        if k not in _SHARED[flag]:
            raise ConfigError(f"{flag} does not apply to {k}" + (" (use --lines-per-file)" if flag == "--lines" else ""))
        overrides[f"{k}.{_SHARED[flag][k]}"] = value
    own = {
        "openstack": {"compute_hosts": compute_hosts, "instance_share": instance_share, "mean_gap_s": mean_gap_s,
                      "combined": combined},
        "lo2": {"runs": runs, "services": service or None, "errors_per_run": errors_per_run,
                "error_cases": error_case or None, "lines_per_file": lines_per_file,
                "correct_length_factor": correct_length_factor, "error_share": error_share,
                "noise_rate": noise_rate, "start_epoch": start_epoch, "tar": tar},
        "kernel": {"host": host},
    }
    for other, opts in own.items():
        for key, value in opts.items():
            if value is None:
                continue
            if other != k:
                raise ConfigError(f"--{key.replace('_', '-')} is an option of {other}, not {k}")
            overrides[f"{k}.{key}"] = value
    cfg = load_config(config, overrides, defaults=load_yaml("synth"))
    if k == "kernel" and (episode_min is not None or episode_max is not None):
        current = cfg["kernel"].get("episode_lines")
        lo, hi = current if isinstance(current, (list, tuple)) and len(current) == 2 else (6, 60)
        cfg["kernel"]["episode_lines"] = [episode_min if episode_min is not None else lo,
                                          episode_max if episode_max is not None else hi]
    elif episode_min is not None or episode_max is not None:
        raise ConfigError(f"--episode-min/--episode-max are options of kernel, not {k}")
    summary = run_synth(k, out, cfg)
    rows = {"kind": k, "out": summary.get("out", out), "files": len(summary["files"]), "lines": summary["lines"]}
    for key in ("instances", "anomalies", "runs", "test_cases", "log_files", "anomalous_files",
                "anomalous_lines", "stale_files"):
        if summary.get(key) or (key in summary and key != "stale_files"):
            rows[key.replace("_", " ")] = summary[key]
    if summary.get("skipped"):
        rows["skipped"] = "the same corpus is already there"
    rows.update({"seconds": summary["seconds"], "config": summary["config"]})
    echo_outputs(f"synth {k} → {out}", rows)


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command to ``app``."""
    app.command("synth")(synth)
