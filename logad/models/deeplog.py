"""DeepLog (Du et al., CCS 2017): an LSTM predicts the next event id from the ``window`` before it.

An event is normal when its true id is among the ``top_k`` predictions; events never seen in the
training sessions (``<unk>``, or vocabulary ids absent from the normal training rows) are always
misses. A session's score is its number of misses (``score="count"``) or their share of its
events (``score="share"``); ``contamination="auto"`` flags any miss (DeepLog's rule), and
``logad train`` re-chooses the cut on the validation split.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from logad.models._checks import check_choice, check_number
from logad.models._torch import TorchSequenceDetector, next_event_windows, special_ids

__all__ = ["DeepLogDetector"]


def _module(n_tokens: int, n_out: int, hidden: int, layers: int, embed: int) -> Any:
    import torch
    from torch import nn

    class DeepLogLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(n_tokens, embed)
            self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True)
            self.out = nn.Linear(hidden, n_out)

        def forward(self, hist: torch.Tensor) -> torch.Tensor:
            h, _ = self.lstm(self.embed(hist))
            return self.out(h[:, -1])

    return DeepLogLSTM()


class DeepLogDetector(TorchSequenceDetector):
    """Next-event LSTM with a top-k rule (unsupervised: fitted on normal sessions).

    Parameters
    ----------
    contamination : "auto" or float in (0, 0.5], default "auto"
        "auto": a session with any miss is anomalous (score > 0).
    window : int, default 10
        Events of history before each predicted event (left-padded at a session's start).
    top_k : int, default 9
        A prediction is a hit when the true event is among the k most likely.
    hidden, layers, embed : int, default 64, 2, 32
        LSTM size, depth and the event-embedding width.
    score : {"count", "share"}, default "count"
        Session score: number of misses, or misses / events.
    epochs, batch_size, lr, patience, val_fraction, device, random_state
        See :class:`~logad.models._torch.TorchSequenceDetector`.

    Examples
    --------
    >>> X = [np.array([1, 2, 3, 1, 2, 3])] * 20
    >>> det = DeepLogDetector(window=2, top_k=1, epochs=30, lr=0.05, hidden=16, layers=1,
    ...                       embed=8, val_fraction=0.0).fit(X)
    >>> det.score_samples([np.array([1, 2, 3]), np.array([1, 3, 2])]).tolist()
    [0.0, 2.0]
    """

    name: ClassVar[str] = "deeplog"
    fit_on: ClassVar[str] = "normal"
    auto_threshold: ClassVar[str | None] = "any missed event"

    def __init__(self, *, contamination: Any = "auto", window: int = 10, top_k: int = 9,
                 hidden: int = 64, layers: int = 2, embed: int = 32, score: str = "count",
                 epochs: int = 10, batch_size: int = 512, lr: float = 0.002, patience: int | None = 3,
                 val_fraction: float = 0.1, device: str = "auto", random_state: int | None = 0) -> None:
        self.contamination = contamination
        self.window = window
        self.top_k = top_k
        self.hidden = hidden
        self.layers = layers
        self.embed = embed
        self.score = score
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.val_fraction = val_fraction
        self.device = device
        self.random_state = random_state

    def _check_params(self) -> None:
        for p in ("window", "top_k", "hidden", "layers", "embed"):
            check_number(self.name, p, getattr(self, p), lo=1, integer=True)
        check_choice(self.name, "score", self.score, ["count", "share"])
        self._check_common()

    def _auto_threshold_value(self) -> float:
        return 0.0

    def _build_module(self) -> Any:
        sp = special_ids(self.n_features_in_)
        return _module(sp["size"], self.n_features_in_, self.hidden, self.layers, self.embed)

    def _prepare_fit(self, X: list[np.ndarray], y: np.ndarray | None) -> None:
        seen = np.zeros(self.n_features_in_, dtype=bool)
        for s in X:
            seen[s] = True
        seen[0] = False  # <unk> is never a normal event
        self.seen_ids_ = np.flatnonzero(seen)

    def _extra_state(self) -> dict[str, Any]:
        import torch

        return {"seen_ids": torch.tensor(np.array(self.seen_ids_, dtype=np.int64))}

    def _set_extra_state(self, tensors: dict[str, Any]) -> None:
        self.seen_ids_ = tensors["seen_ids"].numpy().astype(np.int64)

    def _examples(self, X: list[np.ndarray], y: np.ndarray | None) -> dict[str, np.ndarray]:
        pad = special_ids(self.n_features_in_)["PAD"]
        pairs = [next_event_windows(s, int(self.window), pad) for s in X if len(s)]
        hist = np.concatenate([h for h, _ in pairs]) if pairs else np.zeros((0, self.window), np.int64)
        nxt = np.concatenate([t for _, t in pairs]) if pairs else np.zeros(0, np.int64)
        return {"hist": hist, "next": nxt}

    def _loss(self, module: Any, batch: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        import torch.nn.functional as F

        logits = module(batch["hist"])
        return F.cross_entropy(logits.float(), batch["next"]), {}

    def _score_session(self, module: Any, seq: np.ndarray) -> float:
        import torch

        if len(seq) == 0:
            return 0.0
        hist, nxt = next_event_windows(seq, int(self.window), special_ids(self.n_features_in_)["PAD"])
        logits = module(torch.as_tensor(hist))
        k = min(int(self.top_k), logits.shape[1])
        top = torch.topk(logits, k, dim=1).indices.numpy()
        hit = (top == nxt[:, None]).any(axis=1) & np.isin(nxt, self.seen_ids_)
        misses = float((~hit).sum())
        return misses / len(seq) if self.score == "share" else misses
