"""``logad triage label`` and ``logad triage train`` on the driver: read, call the pure parts,
write the outputs atomically (no Ray: a labelled set is small next to the logs it comes from).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow.parquet as pq

from logad import __version__
from logad.config import load_yaml
from logad.errors import ConfigError, InputError
from logad.io import (as_folder, atomic_path, committed, finished_manifest, key_file, local_dir,
                      looks_remote, output_dir, read_published, read_table, write_json,
                      write_parquet, write_yaml)
from logad.parsing.masking import compile_passes, rules_from_config
from logad.settings import stage_key
from logad.triage import labels as L

__all__ = ["DEFAULTS", "resolve", "run_label", "run_train", "masking_rules"]

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "masking": "masking",
    "label": {"ground_truth": ["BGL", "Thunderbird"], "validate_llm": True},
    "llm": {},
    "train": {},
    "predict": {},
}


def resolve(cfg: Mapping[str, Any]) -> dict:
    """Check the top-level keys of a triage config."""
    unknown = set(cfg) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"triage config: unknown key(s) {sorted(unknown)} (known: {sorted(DEFAULTS)})")
    lab = dict(cfg.get("label") or {})
    bad = set(lab) - {"ground_truth", "validate_llm"}
    if bad:
        raise ConfigError(f"triage label: unknown key(s) {sorted(bad)} (ground_truth, validate_llm)")
    return dict(cfg)


def masking_rules(cfg: Mapping[str, Any]):
    """The generic masking rules of the config's ``masking`` file (a name under configs/)."""
    return rules_from_config({"rules": load_yaml(cfg.get("masking") or "masking").get("rules") or []})


def _read_labels(path: str | Path):
    """The labels table at ``path`` (a local file or an object's URL), None when there is none."""
    try:
        if looks_remote(path):
            return read_table(path)
        if not Path(path).is_file():
            return None
        return pq.read_table(path)
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise InputError(f"{path}: cannot read labels ({type(exc).__name__}: {exc})") from None


