"""The shared base of the torch sequence detectors: windows, special ids, seeding, devices, the
in-process training loop and safetensors weights.

Event ids come from the ``events`` featurizer: 0 is ``<unk>``, ``1..V-1`` the training
vocabulary (``V = n_features_in_``). The torch modules add special ids after those:
``PAD = V``, ``MASK = V + 1``, ``DIST = V + 2``, ``END = V + 3`` (:func:`special_ids`); a
network that predicts the end of a session uses output class ``V`` for it.

A subclass supplies four hooks, used by both :meth:`TorchSequenceDetector._fit` (one process)
and the Ray Train loop (:mod:`logad.ray.train_torch`), so the two paths train the same thing:

* ``_build_module()`` -> ``torch.nn.Module`` (the architecture from ``get_params()``),
* ``_examples(X, y)`` -> dict of fixed-shape NumPy arrays, one row an example,
* ``_loss(module, batch)`` -> ``(loss, aux)``: a scalar tensor and a dict of tensors summed over
  the epoch (across workers too) and handed to ``_end_epoch(aux)`` (LogBERT's centre),
* ``_score_session(module, seq)`` -> float: one session's score (no dependence on other rows).

Scores are computed one distinct session at a time (a batch of that session's windows), so a
session's score never depends on the batch it came in; identical sessions are scored once.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np

from logad.errors import ConfigError, ModelError
from logad.models._checks import check_choice, check_number, check_random_state
from logad.models._training import HISTORY_CSV, HISTORY_PNG, EpochTracker, write_history
from logad.models.base import Detector

__all__ = ["window_starts", "TorchSequenceDetector", "special_ids", "windows", "next_event_windows", "seed_everything",
           "choose_device", "autocast", "iter_batches", "state_to_safetensors", "load_state_file",
           "WEIGHTS_FILE"]

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"


def special_ids(n_features: int) -> dict[str, int]:
    """``{"PAD": V, "MASK": V + 1, "DIST": V + 2, "END": V + 3, "size": V + 4}`` for a
    vocabulary of ``V``.

    >>> special_ids(5)
    {'PAD': 5, 'MASK': 6, 'DIST': 7, 'END': 8, 'size': 9}
    """
    v = int(n_features)
    return {"PAD": v, "MASK": v + 1, "DIST": v + 2, "END": v + 3, "size": v + 4}


def window_starts(n: int, length: int, stride: int) -> list[int]:
    """Where each of :func:`windows`' windows starts in a session of ``n`` ids.

    >>> window_starts(5, 3, 2), window_starts(6, 3, 2), window_starts(2, 3, 2)
    ([0, 2], [0, 2, 3], [0])
    """
    if n <= length:
        return [0]
    starts = list(range(0, n - length + 1, stride))
    if starts[-1] + length < n:
        starts.append(n - length)
    return starts


def windows(seq: np.ndarray, length: int, stride: int, pad: int) -> np.ndarray:
    """Windows of ``length`` ids every ``stride`` ids, the last one padded with ``pad``.

    A session shorter than ``length`` is one padded window; the last window always reaches the
    end of the session, so every event is in at least one window.

    >>> windows(np.array([1, 2, 3, 4, 5]), 3, 2, 0).tolist()
    [[1, 2, 3], [3, 4, 5]]
    >>> windows(np.array([7]), 3, 2, 0).tolist()
    [[7, 0, 0]]
    """
    seq = np.asarray(seq, dtype=np.int64)
    n = len(seq)
    if n <= length:
        out = np.full((1, length), pad, dtype=np.int64)
        out[0, :n] = seq
        return out
    return np.stack([seq[s:s + length] for s in window_starts(n, length, stride)])


def next_event_windows(seq: np.ndarray, length: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """DeepLog's ``(history, next)`` pairs: for every event, the ``length`` ids before it
    (left-padded with ``pad``), and the event.

    >>> h, t = next_event_windows(np.array([4, 5, 6]), 2, 9)
    >>> h.tolist(), t.tolist()
    ([[9, 9], [9, 4], [4, 5]], [4, 5, 6])
    """
    seq = np.asarray(seq, dtype=np.int64)
    padded = np.concatenate([np.full(length, pad, dtype=np.int64), seq])
    if len(seq) == 0:
        return np.zeros((0, length), dtype=np.int64), np.zeros(0, dtype=np.int64)
    hist = np.lib.stride_tricks.sliding_window_view(padded[:-1], length)
    return np.ascontiguousarray(hist), seq.copy()


@contextlib.contextmanager
def torch_threads() -> Iterator[None]:
    """Intra-op threads for CPU work: ``LOGAD_TORCH_THREADS`` (default 1, as Ray gives each
    worker ``OMP_NUM_THREADS=1``); small recurrent networks on a shared machine run many times
    faster on one thread than with threads contending for cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(int(os.environ.get("LOGAD_TORCH_THREADS", "1")), 1))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int | None) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for a reproducible fit."""
    import torch

    s = 0 if seed is None else int(seed)
    random.seed(s)
    np.random.seed(s % 2**32)
    torch.manual_seed(s)


def choose_device(device: str) -> "Any":
    """``"auto"``: CUDA when available, else CPU; ``"cpu"`` / ``"cuda"`` as asked."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("parameter device is 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(device)


