"""Ray Train for the torch sequence detectors: one ``TorchTrainer`` loop, resumable.

The detector builds its training examples (fixed-shape NumPy arrays) and its network; this
runner owns every Ray call:

* ``TorchTrainer`` with ``ScalingConfig(num_workers=N, use_gpu=<the cluster has GPUs>)``; the
  network is wrapped by ``ray.train.torch.prepare_model`` (DDP when N > 1), each worker takes an
  equal share of the examples from one object-store copy (:func:`worker_share`) and shuffles it
  in memory each epoch as the one-process loop does; losses and the detector's epoch sums
  (LogBERT's centre) are all-reduced, mixed precision (bf16 autocast) only on CUDA.
* Not Ray Data shards: the detector builds every example in the driver's memory, so a dataset
  over them adds no scale, only a split coordinator actor per dataset and a streaming pass
  (3-13 s of a fit on two cores, measured); the object store gives each node one copy.
* Each epoch rank 0 writes a checkpoint folder (``Checkpoint.from_directory``): the current and
  the best weights as safetensors, the optimizer tensors as safetensors plus its plain fields as
  JSON, the scheduler, the detector's fitted tensors (LogBERT centre, seen ids), the epoch, the
  best validation loss and the loss history; every worker calls ``ray.train.report``.
* Early stopping on the validation loss with ``patience``; ``FailureConfig(max_failures)``
  restarts failed workers from the latest checkpoint.
* Resume (Train V2): running again with the same ``RunConfig(name, storage_path)`` restores the
  run's latest checkpoint, which the loop reads through ``ray.train.get_checkpoint()``. A run
  that is not resumed starts from an empty run folder.

Results across worker counts are statistically equivalent, not bit-identical (DDP averages the
gradients of differently sharded batches); scoring is the same code as the one-process path.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from logad.errors import ConfigError, ModelError
from logad.models._torch import (TorchSequenceDetector, iter_batches, load_state_file, seed_everything,
                                 state_to_safetensors)
from logad.models._training import EpochTracker
from logad.models._transfer import transfer_state
from logad.ray.runtime import one_node

__all__ = ["fit_distributed", "cluster_gpus", "worker_share", "TORCH_DEFAULTS"]

log = logging.getLogger(__name__)

#: ``torch:`` section of the train config (``logad train`` flags fill it).
TORCH_DEFAULTS: dict[str, Any] = {
    "workers": 1, "resume": False, "max_failures": 1, "storage_path": None, "name": None,
    "use_gpu": "auto", "init_from": None, "replay": None,
}


def cluster_gpus() -> float:
    """GPUs the Ray cluster offers (0 on a CPU-only cluster)."""
    import ray

    return float(ray.cluster_resources().get("GPU", 0.0))


# ---------------------------------------------------------------------- checkpoint files
def _save_checkpoint(folder: Path, module: Any, tracker: EpochTracker, optimizer: Any, scheduler: Any,
                     det: TorchSequenceDetector) -> None:
    meta = tracker.meta()
    state_to_safetensors(module.state_dict(), folder / "model.safetensors")
    state_to_safetensors({**tracker.best_state, **{f"extra.{k}": v for k, v in tracker.best_extra.items()}},
                         folder / "best.safetensors")
    state_to_safetensors({f"extra.{k}": v for k, v in det._extra_state().items()} or
                         {"extra.none": _empty_tensor()}, folder / "extra.safetensors")
    opt = optimizer.state_dict()
    tensors, plain = {}, {}
    for pid, st in opt["state"].items():
        for name, val in st.items():
            if hasattr(val, "dim"):
                tensors[f"{pid}.{name}"] = val
            else:
                plain[f"{pid}.{name}"] = val
    state_to_safetensors(tensors or {"none": _empty_tensor()}, folder / "optimizer.safetensors")
    (folder / "train_state.json").write_text(json.dumps({
        **meta, "optimizer_groups": opt["param_groups"], "optimizer_plain": plain,
        "scheduler": {k: v for k, v in scheduler.state_dict().items()}}, default=float))


def _empty_tensor() -> Any:
    import torch

    return torch.zeros(0)


def _load_checkpoint(folder: Path, module: Any, optimizer: Any, scheduler: Any,
                     det: TorchSequenceDetector) -> tuple[dict, dict, dict]:
    meta = json.loads((folder / "train_state.json").read_text())
    module.load_state_dict(load_state_file(folder / "model.safetensors"))
    tensors = load_state_file(folder / "optimizer.safetensors")
    state: dict[int, dict] = {}
    for key, val in tensors.items():
        if key == "none":
            continue
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = val
    for key, val in meta["optimizer_plain"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = val
    optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer_groups"]})
    scheduler.load_state_dict(meta["scheduler"])
    extra = {k[6:]: v for k, v in load_state_file(folder / "extra.safetensors").items()
             if k != "extra.none"}
    if extra:
        det._set_extra_state(extra)
    best = load_state_file(folder / "best.safetensors")
    best_extra = {k[6:]: v for k, v in best.items() if k.startswith("extra.")}
    best_state = {k: v for k, v in best.items() if not k.startswith("extra.")}
    return meta, best_state, best_extra


# ---------------------------------------------------------------------- the worker loop
def _allreduce(values: list[Any]) -> list[Any]:
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return values
    out = []
    for v in values:
        t = v.clone() if isinstance(v, torch.Tensor) else torch.tensor(float(v), dtype=torch.float64)
        dist.all_reduce(t)
        out.append(t if isinstance(v, torch.Tensor) else float(t))
    return out


def worker_share(examples: dict[str, np.ndarray], rank: int, world: int) -> dict[str, np.ndarray]:
    """Worker ``rank``'s share of the example arrays among ``world`` workers: every
    ``world``-th row from row ``rank``, the same number of rows for each (the last
    ``n % world`` rows are left out, as an equal split must: DDP needs every worker to take the
    same number of steps)."""
    n = len(next(iter(examples.values()))) if examples else 0
    stop = (n // world) * world
    return {k: v[rank:stop:world] for k, v in examples.items()}


def _worker_loop(config: dict[str, Any]) -> None:
    """``train_loop_per_worker`` of the TorchTrainer (runs in every worker)."""
    import ray
    import ray.train
    from ray.train.torch import get_device, prepare_model

    det: TorchSequenceDetector = config["detector"]
    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()
    seed = int(det.random_state or 0)
    seed_everything(seed + rank)
    if hasattr(det, "set_worker_seed"):
        det.set_worker_seed(rank)
    device = get_device()
    module = det._build_module()
    init = getattr(det, "_init_state", None)
    if init is not None:
        transfer_state(init[0], init[1], module, det.n_features_in_)
    module = module.to(device)
    optimizer, scheduler = det.make_optimizer(module)
    tracker = EpochTracker(det, module)
    start = 0
    ckpt = ray.train.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            meta, best_state, best_extra = _load_checkpoint(Path(d), module, optimizer, scheduler, det)
        tracker.load_meta(meta, best_state, best_extra)
        start = int(det.epochs) if tracker.stopped else int(meta["epoch"])
        tracker.resumed_at.append(int(meta["epoch"]))
    model = prepare_model(module)
    world = ctx.get_world_size()
    train_ex = worker_share(ray.get(config["train"]), rank, world)
    val_ex = worker_share(ray.get(config["val"]), rank, world) if config["val"] is not None else {}
    for epoch in range(start, int(det.epochs)):
        fail = config.get("fail_once_at")
        if fail is not None and epoch == fail[0] and rank == fail[2] and not os.path.exists(fail[1]):
            Path(fail[1]).write_text(f"worker {rank} exits at epoch {epoch}\n")
            # the controller registers a reported checkpoint when it next polls the workers;
            # give it that time, then die as on a lost node (fault injection for tests)
            time.sleep(10.0)
            os._exit(1)
        tracker.start_epoch()
        tr, n_tr, aux = det.run_epoch(model, iter_batches(train_ex, det.batch_size, shuffle=True,
                                                          seed=seed + epoch),
                                      device=device, optimizer=optimizer)
        keys = sorted(aux)
        tr, n_tr, *aux_vals = _allreduce([tr, n_tr, *[aux[k] for k in keys]])
        scheduler.step()
        det._end_epoch(dict(zip(keys, aux_vals)))
        vl, n_vl = 0.0, 0
        if val_ex:
            vl, n_vl, _ = det.run_epoch(model, iter_batches(val_ex, det.batch_size, shuffle=False),
                                        device=device)
            vl, n_vl = _allreduce([vl, n_vl])
        stop = tracker.end_epoch(module, epoch, tr, n_tr, vl, n_vl, optimizer)
        row = tracker.history[-1]
        metrics = {"epoch": epoch + 1, "train_loss": row["train_loss"], "val_loss": row["val_loss"],
                   "best_val": tracker.best}
        if rank == 0:
            with tempfile.TemporaryDirectory() as tmp:
                _save_checkpoint(Path(tmp), module, tracker, optimizer, scheduler, det)
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))
        else:
            ray.train.report(metrics)
        if stop:
            break


# ---------------------------------------------------------------------- the driver
def _run_paths(run_dir: str | os.PathLike, name: str | None, resume: bool
               ) -> tuple[str, str, Any]:
    """Ray Train's ``(storage_path, name, storage_filesystem)`` of ``run_dir``: a local folder,
    or an object-storage URL (``s3://.../model.train/deeplog``) reached through fsspec, so its
    endpoint and credentials are those of every other access (None: Ray's own local one)."""
    from logad.io import Store, as_folder, looks_remote

    # the run Ray Train restores is <storage>/<name>: that folder is what a fresh run empties
    if looks_remote(run_dir):
        url = str(as_folder(run_dir))
        parent, _, base = url.rpartition("/")
        name = name or base
        store = Store.at(parent)
        if not resume:
            store.remove(name)  # a fresh run: no checkpoint of an earlier one is restored
        return store.root, name, store.arrow_fs()
    run_dir = Path(run_dir)
    storage = run_dir.parent.resolve()
    name = name or run_dir.name
    if not resume and (storage / name).exists():
        shutil.rmtree(storage / name)  # a fresh run: no checkpoint of an earlier one is restored
    storage.mkdir(parents=True, exist_ok=True)
    return str(storage), name, None


def fit_distributed(det: TorchSequenceDetector, X: list[np.ndarray], y: np.ndarray | None, *,
                    feature_names: list[str] | None, run_dir: str | os.PathLike,
                    cfg: dict[str, Any] | None = None,
                    fail_once_at: tuple[int, str, int] | None = None) -> TorchSequenceDetector:
    """Fit ``det`` through a Ray ``TorchTrainer`` (see the module docstring); returns ``det``.

    Parameters
    ----------
    det : TorchSequenceDetector
        Unfitted; its parameters (epochs, batch_size, patience, ...) drive the loop.
    X, y, feature_names
        As for ``det.fit``.
    run_dir : path or URL
        The Ray Train run folder (``storage_path / name``); kept for ``resume``. An
        object-storage URL (``s3://...``) puts the run and its checkpoints there.
    cfg : dict, optional
        :data:`TORCH_DEFAULTS` keys: ``workers``, ``resume``, ``max_failures``, ``use_gpu``.
    fail_once_at : (epoch, marker path, rank), optional
        Fault injection for tests: that worker exits at that epoch unless the marker exists.
    """
    from ray.train import (Checkpoint, CheckpointConfig, FailureConfig, RunConfig, ScalingConfig,
                           TrainingFailedError)
    from ray.train.torch import TorchTrainer

    cfg = {**TORCH_DEFAULTS, **(cfg or {})}
    workers = int(cfg["workers"])
    if workers < 1:
        raise ConfigError(f"torch.workers must be >= 1, got {workers}")
    use_gpu = cluster_gpus() > 0 if cfg["use_gpu"] == "auto" else bool(cfg["use_gpu"])
    storage, name, storage_fs = _run_paths(run_dir, cfg.get("name"), bool(cfg["resume"]))

    def train_fn(d: TorchSequenceDetector, train_ex: dict, val_ex: dict) -> tuple[Any, list]:
        import ray

        has_val = bool(val_ex) and len(next(iter(val_ex.values()))) > 0
        if one_node():  # preemption is a node's; here the driver would go with it (a process fewer)
            os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
        trainer = TorchTrainer(
            _worker_loop,
            train_loop_config={"detector": d, "fail_once_at": fail_once_at, "train": ray.put(train_ex),
                               "val": ray.put(val_ex) if has_val else None},
            scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
            run_config=RunConfig(name=name, storage_path=storage, storage_filesystem=storage_fs,
                                 failure_config=FailureConfig(max_failures=int(cfg["max_failures"])),
                                 checkpoint_config=CheckpointConfig(num_to_keep=2)))
        started = time.perf_counter()
        try:
            result = trainer.fit()
        except TrainingFailedError as exc:  # Train V2 raises the run's error from fit()
            raise ModelError(f"{d.name}: Ray Train run {name} failed (continue it with --resume): "
                             f"{str(exc)[:500]}") from None
        if result.error is not None:
            raise ModelError(f"{d.name}: Ray Train run {name} failed: {result.error}")
        ckpt: Checkpoint | None = result.checkpoint
        if ckpt is None:
            raise ModelError(f"{d.name}: Ray Train run {name} reported no checkpoint")
        with ckpt.as_directory() as folder:
            meta = json.loads((Path(folder) / "train_state.json").read_text())
            best = load_state_file(Path(folder) / "best.safetensors")
        module = d._build_module()
        module.load_state_dict({k: v for k, v in best.items() if not k.startswith("extra.")})
        extra = {k[6:]: v for k, v in best.items() if k.startswith("extra.")}
        if extra:
            d._set_extra_state(extra)
        where = f"{str(run_dir).rstrip('/').rpartition('/')[0]}/{name}" if storage_fs is not None \
            else str(Path(storage) / name)
        d.run_info_ = {"workers": workers, "use_gpu": use_gpu, "run": where,
                       "epochs_run": meta["epoch"], "best_val_loss": meta["best_val"],
                       "resumed_at": meta.get("resumed_at", []), "stopped_early": meta["stopped"],
                       # the trainer's wall time: its epochs (history ``seconds``) plus Ray
                       # Train's start-up (controller, worker actors, process group)
                       "trainer_s": round(time.perf_counter() - started, 3)}
        return module, meta["history"]

    return det.fit_with(train_fn, X, y, feature_names=feature_names)


# ---------------------------------------------------------------------- init-from and replay
def torch_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """The ``torch:`` section of a train config over :data:`TORCH_DEFAULTS`."""
    opts = {**TORCH_DEFAULTS, **(cfg.get("torch") or {})}
    unknown = sorted(set(opts) - set(TORCH_DEFAULTS))
    if unknown:
        raise ConfigError(f"train config: unknown torch option(s) {unknown}; valid: {sorted(TORCH_DEFAULTS)}")
    return opts


def wants_ray_train(detector: Any, opts: dict[str, Any]) -> bool:
    """True when a torch detector should train through Ray Train (several workers, a resume,
    or a run name / storage path asked for); the one-process ``fit`` otherwise."""
    return bool(getattr(detector, "distributed", False)) and (
        int(opts["workers"]) > 1 or bool(opts["resume"]) or opts["storage_path"] is not None
        or opts["name"] is not None)


def _parse_replay(spec: str) -> tuple[str, float]:
    path, sep, ratio = str(spec).rpartition(":")
    try:
        share = float(ratio)
    except ValueError:
        share = -1.0
    if not sep or not path or not (0.0 < share <= 10.0):
        raise ConfigError(f"--replay expects DIR:RATIO with RATIO in (0, 10], got {spec!r}")
    return path, share


def replay_rows(n_train: int, spec: str, seed: int = 0) -> Any:
    """``RATIO x n_train`` sessions (seeded sample) of another corpus's train split
    (``DIR:RATIO``, a sequences folder); their ids get a ``replay:`` prefix."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    from logad.io import sequences_files

    path, share = _parse_replay(spec)
    cols = ["session_id", "label", "event_ids", "split"]
    other = pads.dataset(sequences_files(path), format="parquet").to_table(
        columns=cols, filter=pc.field("split") == "train").sort_by("session_id")
    if other.num_rows == 0:
        raise ConfigError(f"--replay {spec}: no train sessions in {path}")
    n = min(other.num_rows, max(int(round(share * n_train)), 1))
    take = np.sort(np.random.default_rng(seed).choice(other.num_rows, n, replace=False))
    other = other.take(pa.array(take))
    other = other.set_column(0, "session_id", pc.binary_join_element_wise(
        "replay:", other.column("session_id").cast(pa.string()), ""))
    log.info("replay: %d sessions of %s mixed into %d training sessions", n, path, n_train)
    return other


def init_from(featurizers: list, model_dir: str | os.PathLike) -> tuple[list, tuple[dict, int]]:
    """Featurizers whose vocabulary is the union of ``model_dir``'s and the new one (its ids
    kept, new events appended), and the previous model's tensors with its vocabulary size."""
    from logad.models.trained import TrainedModel

    old = TrainedModel.load(model_dir)
    if len(featurizers) != 1 or not hasattr(featurizers[0], "union") or \
            len(old.featurizers) != 1 or not hasattr(old.featurizers[0], "union"):
        raise ConfigError(f"--init-from {model_dir}: only torch sequence models (features 'events') "
                          "can start from another model")
    if not getattr(old.detector, "distributed", False):
        raise ConfigError(f"--init-from {model_dir}: holds a {old.detector.name} model, not a torch one")
    merged = old.featurizers[0].union(featurizers[0])
    state = dict(old.detector.module_.state_dict())
    log.info("init-from %s: vocabulary %d -> %d ids", model_dir, old.detector.n_features_in_,
             len(merged.feature_names()))
    return [merged], (state, int(old.detector.n_features_in_))
