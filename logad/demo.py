"""The main job on the built-in corpus: what ``make demo`` runs.

synth (OpenStack-like corpus, labelled per instance) → ingest → parse → sessionize (by instance)
→ train (statistical baseline, IsolationForest, XGBoost, ...) → evaluate. Each step is the same
library call the CLI command makes, and each writes its folder under ``out``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

__all__ = ["run_demo", "DEMO_STEPS"]

log = logging.getLogger(__name__)


def _synth(out: Path, seed: int, state: dict) -> dict:
    from logad.synth import run_synth

    corpus = out / "corpus" / "openstack"
    summary = run_synth("openstack", corpus, {"seed": seed, "openstack": dict(state.get("synth") or {})})
    state["corpus"] = corpus
    return {"corpus": str(corpus), "lines": summary.get("lines")}


def _ingest(out: Path, seed: int, state: dict) -> dict:
    from logad.ray.ingest import run_ingest

    corpus = state["corpus"]
    m = run_ingest([str(corpus / "*.log")], out / "events",
                   {"preset": "OpenStack", "labels": str(corpus / "anomaly_labels.txt")})
    return {"events": m["totals"]["events"], "files": m["n_files"], "errors": len(m["errors"])}


def _parse(out: Path, seed: int, state: dict) -> dict:
    from logad.ray.parse import run_parse

    m = run_parse(out / "events", out / "parsed")
    return {"lines": m["counts"]["read"], "templates": m["counts"]["templates"],
            "distinct masked": m["counts"]["distinct_masked"]}


def _sessionize(out: Path, seed: int, state: dict) -> dict:
    from logad.ray.sessionize import run_sessionize

    m = run_sessionize(out / "parsed", out / "sessions", cfg={"by": "instance"})
    splits = m["splits"]
    return {"sessions": m["sessions_written"],
            **{f"{k} (anomalous)": f"{v['sessions']} ({v['anomalous']})" for k, v in splits.items()}}


#: The models the demo trains: the statistical baseline, IsolationForest and XGBoost, plus PCA
#: and logistic regression for comparison.
DEMO_MODELS = ("sequence_baseline_counts", "sequence_if_counts", "sequence_pca_counts",
               "sequence_lr_counts", "sequence_xgb_counts")


def _train_evaluate(out: Path, seed: int, state: dict) -> dict:
    from logad.evaluate.evaluation import run_evaluate
    from logad.ray.score import run_score
    from logad.ray.train import run_train

    trained = {name: run_train(name, out / "sessions", out / "models" / name) for name in DEMO_MODELS}
    # every model in one pass over the sessions: one folder of parts, a row per session and model
    run_score([out / "models" / name for name in DEMO_MODELS], out / "sessions", out / "scores")
    table = []
    for name, t in trained.items():
        m = run_evaluate(out / "scores", out / "evaluation" / name, model=name)["metrics"]
        table.append({"model": name, "threshold": t["threshold_method"].replace(" on validation", "@val"),
                      **{k: m.get(k) for k in ("precision", "recall", "f1", "roc_auc", "pr_auc")}})
    return {"table": table, "models": str(out / "models"),
            "metrics": str(out / "evaluation" / "<model>" / "metrics.json"),
            "plots": str(out / "evaluation" / "<model>" / "plots")}


#: (name, step) in order.
DEMO_STEPS: list[tuple[str, Callable[[Path, int, dict], dict]]] = [
    ("synth", _synth),
    ("ingest", _ingest),
    ("parse", _parse),
    ("sessionize", _sessionize),
    ("train + evaluate (test split)", _train_evaluate),
]


def run_demo(out: str | Path, *, seed: int = 0, synth: dict | None = None,
             on_step: Callable[[str, dict], Any] | None = None) -> dict:
    """Run every demo step into ``out``; returns ``{step: summary}``.

    ``synth`` overrides the corpus settings (``configs/synth.yaml`` section ``openstack``),
    e.g. ``{"lines": 10000}`` for a quicker run.
    """
    from logad.ray.runtime import ensure_ray

    out = Path(out)
    ensure_ray()
    state: dict = {"synth": synth}
    results = {}
    for name, step in DEMO_STEPS:
        log.info("demo: %s", name)
        results[name] = step(out, seed, state)
        if on_step is not None:
            on_step(name, results[name])
    return results
