"""Parsing accuracy of logad parse on the 16 loghub 2k systems (not a timed test).

For each system: GA and FGA against loghub's ground truth and against loghub-2.0's corrected
ground truth, Drain's published GA beside them, and the grouping agreement with one plain
drain3 ``TemplateMiner`` fed every masked message in input order (same masking, same Drain
settings), which shows that mining only the distinct messages changes nothing.

One configuration for every system (configs/parse.yaml + configs/masking.yaml); a system's
``presets`` section of masking.yaml is added when it has one. Run:

    .venv/bin/python bench/bench_accuracy.py [--data ../shared/data] [--out bench/results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drain3 import TemplateMiner as Drain3Miner  # noqa: E402
from drain3.template_miner_config import TemplateMinerConfig  # noqa: E402

from logad.config import load_config, load_yaml  # noqa: E402
from logad.parsing.accuracy import f1_grouping_accuracy, grouping_accuracy, grouping_agreement  # noqa: E402
from logad.parsing.loghub import DRAIN_PUBLISHED_GA, LOGHUB_SYSTEMS, load_loghub_2k  # noqa: E402
from logad.parsing.masking import compile_passes, mask_array, rules_from_config  # noqa: E402
from logad.parsing.miner import DrainSettings, TemplateMiner  # noqa: E402
from logad.parsing.steps import parse_blocks  # noqa: E402


def drain3_reference(masked: list[str], settings: DrainSettings) -> tuple[list[int], list[str]]:
    """One drain3 TemplateMiner fed every masked line in order: (cluster ids, final templates)."""
    cfg = TemplateMinerConfig()
    cfg.masking_instructions = []
    cfg.drain_depth, cfg.drain_sim_th = settings.depth, settings.sim_th
    cfg.drain_max_children = settings.max_children
    cfg.drain_extra_delimiters = list(settings.extra_delimiters)
    cfg.parametrize_numeric_tokens = settings.parametrize_numeric_tokens
    tm = Drain3Miner(config=cfg)
    cids = [tm.add_log_message(m)["cluster_id"] for m in masked]
    final = {c.cluster_id: c.get_template() for c in tm.drain.clusters}
    return cids, [final[c] for c in cids]


def evaluate(system: str, data: Path, parse_cfg: dict, masking_cfg: dict) -> dict:
    sample = load_loghub_2k(data, system)
    settings = DrainSettings.from_config(parse_cfg.get("drain"))
    passes = compile_passes(rules_from_config(masking_cfg, system))
    table = sample.events()
    t0 = time.perf_counter()
    parsed, _, templates, _ = parse_blocks([table], passes, TemplateMiner(settings))
    seconds = time.perf_counter() - t0
    ids = parsed[0].column("template_id").to_pylist()
    masked = mask_array(table.column("content"), passes).to_pylist()
    ref_cids, ref_text = drain3_reference(masked, settings)
    row = {"system": system, "lines": len(ids), "templates": templates.num_rows,
           "truth_templates": len(set(sample.truth)),
           "distinct_masked": len(set(masked)),
           "ga": grouping_accuracy(ids, sample.truth), "fga": f1_grouping_accuracy(ids, sample.truth),
           "drain_published_ga": DRAIN_PUBLISHED_GA[system],
           "agreement_drain3_template": grouping_agreement(ids, ref_text),
           "agreement_drain3_cluster": grouping_agreement(ids, ref_cids),
           "preset_rules": [r["name"] for r in (masking_cfg.get("presets") or {}).get(system, [])],
           "seconds": round(seconds, 4)}
    if sample.corrected is not None:
        row["ga_corrected"] = grouping_accuracy(ids, sample.corrected)
        row["fga_corrected"] = f1_grouping_accuracy(ids, sample.corrected)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get(
        "LOGAD_SHARED_DATA", ROOT.parent / "shared" / "data")))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--config", default="parse", help="parse config (name under configs/ or path)")
    ap.add_argument("--systems", nargs="*", default=list(LOGHUB_SYSTEMS))
    args = ap.parse_args(argv)
    parse_cfg = load_config(args.config)
    masking_cfg = load_yaml(parse_cfg.get("masking", "masking"))
    rows = [evaluate(s, args.data, parse_cfg, masking_cfg) for s in args.systems]

    def mean(key: str) -> float:
        vals = [r[key] for r in rows if key in r]
        return sum(vals) / len(vals) if vals else float("nan")

    summary = {"ga": mean("ga"), "fga": mean("fga"), "ga_corrected": mean("ga_corrected"),
               "fga_corrected": mean("fga_corrected"), "drain_published_ga": mean("drain_published_ga"),
               "min_agreement_drain3_template": min(r["agreement_drain3_template"] for r in rows),
               "min_agreement_drain3_cluster": min(r["agreement_drain3_cluster"] for r in rows),
               "systems_below_drain": [r["system"] for r in rows
                                       if r["ga"] + 1e-9 < r["drain_published_ga"]]}
    result = {"benchmark": "parse accuracy (loghub 2k)", "date": dt.date.today().isoformat(),
              "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus",
              "command": "bench/bench_accuracy.py " + " ".join(argv or sys.argv[1:]),
              "drain": DrainSettings.from_config(parse_cfg.get("drain")).to_dict(),
              "rows": rows, "mean": summary}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "accuracy.json").write_text(json.dumps(result, indent=2) + "\n")

    head = (f"{'system':12} {'GA':>6} {'FGA':>6} {'GA2':>6} {'FGA2':>6} {'Drain':>6} "
            f"{'agree':>7} {'tmpl':>5} {'truth':>5}")
    print(head)
    for r in rows:
        flag = "" if r["ga"] + 1e-9 >= r["drain_published_ga"] else "  < Drain"
        print(f"{r['system']:12} {r['ga']:6.3f} {r['fga']:6.3f} {r.get('ga_corrected', float('nan')):6.3f} "
              f"{r.get('fga_corrected', float('nan')):6.3f} {r['drain_published_ga']:6.3f} "
              f"{r['agreement_drain3_template']:7.4f} {r['templates']:5d} {r['truth_templates']:5d}{flag}")
    print(f"{'mean':12} {summary['ga']:6.3f} {summary['fga']:6.3f} {summary['ga_corrected']:6.3f} "
          f"{summary['fga_corrected']:6.3f} {summary['drain_published_ga']:6.3f} "
          f"{summary['min_agreement_drain3_template']:7.4f} (min)")
    print("GA2/FGA2: against loghub-2.0's corrected templates; agree: grouping agreement with one "
          "drain3 TemplateMiner fed every masked line in order (by final template; by cluster id "
          f"the minimum is {summary['min_agreement_drain3_cluster']:.4f})")
    print(f"wrote {args.out / 'accuracy.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
