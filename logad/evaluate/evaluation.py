"""``logad evaluate``: metrics and plots of a ``scores`` table, on one split (test by default).

The threshold is the model's (chosen on validation when trained); evaluation never changes it.
PSI compares the scored distribution with the training scores the model kept
(``score_reference`` in ``model.yml``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from logad import __version__
from logad.errors import InputError
from logad.evaluate.metrics import compute_metrics, psi
from logad.evaluate.plots import write_plots
from logad.io import (ManifestError, as_folder, finished_manifest, key_file, local_dir, looks_remote,
                      output_dir, read_manifest, read_published, write_json, write_yaml)
from logad.io.atomic import write_parquet
from logad.models.folder import read_model_yml
from logad.models.thresholds import threshold_sweep
from logad.schema import require_columns
from logad.scoring.parts import read_scores, score_parts
from logad.settings import EvaluateSettings, coerce, settings_dump, stage_key

__all__ = ["run_evaluate"]

#: ``split`` / ``k`` not passed: they come from the settings (``configs/evaluate.yaml``).
_FROM_SETTINGS: object = object()


def _settings(cfg: EvaluateSettings | dict | None, split: object, k: object) -> EvaluateSettings:
    """The settings, with ``split`` (None: all) and ``k`` when a caller passed them."""
    settings = coerce(EvaluateSettings, cfg)
    over = {}
    if split is not _FROM_SETTINGS:
        over["split"] = "all" if split in (None, "") else split
    if k is not _FROM_SETTINGS:
        over["k"] = list(k)  # type: ignore[call-overload]
    return coerce(EvaluateSettings, {**settings_dump(settings), **over}) if over else settings


def run_evaluate(scores: str | Path, out_dir: str | Path, *, model_dir: str | Path | None = None,
                 split: str | None | object = _FROM_SETTINGS, k: tuple[int, ...] | object = _FROM_SETTINGS,
                 model: str | None = None, cfg: EvaluateSettings | dict | None = None) -> dict:
    """Write ``metrics.json`` and the PNG plots of ``scores`` (a score folder or one Parquet file).

    ``model`` names the model to evaluate when the folder holds several (``logad score
    --model A --model B``).

    ``split``: the split to evaluate; None or ``"all"`` for every session (written as
    ``"split": "all"``). Sessions without a label are left out of the label metrics and counted.
    ``split`` and ``k`` default to the settings (``cfg``: :class:`~logad.settings.EvaluateSettings`,
    or a dict of values over ``configs/evaluate.yaml``). A re-run with the same scores, model
    and settings returns the finished ``metrics.json`` (``"skipped": True``).
    """
    t0 = time.perf_counter()
    settings = _settings(cfg, split, k)
    split, k = settings.split, tuple(settings.k)
    scores_arg = str(as_folder(scores)) if looks_remote(scores) else str(scores)
    if model_dir is not None and looks_remote(model_dir):
        model_dir = str(as_folder(model_dir))
    if looks_remote(out_dir):
        return _on_object_storage(scores_arg, str(as_folder(out_dir)), settings, model, model_dir, t0)
    return _evaluate(scores_arg, Path(out_dir), settings, model, model_dir, t0)


def _key(scores: str, settings: EvaluateSettings, model: str | None,
         model_dir: str | Path | None) -> str:
    """The skip key: the scores' parts (on object storage: the folder's committed manifest),
    the settings and the model asked for (a model folder on object storage: its committed
    manifest too, so a new commit there re-evaluates)."""
    if looks_remote(scores):
        inputs: list = [key_file(scores, "")]
    else:
        path = Path(scores)
        inputs = [path] if path.is_file() else [*score_parts(path), *(
            [path / "scores.parquet"] if (path / "scores.parquet").is_file() else [])]
    identity: list = []
    if model_dir is not None and looks_remote(model_dir):
        inputs.append(key_file(model_dir, "model.yml"))
    elif model_dir and Path(model_dir).is_dir():
        identity.append(Path(model_dir) / "model.yml")
    return stage_key(inputs, settings, model, str(model_dir) if model_dir else None, *identity)


def _on_object_storage(scores: str, url: str, settings: EvaluateSettings, model: str | None,
                       model_dir: str | Path | None, t0: float) -> dict:
    """Evaluate into a local folder, then publish it to ``url`` (:func:`logad.io.output_dir`);
    a re-run whose key the committed manifest holds reads its ``metrics.json`` instead."""
    key = _key(scores, settings, model, model_dir)
    if finished_manifest(url, key) is not None:
        return {**json.loads(read_published(url, "metrics.json", "evaluation")), "skipped": True}
    with output_dir(url) as built:
        result = _evaluate(scores, built.path, settings, model, model_dir, t0, name_in_out=built.name)
    return result


def _evaluate(scores: str, out: Path, settings: EvaluateSettings, model: str | None,
              model_dir: str | Path | None, t0: float, name_in_out=None) -> dict:
    """The evaluation into the local folder ``out``; ``name_in_out`` names its files in the
    results (default: their paths in ``out``)."""
    split, k = settings.split, tuple(settings.k)
    key = _key(scores, settings, model, model_dir)
    done = finished_manifest(out, key) if (out / "metrics.json").is_file() else None
    if done is not None:
        return {**read_metrics(out), "skipped": True}
    path = local_dir(scores, "scores folder")
    local_model = local_dir(model_dir, "model folder") if model_dir is not None else None
    if model is None and local_model is not None and local_model.is_dir():
        model = (read_model_yml(local_model).get("extra") or {}).get("model")
    table = read_scores(path, model=model)
    if path.is_file():
        path = path.parent
    named_as = scores if looks_remote(scores) else str(path)  # messages name the URL, not the cache
    require_columns(table, ["session_id", "score", "threshold", "label", "split"], named_as)
    split = None if split in (None, "", "all") else split
    if split:
        table = table.filter(pc.equal(table.column("split"), split))
        if table.num_rows == 0:
            raise InputError(f"{named_as}: no sessions in split {split!r}")
    labels = table.column("label").to_numpy(zero_copy_only=False)
    known = ~np.isnan(labels.astype(float))
    s = table.column("score").to_numpy()
    threshold = float(table.column("threshold")[0].as_py())
    reference = None
    manifest_path = path / "manifest.json"
    if model_dir is None and manifest_path.is_file():
        try:
            done = read_manifest(manifest_path)
        except ManifestError as exc:
            raise InputError(f"{exc} (give --model DIR, or re-run `logad score`)") from None
        dirs = {m.model: m.model_dir for m in done.models or []}
        model_dir = dirs.get(model) if model else done.model_dir
        local_model = local_dir(model_dir, "model folder") if model_dir else None
    model_name = None
    if local_model is not None and local_model.is_dir():
        meta = read_model_yml(local_model)
        reference = meta.get("score_reference")
        model_name = (meta.get("extra") or {}).get("model")
    y = labels[known].astype(int) if known.any() else None
    metrics = compute_metrics(y, s[known] if y is not None else s, threshold, reference, k=list(k))
    if reference is not None and y is not None and (~known).any():
        metrics["psi"] = psi(reference, s)  # drift over every scored session, labelled or not
    plots = write_plots(out / "plots", y, s[known] if y is not None else s, threshold)
    outputs = {"metrics": "metrics.json", "config": "evaluate_config.yaml",
               "predictions": "predictions.parquet"}
    write_parquet(predictions(table, threshold), out / "predictions.parquet")
    if y is not None and 0 < y.sum() < y.size:
        sweep = threshold_sweep(s[known], y)
        sweep.to_csv(out / "threshold_sweep.csv", index=False)
        outputs["threshold_sweep"] = "threshold_sweep.csv"
        metrics["oracle"] = oracle(sweep)
    named = name_in_out or (lambda rel: str(out / rel))
    result = {"stage": "evaluate", "logad_version": __version__,
              "scores": named_as,
              "model": model_name, "split": split or "all", "sessions": int(table.num_rows),
              "unlabelled": int((~known).sum()), "metrics": metrics,
              "plots": {k: named(Path(v).relative_to(out).as_posix()) for k, v in plots.items()},
              "seconds": round(time.perf_counter() - t0, 3)}
    write_json(result, out / "metrics.json")
    write_yaml(settings.dump(), out / "evaluate_config.yaml")
    write_json({"stage": "evaluate", "status": "complete", "logad_version": __version__, "run_key": key,
                "outputs": outputs}, out / "manifest.json")
    return result


def predictions(table, threshold: float):
    """One row per evaluated session: id, score, the model's call at its threshold, label, split."""
    import pyarrow as pa

    cols = {"session_id": table.column("session_id"), "score": table.column("score"),
            "is_anomaly": pc.greater(table.column("score"), pa.scalar(float(threshold))),
            "label": table.column("label"), "split": table.column("split")}
    return pa.table(cols)


def oracle(sweep) -> dict:
    """The best F1 over every cut of the evaluated labels themselves: an *oracle* figure (the
    threshold is chosen on the data it is measured on), only to compare with published tables
    that tune on test; the model's own threshold comes from validation."""
    best = sweep.loc[sweep["f1"].fillna(-1).idxmax()]
    return {"label": "oracle: threshold chosen on the evaluated labels, not on validation",
            "threshold": float(best["threshold"]), "precision": float(best["precision"]),
            "recall": float(best["recall"]), "f1": float(best["f1"])}


def read_metrics(out_dir: str | Path) -> dict:
    """The ``metrics.json`` an evaluation wrote."""
    import json

    return json.loads((Path(out_dir) / "metrics.json").read_text(encoding="utf-8"))
