"""LOOK/SKIP triage: leave-one-dataset-out quality on the 16 loghub 2k samples, and throughput.

Labels: BGL and Thunderbird by their ground truth (the alert field; Thunderbird_2k has no alert
line at all), the other 14 systems by bench/triage/loghub_2k_look_templates.yaml (templates
reviewed once by the helper that wrote this bench, standing in for the LLM labeller; see that
file) through the user-label path of ``logad triage label``.

Quality: the grid of configs/triage.yaml scored by GroupKFold with one fold per dataset
(leave-one-dataset-out). For each held-out dataset D, the grid point and the threshold are
chosen without D: the grid point with the best mean held-out AP over the other datasets, the
threshold from the other datasets' out-of-fold probabilities (both rules: ``budget``, mean LOOK
share per dataset <= 30 %, and ``recall``, pooled recall >= 0.95); D's figures come from its own
out-of-fold probabilities (a model that never saw D).

Throughput (one thread unless said; per core = divided by the workers): the NumPy scorer and the
scikit-learn pipeline on the same labelled lines; ``triage predict``'s functions (read a file,
score, keep LOOK lines with reasons) and logad's ingest + parse functions (generic preset) on the
same file, in the same run; the Ray runner with 1 and 2 workers. The file: the 16 samples
repeated ``--copies`` times, every digit redrawn in each copy so no line repeats.

    .venv/bin/python bench/bench_triage.py            # writes bench/results/triage.json
    .venv/bin/python bench/bench_triage.py --C 1 --word 10000 --char 20000 --throughput-only
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from logad.config import load_config  # noqa: E402
from logad.parsing.masking import compile_passes  # noqa: E402
from logad.triage.runs import DEFAULTS, masking_rules, run_label  # noqa: E402
from logad.triage.train import (Corpus, TrainSettings, best_row, budget_threshold,  # noqa: E402
                                choose_threshold, fit_pipeline, grid_search)

SHARED = Path(os.environ.get("LOGAD_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results" / "triage.json"


def _load(n_datasets: int | None) -> tuple[list[str], np.ndarray, np.ndarray, dict]:
    from triage.make_labels import template_labels

    import pyarrow.parquet as pq

    work = Path(tempfile.mkdtemp(prefix="bench_triage_"))
    looks = yaml.safe_load((ROOT / "bench" / "triage" / "loghub_2k_look_templates.yaml").read_text())
    rows = template_labels(SHARED / "loghub_2k", looks)
    user = work / "user.jsonl"
    user.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = load_config("triage", defaults=DEFAULTS)
    run_label([str(SHARED / "loghub_2k")], work / "labels", cfg, user_labels=user)
    t = pq.read_table(work / "labels" / "labels.parquet")
    names = sorted(set(t["dataset"].to_pylist()))[:n_datasets] if n_datasets else None
    if names:
        import pyarrow.compute as pc

        t = t.filter(pc.is_in(t["dataset"], __import__("pyarrow").array(names)))
    return (t["line"].to_pylist(), np.asarray(t["label"].to_pylist()),
            np.asarray(t["dataset"].to_pylist()), cfg)


def _pr(y: np.ndarray, look: np.ndarray) -> dict:
    tp = int((look & (y == 1)).sum())
    return {"lines": int(len(y)), "look_true": int(y.sum()), "marked_look": int(look.sum()),
            "share_look": float(look.mean()),
            "precision": tp / int(look.sum()) if look.any() else None,
            "recall": tp / int(y.sum()) if y.any() else None}


def _capped(p: np.ndarray, threshold: float, max_share: float) -> np.ndarray:
    """LOOK mask of one dataset (one file) as predict marks it: p >= threshold, capped."""
    import pyarrow as pa

    from logad.triage.predict import LOOK_SCHEMA, cap_per_file

    idx = np.flatnonzero(p >= threshold)
    looks = pa.table({"path": ["d"] * len(idx), "line_no": idx, "probability": p[idx],
                      "reason": [""] * len(idx), "line": [""] * len(idx)}, schema=LOOK_SCHEMA)
    kept, _ = cap_per_file(looks, {"d": len(p)}, max_share)
    look = np.zeros(len(p), dtype=bool)
    look[kept.column("line_no").to_numpy()] = True
    return look


def quality(raw, y, groups, settings, passes) -> tuple[dict, list[dict]]:
    t0 = time.perf_counter()
    corpus = Corpus.build(raw, y, groups, passes, settings)
    t_build = time.perf_counter() - t0
    names = sorted(set(groups.tolist()))
    rows, oof = grid_search(corpus, settings, n_splits=len(names))
    t_grid = time.perf_counter() - t0 - t_build
    per = {}
    for d in names:
        best = best_row(rows, exclude=d)
        key = (best["C"], best["word_max_features"], best["char_max_features"])
        p, other = oof[key], groups != d
        thr = {"budget": budget_threshold(p[other], groups[other], settings.max_look_share),
               "recall": choose_threshold(p[other], y[other], settings.target_recall)}
        m = groups == d
        from sklearn.metrics import average_precision_score

        per[d] = {"params": {k: best[k] for k in ("C", "word_max_features", "char_max_features")},
                  "ap": float(average_precision_score(y[m], p[m])) if y[m].any() else None,
                  **{rule: {"threshold": t, **_pr(y[m], p[m] >= t)} for rule, t in thr.items()}}
        # what `logad triage predict` does by default: the budget threshold, then at most
        # max_look_share of the file's lines (the most likely ones; logad.triage.predict.cap_per_file)
        per[d]["budget_capped"] = {"threshold": thr["budget"], "max_look_share": settings.max_look_share,
                                   **_pr(y[m], _capped(p[m], thr["budget"], settings.max_look_share))}
        # oracle: the share of D marked LOOK at the threshold giving recall 0.95 on D itself
        if y[m].any():
            t_or = choose_threshold(p[m], y[m], 0.95)
            per[d]["oracle_share_at_recall_0.95"] = float((p[m] >= t_or).mean())
    return {"seconds_count_ngrams": round(t_build, 1), "seconds_grid": round(t_grid, 1),
            "per_dataset": per}, rows


def _fresh_copies(copies: int, out: Path, seed: int = 0) -> int:
    rng = random.Random(seed)
    logs = sorted((SHARED / "loghub_2k").glob("*/*_2k.log"))
    lines = [ln.rstrip("\r") for f in logs for ln in f.read_text(encoding="utf-8", errors="replace").split("\n") if ln.strip()]
    digit = re.compile(r"\d")
    n = 0
    with out.open("w", encoding="utf-8") as fh:
        for c in range(copies):
            for ln in lines:
                fh.write((digit.sub(lambda _: str(rng.randrange(10)), ln) if c else ln) + "\n")
                n += 1
    return n


def throughput(raw, y, groups, settings, passes, rules, best, copies, repeat) -> dict:
    from logad.ray.runtime import ensure_ray
    from logad.ray.triage import run_triage
    from logad.sources.files import expand_sources, plan_units
    from logad.sources.reader import UnitStats, iter_entries
    from logad.triage.export import export_model
    from logad.triage.predict import look_rows
    from logad.triage.scorer import TriageScorer

    work = Path(tempfile.mkdtemp(prefix="bench_triage_tp_"))
    t0 = time.perf_counter()
    pipe = fit_pipeline(raw, y, passes, best, settings)
    t_fit = time.perf_counter() - t0
    doc = export_model(pipe, rules, 0.5, raw, work / "model" / "model.json")
    out: dict = {"fit_seconds": round(t_fit, 1), "parity_max_abs_diff": doc["meta"]["parity"]["max_abs_diff"],
                 "parity_lines": len(raw)}
    best_s = {"sklearn": float("inf"), "json_scorer": float("inf")}
    for _ in range(repeat):
        t0 = time.perf_counter(); pipe.proba(raw); best_s["sklearn"] = min(best_s["sklearn"], time.perf_counter() - t0)
        s2 = TriageScorer(doc)  # fresh: no cached masked lines
        t0 = time.perf_counter(); s2.proba(raw); best_s["json_scorer"] = min(best_s["json_scorer"], time.perf_counter() - t0)
    out["labelled_lines"] = {k: {"seconds": round(v, 3), "lines_per_s": len(raw) / v} for k, v in best_s.items()}
    out["labelled_lines"]["json_over_sklearn"] = best_s["sklearn"] / best_s["json_scorer"]

    big = work / "corpus.log"
    n = _fresh_copies(copies, big)
    out["corpus_lines"] = n
    sec = float("inf")
    for _ in range(repeat):
        s2 = TriageScorer(doc)
        t0 = time.perf_counter()
        looks = 0
        for u in plan_units(expand_sources([str(big)]), 1 << 40):
            st = UnitStats()
            for b in iter_entries(u, st, batch_lines=65536):
                looks += look_rows(s2, b.raw, np.asarray(b.line_no), u.file.display).num_rows
        sec = min(sec, time.perf_counter() - t0)
    out["triage_functions_1_thread"] = {"seconds": round(sec, 3), "lines_per_s": n / sec,
                                        "look_share_at_0.5": looks / n}
    import bench_parse

    bench_parse.WORK.mkdir(parents=True, exist_ok=True)

    cfg_parse = load_config("parse")
    masking = yaml.safe_load((ROOT / "configs" / "masking.yaml").read_text())
    out["parse_functions_1_thread"] = bench_parse.logad_raw_one_thread(big, "generic", cfg_parse, masking, repeat)
    out["predict_over_parse_per_core"] = (out["triage_functions_1_thread"]["lines_per_s"]
                                          / out["parse_functions_1_thread"]["lines_per_s"])
    ensure_ray(num_cpus=2)
    ray_runs = {}
    for w in (1, 2):
        best_w = float("inf")
        for r in range(repeat):
            t0 = time.perf_counter()
            m = run_triage([str(big)], work / "model", work / f"pred_{w}_{r}",
                           {"workers": w, "chunk_bytes": 4 * 1024 * 1024})
            best_w = min(best_w, time.perf_counter() - t0)
        ray_runs[f"{w}_workers"] = {"seconds": round(best_w, 3), "lines_per_s": n / best_w,
                                    "lines_per_s_per_core": n / best_w / w, "look": m["totals"]["look"]}
    out["ray_run_triage"] = ray_runs
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=8, help="copies of the 32k sample lines in the throughput file")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--datasets", type=int, default=None, help="first N datasets only (a quick run)")
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--throughput-only", action="store_true",
                    help="skip the quality grid (one grid point: one value each of --C --word --char); "
                         "keep the quality figures of the results file and say from which run")
    ap.add_argument("--C", type=float, nargs="+", help="override the grid's C values")
    ap.add_argument("--word", type=int, nargs="+", help="override the grid's word_max_features")
    ap.add_argument("--char", type=int, nargs="+", help="override the grid's char_max_features")
    a = ap.parse_args()
    started = dt.datetime.now(dt.timezone.utc)
    raw, y, groups, cfg = _load(a.datasets)
    train_cfg = dict(cfg["train"])
    for key, val in (("C", a.C), ("word_max_features", a.word), ("char_max_features", a.char)):
        if val:
            train_cfg[key] = val
    settings = TrainSettings.from_config(train_cfg)
    rules = masking_rules(cfg)
    passes = compile_passes(rules)
    meta = {"started_utc": started.isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or platform.platform()}",
            "load_at_start": os.getloadavg(),
            "note": "shared machine: other helpers ran at the same time (see load_*)",
            "command": "python " + " ".join(sys.argv)}
    if a.throughput_only:
        point = {"C": settings.C, "word_max_features": settings.word_max_features,
                 "char_max_features": settings.char_max_features}
        if any(len(v) != 1 for v in point.values()):
            ap.error("--throughput-only needs one grid point: one value each of --C, --word, --char")
        res = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {"bench": "triage"}
        res.setdefault("quality_from_run", {k: res.get(k) for k in ("started_utc", "finished_utc", "command", "git_commit")})
        res.update(meta)
        res["throughput"] = throughput(raw, y, groups, settings, passes, rules,
                                       {k: v[0] for k, v in point.items()}, a.copies, a.repeat)
    else:
        q, rows = quality(raw, y, groups, settings, passes)
        res = {"bench": "triage", **meta, "grid": rows,
               "grid_settings": {k: getattr(settings, k) for k in ("C", "word_max_features", "char_max_features",
                                                                    "word_ngram", "char_ngram", "class_weight",
                                                                    "max_look_share", "target_recall")}, "quality": q,
               "labels": {"lines": len(y), "look": int(y.sum()), "datasets": sorted(set(groups.tolist()))}}
        if not a.no_throughput:
            res["throughput"] = throughput(raw, y, groups, settings, passes, rules, best_row(rows),
                                           a.copies, a.repeat)
    q = res.get("quality", {"per_dataset": {}})
    res["load_at_end"] = os.getloadavg()
    res["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    try:
        res["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                           text=True).stdout.strip()
    except OSError:
        pass
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2, default=float) + "\n", encoding="utf-8")
    print("| dataset | LOOK lines | AP | budget: share LOOK | P | R | budget + cap (predict): share | P | R "
          "| recall rule: share | R | oracle share @R0.95 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    f = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    for d, r in q["per_dataset"].items():
        b, bc, rc = r["budget"], r["budget_capped"], r["recall"]
        print(f"| {d} | {b['look_true']} | {f(r['ap'])} | {f(b['share_look'])} | {f(b['precision'])} | "
              f"{f(b['recall'])} | {f(bc['share_look'])} | {f(bc['precision'])} | {f(bc['recall'])} | "
              f"{f(rc['share_look'])} | {f(rc['recall'])} | {f(r.get('oracle_share_at_recall_0.95'))} |")
    if "throughput" in res:
        t = res["throughput"]
        print("\n| what (one thread unless said) | lines/s |\n|---|---|")
        for name, v in (("triage predict's functions", t["triage_functions_1_thread"]),
                        ("ingest + parse functions, same file", t["parse_functions_1_thread"]),
                        ("run_triage, 1 worker", t["ray_run_triage"]["1_workers"]),
                        ("run_triage, 2 workers", t["ray_run_triage"]["2_workers"]),
                        ("JSON scorer, labelled lines", t["labelled_lines"]["json_scorer"]),
                        ("scikit-learn pipeline, same lines", t["labelled_lines"]["sklearn"])):
            print(f"| {name} | {v['lines_per_s']:,.0f} |")
        print(f"\npredict / parse per core: {t['predict_over_parse_per_core']:.3f} (target >= 0.5)")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
