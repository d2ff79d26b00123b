"""The main job on the built-in corpus: what ``make demo`` runs.

The pipeline (:func:`logad.pipeline.run_pipeline`) with ``configs/demo.yaml``: synth
(OpenStack-like corpus, labelled per instance) → ingest → parse → sessionize (by instance) →
train (statistical baseline, IsolationForest, PCA, logistic regression, XGBoost) → score (every
model in one pass) → evaluate → explain → report. Each step writes its folder under ``out``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from logad.config import load_yaml

__all__ = ["run_demo", "DEMO_MODELS", "DEMO_STEPS"]

log = logging.getLogger(__name__)

#: The models the demo trains: the statistical baseline, IsolationForest and XGBoost, plus PCA
#: and logistic regression for comparison.
DEMO_MODELS = tuple(load_yaml("demo.yaml")["models"])

#: Demo step name → the pipeline stage whose summary it shows (train, score and evaluate are
#: shown as one step with the metrics table).
DEMO_STEPS = {"synth": "synth", "ingest": "ingest", "parse": "parse", "sessionize": "sessionize",
              "train + evaluate (test split)": "evaluate", "explain": "explain", "report": "report"}


def run_demo(out: str | Path, *, seed: int = 0, synth: dict | None = None,
             on_step: Callable[[str, dict], Any] | None = None) -> dict:
    """Run the demo pipeline into ``out``; returns ``{step: summary}`` (see :data:`DEMO_STEPS`).

    ``synth`` overrides the corpus settings (``configs/synth.yaml`` section ``openstack``),
    e.g. ``{"lines": 10000}`` for a quicker run.
    """
    from logad.pipeline import run_pipeline

    shown = {v: k for k, v in DEMO_STEPS.items()}

    def step(stage: str, summary: dict) -> None:
        if stage in shown and on_step is not None:
            on_step(shown[stage], summary)

    r = run_pipeline("demo.yaml", on_stage=step, out=str(out), seed=seed, synth=synth or None)
    results = {name: r["stages"][stage] for name, stage in DEMO_STEPS.items()}
    results["train + evaluate (test split)"] = {
        **results["train + evaluate (test split)"], "models": str(Path(out) / "models"),
        "plots": str(Path(out) / "evaluation" / "<model>" / "plots")}
    return results
