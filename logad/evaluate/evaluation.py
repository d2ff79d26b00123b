"""``logad evaluate``: metrics and plots of a ``scores`` table, on one split (test by default).

The threshold is the model's (chosen on validation when trained); evaluation never changes it.
PSI compares the scored distribution with the training scores the model kept
(``score_reference`` in ``model.yml``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from logad import __version__
from logad.errors import InputError
from logad.evaluate.metrics import compute_metrics, psi
from logad.evaluate.plots import write_plots
from logad.io import ManifestError, read_manifest, write_json
from logad.models.folder import read_model_yml
from logad.schema import require_columns
from logad.scoring.parts import read_scores

__all__ = ["run_evaluate"]


def run_evaluate(scores: str | Path, out_dir: str | Path, *, model_dir: str | Path | None = None,
                 split: str | None = "test", k: tuple[int, ...] = (10, 100),
                 model: str | None = None) -> dict:
    """Write ``metrics.json`` and the PNG plots of ``scores`` (a score folder or one Parquet file).

    ``model`` names the model to evaluate when the folder holds several (``logad score
    --model A --model B``).

    ``split``: the split to evaluate; None or ``"all"`` for every session (written as
    ``"split": "all"``). Sessions without a label are left out of the label metrics and counted.
    """
    t0 = time.perf_counter()
    path = Path(scores)
    if model is None and model_dir is not None and Path(model_dir).is_dir():
        model = (read_model_yml(model_dir).get("extra") or {}).get("model")
    table = read_scores(path, model=model)
    if path.is_file():
        path = path.parent
    require_columns(table, ["session_id", "score", "threshold", "label", "split"], str(path))
    split = None if split in (None, "", "all") else split
    if split:
        table = table.filter(pc.equal(table.column("split"), split))
        if table.num_rows == 0:
            raise InputError(f"{path}: no sessions in split {split!r}")
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
    model_name = None
    if model_dir is not None and Path(model_dir).is_dir():
        meta = read_model_yml(model_dir)
        reference = meta.get("score_reference")
        model_name = (meta.get("extra") or {}).get("model")
    y = labels[known].astype(int) if known.any() else None
    metrics = compute_metrics(y, s[known] if y is not None else s, threshold, reference, k=list(k))
    if reference is not None and y is not None and (~known).any():
        metrics["psi"] = psi(reference, s)  # drift over every scored session, labelled or not
    out = Path(out_dir)
    plots = write_plots(out / "plots", y, s[known] if y is not None else s, threshold)
    result = {"stage": "evaluate", "logad_version": __version__, "scores": str(path),
              "model": model_name, "split": split or "all", "sessions": int(table.num_rows),
              "unlabelled": int((~known).sum()), "metrics": metrics,
              "plots": {k: str(v) for k, v in plots.items()},
              "seconds": round(time.perf_counter() - t0, 3)}
    write_json(result, out / "metrics.json")
    return result