def run_label(inputs: Sequence[str], out_dir: str | Path, cfg: Mapping[str, Any], *,
              user_labels: str | Path | None = None, use_llm: bool = False,
              new_only: bool = False, client=None) -> dict:
    """Build or extend ``out_dir/labels.parquet``; return the manifest (also written).

    ``client`` is a :class:`logad.triage.llm.BatchClient` (by default one from the environment,
    made only when ``use_llm``).

    ``out_dir`` may be an object-storage folder (``s3://...``): the labels it holds (its
    committed ``labels.parquet``) are fetched and extended in a local folder, which is then
    published (:func:`logad.io.output_dir`), committed by a ``manifest.json``; a re-run whose
    key (the datasets' files, the user labels, the settings and flags) it holds skips and
    returns the committed ``label_manifest.json`` (``"skipped": True``).
    """
    if looks_remote(out_dir):
        url = str(as_folder(out_dir))
        found = L.discover_datasets(inputs)
        key = stage_key([*found.values(), *([user_labels] if user_labels else [])],
                        dict(resolve(cfg)), use_llm, new_only)
        if finished_manifest(url, key) is not None:
            return {**json.loads(read_published(url, "label_manifest.json", "labels folder")),
                    "skipped": True}
        with output_dir(url) as built:
            if committed(url) is not None:  # extend the labels committed there
                shutil.copyfile(local_dir(url, "labels folder") / "labels.parquet",
                                built.path / "labels.parquet")
            manifest = run_label(inputs, built.path, cfg, user_labels=user_labels, use_llm=use_llm,
                                 new_only=new_only, client=client)
            _commit_manifest(built.path, "triage-label", key, ["labels.parquet",
                             "label_manifest.json", "triage_config.yaml"])
        return manifest
    t0 = time.perf_counter()
    cfg = resolve(cfg)
    out = Path(out_dir)
    target = out / "labels.parquet"
    existing = _read_labels(target)
    have = set(existing["dataset"].to_pylist()) if existing is not None else set()
    found = L.discover_datasets(inputs)
    chosen = {d: p for d, p in found.items() if not (new_only and d in have)}
    datasets = {d: L.read_lines(p) for d, p in chosen.items()}
    gt_names = {g.lower() for g in (cfg.get("label") or {}).get("ground_truth") or []}
    gt = [r for d, pairs in datasets.items() if d.lower() in gt_names
          for r in L.ground_truth(pairs, d)]
    # the text a model (and the LLM) sees: ground-truth datasets without their alert field
    text_of = {d: pairs for d, pairs in datasets.items() if d.lower() not in gt_names}
    for r in gt:
        text_of.setdefault(r["dataset"], []).append((r["line_no"], r["line"]))
    user, problems = [], []
    if user_labels:
        rows, problems = L.read_user_labels(user_labels)
        user, more = L.user_rows(rows, text_of)
        problems += more
    llm_rows, llm_counts, agree = [], None, {}
    if use_llm:
        from logad.triage.llm import BatchClient, LlmSettings, label_with_llm

        settings = LlmSettings.from_config(cfg.get("llm"))
        client = client or BatchClient.from_env(settings)
        covered = {(r["dataset"], r["line_no"]) for r in gt + user}
        validate = bool((cfg.get("label") or {}).get("validate_llm", True))
        send = {d: [(n, t) for n, t in pairs if validate and d.lower() in gt_names
                    or (d, n) not in covered] for d, pairs in text_of.items()}
        llm_rows, llm_counts = label_with_llm({d: v for d, v in send.items() if v}, client)
        agree = L.agreement(gt, llm_rows)
    new = L.to_table(L.combine(gt, user, llm_rows))
    merged, added = L.merge_labels(existing, new)
    write_parquet(merged, target)
    per: dict[str, dict] = {}
    for d, lab, src in zip(merged["dataset"].to_pylist(), merged["label"].to_pylist(),
                           merged["source"].to_pylist()):
        e = per.setdefault(d, {"dataset": d, "lines": 0, "look": 0, **{s: 0 for s in L.SOURCES}})
        e["lines"] += 1
        e["look"] += int(lab)
        e[src] += 1
    manifest = {"stage": "triage-label", "logad_version": __version__,
                "inputs": [str(i) for i in inputs], "datasets_found": sorted(found),
                "datasets_labelled_now": sorted(chosen), "new_only": new_only,
                "rows_added": added, "rows_total": merged.num_rows,
                "datasets": sorted(per.values(), key=lambda e: e["dataset"]),
                "user_label_problems": problems[:100], "n_user_label_problems": len(problems),
                "llm": llm_counts.to_dict() if llm_counts else None,
                "llm_vs_ground_truth": agree, "seconds": round(time.perf_counter() - t0, 3)}
    write_yaml(dict(cfg), out / "triage_config.yaml")
    write_json(manifest, out / "label_manifest.json")
    return manifest