def autocast(device: Any):
    """bfloat16 autocast on CUDA (mixed precision); a no-op context on CPU."""
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def iter_batches(examples: dict[str, np.ndarray], batch_size: int, *, shuffle: bool,
                 seed: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """Batches of the example arrays (a seeded permutation when ``shuffle``)."""
    n = len(next(iter(examples.values()))) if examples else 0
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        yield {k: v[idx] for k, v in examples.items()}


def split_examples(examples: dict[str, np.ndarray], fraction: float,
                   seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A seeded ``(train, holdout)`` split of the example rows (holdout empty for fraction 0)."""
    n = len(next(iter(examples.values())))
    n_hold = int(round(n * fraction)) if n >= 10 else 0
    order = np.random.default_rng(seed).permutation(n)
    hold, keep = np.sort(order[:n_hold]), np.sort(order[n_hold:])
    return ({k: v[keep] for k, v in examples.items()}, {k: v[hold] for k, v in examples.items()})


def state_to_safetensors(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write a ``state_dict`` (contiguous CPU tensors) as safetensors."""
    from safetensors.torch import save_file

    save_file({k: v.detach().to("cpu").contiguous() for k, v in state.items()}, str(path))


def load_state_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a safetensors file written by :func:`state_to_safetensors`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable safetensors file: {exc}") from None


def to_tensors(batch: dict[str, np.ndarray], device: Any) -> dict[str, Any]:
    import torch

    return {k: torch.as_tensor(v).to(device) for k, v in batch.items()}


class TorchSequenceDetector(Detector):
    """Base of the torch detectors (``input_kind="sequence"``); see the module docstring.

    Common parameters (each subclass's ``__init__`` lists them): ``epochs``, ``batch_size``,
    ``lr``, ``patience`` (epochs without a better validation loss before stopping),
    ``val_fraction`` (share of the training examples held out for that loss in the one-process
    fit), ``device`` ("auto" | "cpu" | "cuda"), ``random_state``.
    """

    input_kind: ClassVar[str] = "sequence"
    weight_files: ClassVar[tuple[str, ...]] = (WEIGHTS_FILE, HISTORY_CSV, HISTORY_PNG)
    distributed: ClassVar[bool] = True
    chunk_rows: ClassVar[int] = 4096

    epochs: int
    batch_size: int
    lr: float
    patience: int | None
    val_fraction: float
    device: str
    random_state: int | None

    # ------------------------------------------------------------------ hooks
    def _build_module(self) -> Any:
        raise NotImplementedError

    def _examples(self, X: list[np.ndarray], y: np.ndarray | None) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _loss(self, module: Any, batch: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        raise NotImplementedError

    def _end_epoch(self, aux: dict[str, Any]) -> None:
        """Use the epoch's summed ``aux`` tensors (default: nothing)."""

    def _score_session(self, module: Any, seq: np.ndarray) -> float:
        raise NotImplementedError

    def _prepare_fit(self, X: list[np.ndarray], y: np.ndarray | None) -> None:
        """Learn small data-dependent values before the module is built (default: nothing)."""

    def _extra_state(self) -> dict[str, Any]:
        """Fitted tensors saved beside the module's (e.g. LogBERT's centre) as ``extra.<name>``."""
        return {}

    def _set_extra_state(self, tensors: dict[str, Any]) -> None:
        """Restore what :meth:`_extra_state` returned."""

    # ------------------------------------------------------------------ checks
    def _check_common(self) -> None:
        check_number(self.name, "epochs", self.epochs, lo=1, integer=True)
        check_number(self.name, "batch_size", self.batch_size, lo=1, integer=True)
        check_number(self.name, "lr", self.lr, lo=0, lo_open=True)
        if self.patience is not None:
            check_number(self.name, "patience", self.patience, lo=1, integer=True)
        check_number(self.name, "val_fraction", self.val_fraction, lo=0.0, hi=0.5)
        check_choice(self.name, "device", self.device, ["auto", "cpu", "cuda"])
        check_random_state(self.name, self.random_state)

    # ------------------------------------------------------------------ training
    def make_optimizer(self, module: Any) -> tuple[Any, Any]:
        """Adam with a cosine schedule over ``epochs`` (one scheduler step per epoch)."""
        import torch

        opt = torch.optim.Adam(module.parameters(), lr=self.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(int(self.epochs), 1))
        return opt, sched

    def run_epoch(self, module: Any, batches: Iterator[dict[str, Any]], *, device: Any,
                  optimizer: Any = None) -> tuple[float, int, dict[str, Any]]:
        """One pass over ``batches`` (training when ``optimizer`` is given, else evaluation).

        Returns the summed loss, the number of examples and the summed ``aux`` tensors.
        """
        import torch

        module.train(optimizer is not None)
        total, count, aux_sum = 0.0, 0, {}
        for batch in batches:
            batch = {k: (v if isinstance(v, torch.Tensor) else torch.as_tensor(v)).to(device)
                     for k, v in batch.items()}
            n = len(next(iter(batch.values())))
            with torch.set_grad_enabled(optimizer is not None), autocast(device):
                loss, aux = self._loss(module, batch)
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            total += float(loss.detach()) * n
            count += n
            for k, v in aux.items():
                v = v.detach().float()
                aux_sum[k] = aux_sum[k] + v if k in aux_sum else v
        return total, count, aux_sum

    def fit_with(self, train_fn: Any, X: Any, y: Any = None, *,
                 feature_names: list[str] | None = None) -> "TorchSequenceDetector":
        """``fit`` with another training loop: ``train_fn(self, train_examples, val_examples)``
        returns ``(module, history)`` (the Ray Train runner passes its own); thresholds, checks
        and fitted attributes are those of ``fit``."""
        self._train_fn = train_fn
        try:
            return self.fit(X, y, feature_names=feature_names)
        finally:
            del self._train_fn

    def warm_start(self, state: dict[str, Any] | None, n_features: int | None = None) -> None:
        """Start the next fit from a previous model's tensors (``--init-from``); see
        :func:`logad.ray.train_torch.transfer_state`. ``None`` clears it."""
        self._init_state = None if state is None else (state, int(n_features))

    def __getstate__(self) -> dict[str, Any]:
        # the loop and the generators stay with the process (Ray ships the detector to workers)
        return {k: v for k, v in self.__dict__.items() if k not in ("_train_fn", "_train_gen")}

    def _fit(self, X: list[np.ndarray], y: np.ndarray | None) -> np.ndarray | None:
        seed = 0 if self.random_state is None else int(self.random_state)
        seed_everything(seed)
        self._prepare_fit(X, y)
        examples = self._examples(X, y)
        if not examples or len(next(iter(examples.values()))) == 0:
            raise ModelError(f"{self.name}: the training sessions give no training examples")
        train_ex, val_ex = split_examples(examples, float(self.val_fraction), seed)
        train_fn = getattr(self, "_train_fn", None) or type(self)._train_local
        with torch_threads():
            module, history = train_fn(self, train_ex, val_ex)
        self.attach_module(module.to("cpu"), history)
        return None

    def _train_local(self, train_ex: dict[str, np.ndarray],
                     val_ex: dict[str, np.ndarray]) -> tuple[Any, list[dict[str, Any]]]:
        """The one-process loop: epochs, cosine schedule, early stopping on the holdout loss."""
        seed = 0 if self.random_state is None else int(self.random_state)
        device = choose_device(self.device)
        module = self._build_module()
        init = getattr(self, "_init_state", None)
        if init is not None:
            from logad.models._transfer import transfer_state

            transfer_state(init[0], init[1], module, self.n_features_in_)
        module = module.to(device)
        optimizer, scheduler = self.make_optimizer(module)
        tracker = EpochTracker(self, module)
        for epoch in range(int(self.epochs)):
            tracker.start_epoch()
            tr, n_tr, aux = self.run_epoch(module, iter_batches(train_ex, self.batch_size, shuffle=True,
                                                                seed=seed + epoch),
                                           device=device, optimizer=optimizer)
            scheduler.step()
            self._end_epoch(aux)
            vl, n_vl = 0.0, 0
            if val_ex and len(next(iter(val_ex.values()))):
                vl, n_vl, _ = self.run_epoch(module, iter_batches(val_ex, self.batch_size, shuffle=False),
                                             device=device)
            if tracker.end_epoch(module, epoch, tr, n_tr, vl, n_vl, optimizer):
                log.info("%s: early stop after epoch %d (best loss %.4f)", self.name, epoch + 1, tracker.best)
                break
        tracker.restore_best(module)
        return module, tracker.history

    def attach_module(self, module: Any, history: list[dict[str, Any]] | None = None) -> None:
        """Make ``module`` (trained here or by Ray Train) the fitted network, in eval mode."""
        module.eval()
        self.module_ = module
        self.history_ = list(history or [])

    # ------------------------------------------------------------------ scoring
    def _score(self, X: list[np.ndarray]) -> np.ndarray:
        import torch

        module = self.module_
        cache: dict[bytes, float] = {}
        out = np.empty(len(X), dtype=np.float64)
        with torch.inference_mode(), torch_threads():
            for i, seq in enumerate(X):
                key = seq.tobytes()
                if key not in cache:
                    cache[key] = float(self._score_session(module, seq))
                out[i] = cache[key]
        return out

    # ------------------------------------------------------------------ persistence
    def _save_weights(self, folder: str | os.PathLike) -> None:
        state = dict(self.module_.state_dict())
        state.update({f"extra.{k}": v for k, v in self._extra_state().items()})
        state_to_safetensors(state, Path(folder) / WEIGHTS_FILE)
        write_history(getattr(self, "history_", []), Path(folder), self.name)

    def _load_weights(self, folder: str | os.PathLike) -> None:
        state = load_state_file(Path(folder) / WEIGHTS_FILE)
        extra = {k[len("extra."):]: v for k, v in state.items() if k.startswith("extra.")}
        weights = {k: v for k, v in state.items() if not k.startswith("extra.")}
        module = self._build_module()
        try:
            module.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            raise ModelError(f"{folder}: {WEIGHTS_FILE} does not fit the architecture in "
                             f"model.yml: {str(exc)[:300]}") from None
        self._set_extra_state(extra)
        self.attach_module(module, getattr(self, "history_", None))

    def _get_state(self) -> dict[str, Any]:
        return {"history": [{k: (None if isinstance(v, float) and math.isnan(v) else v)
                             for k, v in row.items()} for row in getattr(self, "history_", [])]}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.history_ = list(state.get("history") or [])

