"""The main job from one config: synth or inputs → ingest → parse → sessionize → train → score →
evaluate → explain → report, all in one Ray session (start-up paid once).

Each stage is the same library call its CLI command makes and writes its own folder under
``out``; each skips what is finished (the stages' run keys), so re-running a pipeline after a
change redoes only what the change touches. ``logad run configs/pipeline.yaml`` and
``jobs/pipeline.py`` call :func:`run_pipeline`; ``logad demo`` is this pipeline with
``configs/demo.yaml``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from logad.config import deep_merge
from logad.errors import ConfigError
from logad.io.store import join
from logad.settings import PipelineSettings, resolve

__all__ = ["run_pipeline", "run_ingest_parse", "load_pipeline_config", "STAGES"]

log = logging.getLogger(__name__)

#: The stages in order.
STAGES = ("synth", "ingest", "parse", "sessionize", "train", "score", "evaluate", "explain", "report")


def load_pipeline_config(config: str | Path | Mapping, overrides: Mapping[str, Any] | None = None,
                         sets: Sequence[str] | None = None) -> dict:
    """``configs/pipeline.yaml`` ← the file (or mapping) ← ``overrides`` (nested mappings merge;
    None: not given) ← ``sets`` (``KEY=VALUE``, dotted), resolved as
    :class:`~logad.settings.PipelineSettings`; every stage section is checked against its stage's
    settings now, so a wrong key fails before any work."""
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if isinstance(config, Mapping):
        settings = resolve(PipelineSettings, values=deep_merge(dict(config), given), sets=sets,
                           what="pipeline config")
    else:
        settings = resolve(PipelineSettings, config, values=given, sets=sets, what="pipeline config")
    settings.check_stages()
    return settings.dump()


def _synth(out: Path, cfg: dict, state: dict) -> dict:
    if cfg["synth"] is None:
        inp = cfg["inputs"]
        state["sources"], state["ingest_cfg"] = list(inp["paths"]), {k: v for k, v in inp.items() if k != "paths"}
        return {"inputs": state["sources"]}
    syn = dict(cfg["synth"])
    kind = syn.pop("kind", "openstack")
    if kind != "openstack":
        raise ConfigError(f"pipeline synth.kind: only openstack is wired into the pipeline, got {kind!r}")
    corpus = join(out, "corpus", kind)
    want = {"seed": cfg["seed"], kind: syn}
    key = hashlib.blake2b(json.dumps(want, sort_keys=True, default=str).encode(), digest_size=8).hexdigest()
    done = _synth_marker(corpus)
    if done.get("key") == key:
        summary = {**done["summary"], "skipped": True}
    else:
        summary = _make_corpus(kind, corpus, want, key)
    state["sources"] = [str(join(corpus, "*.log"))]
    state["ingest_cfg"] = {"preset": "OpenStack", "labels": str(join(corpus, "anomaly_labels.txt"))}
    return summary


_MARKER = ".synth_done.json"


def _synth_marker(corpus: str | Path) -> dict:
    """The marker a finished synth left in ``corpus`` (its key and summary), {} when none."""
    from logad.io import Store, looks_remote

    try:
        if looks_remote(corpus):
            return Store.at(str(corpus)).read_json(_MARKER)
        return json.loads((Path(corpus) / _MARKER).read_text())
    except (OSError, ValueError):
        return {}


def _make_corpus(kind: str, corpus: str | Path, want: dict, key: str) -> dict:
    """Generate the corpus into ``corpus`` (on object storage :func:`~logad.synth.run_synth`
    generates it locally and uploads it), the marker written last (a killed run is redone)."""
    from logad.io import Store, looks_remote
    from logad.synth import run_synth

    s = run_synth(kind, corpus, want)
    summary = {"corpus": str(corpus), "lines": s.get("lines")}
    marker = {"key": key, "summary": summary}
    if looks_remote(corpus):
        Store.at(str(corpus)).write_json(_MARKER, marker)
    else:
        (Path(corpus) / _MARKER).write_text(json.dumps(marker))
    return summary


def _ingest(out: Path, cfg: dict, state: dict) -> dict:
    from logad.ray.ingest import run_ingest

    m = run_ingest(state["sources"], join(out, "events"), deep_merge(state["ingest_cfg"], cfg["ingest"]))
    return {"events": m["totals"]["events"], "files": m["n_files"], "errors": len(m["errors"])}


def _parse(out: Path, cfg: dict, state: dict) -> dict:
    from logad.ray.parse import run_parse

    m = run_parse(join(out, "events"), join(out, "parsed"), cfg=cfg["parse"] or None)
    return {"lines": m["counts"]["read"], "templates": m["counts"]["templates"],
            "distinct masked": m["counts"]["distinct_masked"]}


def _sessionize(out: Path, cfg: dict, state: dict) -> dict:
    from logad.ray.sessionize import run_sessionize

    m = run_sessionize(join(out, "parsed"), join(out, "sessions"), cfg=cfg["sessionize"])
    return {"sessions": m["sessions_written"],
            **{f"{k} (anomalous)": f"{v['sessions']} ({v['anomalous']})" for k, v in m["splits"].items()}}


def _train(out: Path, cfg: dict, state: dict) -> dict:
    from logad.ray.train import run_train

    state["trained"] = {name: run_train(name, join(out, "sessions"), join(out, "models", name), cfg["train"] or None)
                        for name in cfg["models"]}
    return {"models": list(state["trained"]),
            "skipped": [n for n, t in state["trained"].items() if t.get("skipped")]}


def _score(out: Path, cfg: dict, state: dict) -> dict:
    from logad.ray.score import run_score

    m = run_score([join(out, "models", n) for n in cfg["models"]], join(out, "sessions"), join(out, "scores"), cfg["score"])
    return {"sessions": m["sessions_in"], "parts": len(m["parts"]), "seconds": m["seconds"],
            **{f"flagged ({r['model']})": r["flagged"] for r in m["models"]}, "skipped": bool(m.get("skipped"))}


def _evaluate(out: Path, cfg: dict, state: dict) -> dict:
    from logad.evaluate.evaluation import run_evaluate

    table = []
    for name, t in state["trained"].items():
        m = run_evaluate(join(out, "scores"), join(out, "evaluation", name), model=name)["metrics"]
        table.append({"model": name, "threshold": t["threshold_method"].replace(" on validation", "@val"),
                      **{k: m.get(k) for k in ("precision", "recall", "f1", "roc_auc", "pr_auc")}})
    state["table"] = table
    return {"table": table, "metrics": str(join(out, "evaluation", "<model>", "metrics.json"))}


def _explain(out: Path, cfg: dict, state: dict) -> dict:
    from logad.ray.explain import run_explain

    names = cfg["explain_models"] or cfg["models"]
    state["explained"] = {}
    summary = {}
    for name in names:
        r = run_explain(join(out, "models", name), join(out, "sessions"), join(out, "scores"), join(out, "explain", name),
                        {"parsed": str(join(out, "parsed")), **cfg["explain"]})
        state["explained"][name] = str(join(out, "explain", name))
        summary[name] = f"{r['explainer']}: {r.get('explained', 0)} sessions" + (" (skipped)" if r.get("skipped") else "")
    return summary


def _report(out: Path, cfg: dict, state: dict) -> dict:
    from logad.report import run_report

    rep = cfg["report"]
    cmp = None
    if rep.get("baseline"):  # a baseline corpus's parse folder: compare template distributions
        from logad.report.compare import run_compare

        cmp = run_compare(join(out, "parsed"), rep["baseline"], join(out, "compare"))
    first = [n for n in state.get("explained", {})][:1]
    order = first + [n for n in cfg["models"] if n not in first]
    r = run_report(join(out, "report"), sequences=join(out, "sessions"), scores=join(out, "scores"),
                   model_dirs=[join(out, "models", n) for n in order], explain_dirs=state.get("explained"),
                   parsed=join(out, "parsed"), split=_report_split(rep.get("split", "test")),
                   title=rep.get("title") or str(out), compare=cmp)
    state["report"] = r["html"]
    return {"report.html": r["html"], "report.md": r["md"], "plots": len(r["plots"])}


def _report_split(split: str | None) -> str | None:
    """The report's split as ``run_report`` takes it: ``all`` (every session) is None there."""
    return None if split == "all" else split


