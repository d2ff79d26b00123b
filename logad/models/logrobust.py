"""LogRobust-style supervised detector (Zhang et al., FSE 2019): an attention-based BiLSTM over
event embeddings.

LogRobust reads semantic vectors of the log events; here the embeddings are learned from the
training corpus itself (nothing is downloaded), which keeps the part that makes it robust to
new event orders: a bidirectional LSTM whose states are pooled by learned attention, then a
two-class head trained with class-balanced cross-entropy. Sessions longer than ``max_len`` are
cut into windows (stride ``max_len // 2``) and a session's score is its highest window
probability of "anomalous". ``contamination="auto"``: probability 0.5.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from logad.models._checks import check_number
from logad.models._torch import TorchSequenceDetector, special_ids, windows

__all__ = ["LogRobustDetector"]


def _module(n_tokens: int, embed: int, hidden: int, pad: int) -> Any:
    import torch
    from torch import nn

    class AttentionBiLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pad = pad
            self.embed = nn.Embedding(n_tokens, embed, padding_idx=pad)
            self.lstm = nn.LSTM(embed, hidden, batch_first=True, bidirectional=True)
            self.att = nn.Linear(2 * hidden, 1)
            self.out = nn.Linear(2 * hidden, 2)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            h, _ = self.lstm(self.embed(tokens))
            score = self.att(torch.tanh(h)).squeeze(-1)
            score = score.masked_fill(tokens == self.pad, -1e9)
            weights = torch.softmax(score, dim=1)
            return self.out((weights.unsqueeze(-1) * h).sum(dim=1))

    return AttentionBiLSTM()


class LogRobustDetector(TorchSequenceDetector):
    """Attention BiLSTM classifier over learned event embeddings (supervised).

    Parameters
    ----------
    contamination : "auto" or float in (0, 0.5], default "auto"
        "auto": probability of "anomalous" above 0.5.
    max_len : int, default 64
        Window length over long sessions.
    embed, hidden : int, default 32, 64
    epochs, batch_size, lr, patience, val_fraction, device, random_state
        See :class:`~logad.models._torch.TorchSequenceDetector`.
    """

    name: ClassVar[str] = "logrobust"
    supervised: ClassVar[bool] = True
    auto_threshold: ClassVar[str | None] = "probability 0.5"

    def __init__(self, *, contamination: Any = "auto", max_len: int = 64, embed: int = 32,
                 hidden: int = 64, epochs: int = 10, batch_size: int = 128, lr: float = 0.002,
                 patience: int | None = 3, val_fraction: float = 0.1, device: str = "auto",
                 random_state: int | None = 0) -> None:
        self.contamination = contamination
        self.max_len = max_len
        self.embed = embed
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.val_fraction = val_fraction
        self.device = device
        self.random_state = random_state

    def _check_params(self) -> None:
        for p in ("max_len", "embed", "hidden"):
            check_number(self.name, p, getattr(self, p), lo=2 if p == "max_len" else 1, integer=True)
        self._check_common()

    def _auto_threshold_value(self) -> float:
        return 0.5

    def _build_module(self) -> Any:
        sp = special_ids(self.n_features_in_)
        return _module(sp["size"], int(self.embed), int(self.hidden), sp["PAD"])

    def _prepare_fit(self, X: list[np.ndarray], y: np.ndarray | None) -> None:
        pos = float((y == 1).sum())
        neg = float((y == 0).sum())
        self.class_weight_ = np.array([1.0, neg / max(pos, 1.0)], dtype=np.float32)

    def _extra_state(self) -> dict[str, Any]:
        import torch

        return {"class_weight": torch.as_tensor(self.class_weight_)}

    def _set_extra_state(self, tensors: dict[str, Any]) -> None:
        self.class_weight_ = tensors["class_weight"].numpy().astype(np.float32)

    def _windows(self, seq: np.ndarray) -> np.ndarray:
        n = int(self.max_len)
        return windows(seq, n, max(n // 2, 1), special_ids(self.n_features_in_)["PAD"])

    def _examples(self, X: list[np.ndarray], y: np.ndarray | None) -> dict[str, np.ndarray]:
        rows, labels = [], []
        for s, label in zip(X, y):
            w = self._windows(s)
            rows.append(w)
            labels.append(np.full(len(w), int(label), dtype=np.int64))
        return {"tokens": np.concatenate(rows), "label": np.concatenate(labels)}

    def _loss(self, module: Any, batch: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        import torch
        import torch.nn.functional as F

        logits = module(batch["tokens"]).float()
        weight = torch.as_tensor(self.class_weight_, device=logits.device)
        return F.cross_entropy(logits, batch["label"], weight=weight), {}

    def _score_session(self, module: Any, seq: np.ndarray) -> float:
        import torch

        logits = module(torch.as_tensor(self._windows(seq)))
        return float(torch.softmax(logits.float(), dim=1)[:, 1].max())
