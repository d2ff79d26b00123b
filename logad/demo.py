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
    summary = run_synth("openstack", corpus, {"seed": seed, "openstack": {}})
    state["corpus"] = corpus
    return {"corpus": str(corpus), "lines": summary.get("lines")}


def _ingest(out: Path, seed: int, state: dict) -> dict:
    from logad.ray.ingest import run_ingest

    corpus = state["corpus"]
    m = run_ingest([str(corpus / "*.log")], out / "events",
                   {"preset": "OpenStack", "labels": str(corpus / "anomaly_labels.txt")})
    return {"events": m["totals"]["events"], "files": m["n_files"], "errors": len(m["errors"])}


#: (name, step) in order; later issues add parse, sessionize, train and evaluate here.
DEMO_STEPS: list[tuple[str, Callable[[Path, int, dict], dict]]] = [
    ("synth", _synth),
    ("ingest", _ingest),
]


def run_demo(out: str | Path, *, seed: int = 0, on_step: Callable[[str, dict], Any] | None = None) -> dict:
    """Run every demo step into ``out``; returns ``{step: summary}``."""
    from logad.ray.runtime import ensure_ray

    out = Path(out)
    ensure_ray()
    state: dict = {}
    results = {}
    for name, step in DEMO_STEPS:
        log.info("demo: %s", name)
        results[name] = step(out, seed, state)
        if on_step is not None:
            on_step(name, results[name])
    return results