def run_train(labels_path: str | Path, out_dir: str | Path, cfg: Mapping[str, Any], *,
              datasets: Sequence[str] | None = None) -> dict:
    """Grid-search, fit and export the triage model into ``out_dir``; return the manifest.

    Writes ``model.json`` (the portable model, parity-checked), ``grid.csv`` and ``grid.json``
    (the grid table), ``oof.parquet`` (out-of-fold probabilities of the chosen setting),
    ``triage_config.yaml`` and ``train_manifest.json``.

    ``labels_path`` may be on object storage (the folder of ``logad triage label --out s3://...``,
    fetched, or a ``labels.parquet`` URL), and so may ``out_dir``: the model folder is then
    built locally and published (:func:`logad.io.output_dir`), committed by a ``manifest.json``;
    a re-run whose key (the labels' commit or file, the settings, ``datasets``) it holds skips
    and returns the committed ``train_manifest.json`` (``"skipped": True``).
    """
    if looks_remote(out_dir):
        url = str(as_folder(out_dir))
        key = stage_key([_labels_key(labels_path)], dict(resolve(cfg)), sorted(datasets or []))
        if finished_manifest(url, key) is not None:
            return {**json.loads(read_published(url, "train_manifest.json", "triage model folder")),
                    "skipped": True}
        with output_dir(url) as built:
            manifest = run_train(labels_path, built.path, cfg, datasets=datasets)
            _commit_manifest(built.path, "triage-train", key, ["model.json", "grid.csv", "grid.json",
                             "oof.parquet", "triage_config.yaml", "train_manifest.json"])
        return manifest
    import pyarrow as pa

    from logad.triage.export import export_model
    from logad.triage.train import (Corpus, TrainSettings, best_row, fit_pipeline, grid_search,
                                    pick_threshold)

    t0 = time.perf_counter()
    cfg = resolve(cfg)
    settings = TrainSettings.from_config(cfg.get("train"))
    p, named = _labels_file(labels_path)
    table = _read_labels(p)
    if table is None:
        raise InputError(f"{named}: no labels here (run `logad triage label` first)")
    if datasets:
        table = table.filter(pa.compute.is_in(table["dataset"], pa.array(list(datasets))))
    rules = masking_rules(cfg)
    passes = compile_passes(rules)
    raw, y, groups = (table["line"].to_pylist(), np.asarray(table["label"].to_pylist()),
                      np.asarray(table["dataset"].to_pylist()))
    corpus = Corpus.build(raw, y, groups, passes, settings)
    rows, oof = grid_search(corpus, settings)
    best = best_row(rows)
    key = (best["C"], best["word_max_features"], best["char_max_features"])
    threshold = pick_threshold(oof[key], y, groups, settings)
    pipe = fit_pipeline(raw, y, passes, best, settings)
    out = Path(out_dir)
    parity_lines = raw if not settings.parity_lines else raw[: settings.parity_lines]
    meta = {"trained_on": sorted(set(groups.tolist())), "lines": len(raw), "look": int(y.sum()),
            "params": {k: best[k] for k in ("C", "word_max_features", "char_max_features")},
            "cv_mean_ap": best["mean_ap"], "threshold_rule": settings.threshold_rule,
            "target_recall": settings.target_recall, "max_look_share": settings.max_look_share}
    export_model(pipe, rules, threshold, parity_lines, out / "model.json", meta=meta)
    _write_grid(rows, out)
    write_parquet(pa.table({"dataset": groups, "label": y, "oof_probability": oof[key]}),
                  out / "oof.parquet")
    write_yaml(dict(cfg), out / "triage_config.yaml")
    manifest = {"stage": "triage-train", "logad_version": __version__, "labels": str(named),
                "lines": len(raw), "look": int(y.sum()), "datasets": sorted(set(groups.tolist())),
                "best": best, "threshold": threshold, "grid_points": len(rows),
                "parity_lines": len(parity_lines), "seconds": round(time.perf_counter() - t0, 3)}
    write_json(manifest, out / "train_manifest.json")
    return manifest


def _labels_file(labels_path: str | Path) -> tuple[str | Path, str | Path]:
    """The ``labels.parquet`` of ``labels_path`` (a file or a label folder; on object storage
    a published folder is fetched, a file read by its URL) and its name for messages (the URL,
    not the cache)."""
    if looks_remote(labels_path):
        url = str(as_folder(labels_path))
        if url.endswith(".parquet"):
            return url, url
        return local_dir(url, "labels folder") / "labels.parquet", f"{url}/labels.parquet"
    p = Path(labels_path)
    if p.is_dir():
        p = p / "labels.parquet"
    return p, p


def _labels_key(labels_path: str | Path) -> str | Path:
    """The file standing for ``labels_path`` in a skip key: a folder's committed manifest on
    object storage, else the labels file itself."""
    if looks_remote(labels_path):
        url = str(as_folder(labels_path))
        return url if url.endswith(".parquet") else key_file(url, "labels.parquet")
    p = Path(labels_path)
    return p / "labels.parquet" if p.is_dir() else p


def _commit_manifest(out: Path, stage: str, key: str, outputs: Sequence[str]) -> None:
    """The ``manifest.json`` that commits a triage folder published to object storage."""
    write_json({"stage": stage, "status": "complete", "logad_version": __version__, "run_key": key,
                "outputs": {name: name for name in outputs if (out / name).is_file()}},
               out / "manifest.json")


def _write_grid(rows: list[dict], out: Path) -> None:
    import csv

    write_json(rows, out / "grid.json")
    keys = list(rows[0]) if rows else []
    with atomic_path(out / "grid.csv") as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