_FUNCS: dict[str, Callable[[Path, dict, dict], dict]] = {
    "synth": _synth, "ingest": _ingest, "parse": _parse, "sessionize": _sessionize, "train": _train,
    "score": _score, "evaluate": _evaluate, "explain": _explain, "report": _report}


def run_pipeline(config: str | Path | dict, on_stage: Callable[[str, dict], Any] | None = None,
                 sets: Sequence[str] | None = None, **overrides: Any) -> dict:
    """Run every stage of ``config`` (a YAML path / name under configs/, or a dict).

    Parameters
    ----------
    config : path or dict
        See ``configs/pipeline.yaml``.
    on_stage : callable, optional
        ``on_stage(name, summary)`` after each stage (the CLI prints there).
    sets : sequence of str, optional
        ``KEY=VALUE`` overrides with dotted keys (``parse.drain.sim_th=0.5``), read as YAML.
    **overrides
        Top-level config keys (``out="runs/x"``, ``synth={"lines": 10000}``...); nested mappings
        merge into the file's.

    Returns
    -------
    dict
        ``out``, ``stages`` ({stage: summary}), ``report`` (path of report.html), ``seconds``
        (per stage and total).
    """
    from logad.io import as_folder, looks_remote
    from logad.ray.runtime import size_local_ray

    cfg = load_pipeline_config(config, overrides, sets)
    out = as_folder(cfg["out"])
    if not looks_remote(out):
        out.mkdir(parents=True, exist_ok=True)
    # one Ray session for every stage that needs one, started by the first (a small corpus,
    # whose stages all run in this process, never starts it)
    size_local_ray(cfg.get("num_cpus"))
    state: dict = {}
    stages, seconds = {}, {}
    t_all = time.perf_counter()
    for i, name in enumerate(STAGES, 1):
        log.info("[%d/%d] %s ...", i, len(STAGES), name)
        t0 = time.perf_counter()
        stages[name] = _FUNCS[name](out, cfg, state)
        seconds[name] = round(time.perf_counter() - t0, 2)
        log.info("[%d/%d] %s done in %.1f s", i, len(STAGES), name, seconds[name])
        if on_stage is not None:
            on_stage(name, dict(stages[name]))
    seconds["total"] = round(time.perf_counter() - t_all, 2)
    from logad.io import write_json

    result = {"out": str(out), "stages": stages, "report": state.get("report"), "seconds": seconds}
    write_json({**result, "config": cfg}, join(out, "pipeline.json"))  # one object on object storage
    return result


def run_ingest_parse(sources: Sequence[str], out: str | Path, settings: Any,
                     parse_out: str | Path | None = None, parse_settings: Any = None
                     ) -> tuple[dict, dict | None]:
    """``logad ingest --parse-out``: ingest ``sources`` into ``out`` and, when every file was
    ingested and ``parse_out`` is given, parse that output into ``parse_out`` (with
    ``parse_settings``, resolved as ``logad parse`` resolves them). Returns both manifests
    (the second None when parse did not run)."""
    from logad.ray.ingest import run_ingest
    from logad.ray.parse import run_parse

    manifest = run_ingest(sources, out, settings)
    if parse_out is None or manifest["errors"]:
        return manifest, None
    return manifest, run_parse(out, parse_out, cfg=parse_settings)
