"""DeepLog (Du et al., CCS 2017): an LSTM predicts the next event id from the ``window`` before it.

An event is normal when its true id is among the ``top_k`` predictions; events never seen in the
training sessions (``<unk>``, or vocabulary ids absent from the normal training rows) are always
misses. A session's score is its number of misses (``score="count"``), their share of its
events (``score="share"``), or the worst rank of a true event among the predictions
(``score="rank"``: a session is anomalous at threshold ``t`` exactly when some event is not in
the top ``t + 1``, so choosing the threshold on validation chooses ``k``); ``contamination="auto"``
flags any miss at ``top_k`` (DeepLog's rule), and ``logad train`` re-chooses the cut on the
validation split.

With ``end_token`` (default) the LSTM also predicts the end of a session after its last event,
so a session cut short (HDFS blocks whose later events never came) is a miss too; DeepLog's
paper predicts only the events.
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
    score : {"count", "share", "rank"}, default "count"
        Session score: number of misses, misses / predictions, or the worst rank.
    end_token : bool, default True
        Predict the end of the session as one more event.
    epochs, batch_size, lr, patience, val_fraction, device, random_state
        See :class:`~logad.models._torch.TorchSequenceDetector`.

    Examples
    --------
    >>> X = [np.array([1, 2, 3, 1, 2, 3])] * 20
    >>> det = DeepLogDetector(window=5, top_k=1, epochs=30, lr=0.05, hidden=16, layers=1,
    ...                       embed=8, val_fraction=0.0).fit(X)
    >>> det.score_samples([np.array([1, 2, 3, 1, 2, 3]), np.array([1, 2, 3])]).tolist()
    [0.0, 1.0]
    """

    name: ClassVar[str] = "deeplog"
    fit_on: ClassVar[str] = "normal"
    auto_threshold: ClassVar[str | None] = "any missed event"

    def __init__(self, *, contamination: Any = "auto", window: int = 10, top_k: int = 9,
                 hidden: int = 64, layers: int = 2, embed: int = 32, score: str = "count",
                 end_token: bool = True, epochs: int = 10, batch_size: int = 512, lr: float = 0.002, patience: int | None = 3,
                 val_fraction: float = 0.1, device: str = "auto", random_state: int | None = 0) -> None:
        self.contamination = contamination
        self.window = window
        self.top_k = top_k
        self.hidden = hidden
        self.layers = layers
        self.embed = embed
        self.score = score
        self.end_token = end_token
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
        check_choice(self.name, "score", self.score, ["count", "share", "rank"])
        check_choice(self.name, "end_token", self.end_token, [True, False])
        self._check_common()

    def _auto_threshold_value(self) -> float:
        return float(self.top_k - 1) if self.score == "rank" else 0.0

    @property
    def _n_out(self) -> int:
        """Output classes: the vocabulary, plus END (id ``V``) with ``end_token``."""
        return self.n_features_in_ + (1 if self.end_token else 0)

    def _targets(self, seq: np.ndarray) -> np.ndarray:
        return np.append(seq, self.n_features_in_) if self.end_token else seq

    def _build_module(self) -> Any:
        sp = special_ids(self.n_features_in_)
        return _module(sp["size"], self._n_out, self.hidden, self.layers, self.embed)

    def _prepare_fit(self, X: list[np.ndarray], y: np.ndarray | None) -> None:
        seen = np.zeros(self.n_features_in_, dtype=bool)
        for s in X:
            seen[s] = True
        seen[0] = False  # <unk> is never a normal event
        self.seen_ids_ = np.flatnonzero(np.append(seen, self.end_token))

    def _extra_state(self) -> dict[str, Any]:
        import torch

        return {"seen_ids": torch.tensor(np.array(self.seen_ids_, dtype=np.int64))}

    def _set_extra_state(self, tensors: dict[str, Any]) -> None:
        self.seen_ids_ = tensors["seen_ids"].numpy().astype(np.int64)

    def _examples(self, X: list[np.ndarray], y: np.ndarray | None) -> dict[str, np.ndarray]:
        pad = special_ids(self.n_features_in_)["PAD"]
        pairs = [next_event_windows(self._targets(s), int(self.window), pad) for s in X if len(s)]
        hist = np.concatenate([h for h, _ in pairs]) if pairs else np.zeros((0, self.window), np.int64)
        nxt = np.concatenate([t for _, t in pairs]) if pairs else np.zeros(0, np.int64)
        return {"hist": hist, "next": nxt}

    def _loss(self, module: Any, batch: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        import torch.nn.functional as F

        logits = module(batch["hist"])
        return F.cross_entropy(logits.float(), batch["next"]), {}

    def _ranks(self, module: Any, seq: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
        """The next events of ``seq`` (with END), the rank of each among the predictions (0:
        the most likely; unseen events rank last) and the logits."""
        import torch

        hist, nxt = next_event_windows(self._targets(seq), int(self.window),
                                       special_ids(self.n_features_in_)["PAD"])
        logits = module(torch.as_tensor(hist)).float()
        true = logits.gather(1, torch.as_tensor(nxt)[:, None])
        rank = (logits > true).sum(dim=1).numpy()
        return nxt, np.where(np.isin(nxt, self.seen_ids_), rank, logits.shape[1]), logits

    def explain_sequences(self, X: list[np.ndarray], *, n_expected: int = 3) -> list[dict[str, Any]]:
        """What the model missed in each session, and what it expected instead.

        Returns one dict a session, ``{"missed": [{"pos", "event", "rank", "expected"}, ...]}``:
        ``pos`` is the 0-based position of the missed event (``len(session)`` for the END
        token), ``event`` its id (``n_features_in_`` = END), ``rank`` its rank among the
        predictions (an event never seen in training ranks last), ``expected`` the ids of the
        ``n_expected`` most likely events there. An event is missed when its rank is at least
        ``top_k``, as in scoring.
        """
        import torch

        from logad.models._torch import torch_threads

        self._check_fitted()
        X = self._check_input(X, self.n_features_in_)
        out = []
        with torch.inference_mode(), torch_threads():
            for seq in X:
                seq = np.asarray(seq, dtype=np.int64)
                if len(seq) == 0:
                    out.append({"missed": []})
                    continue
                nxt, rank, logits = self._ranks(self.module_, seq)
                k = min(int(n_expected), logits.shape[1])
                best = logits.topk(k, dim=1).indices.numpy()
                out.append({"missed": [{"pos": int(i), "event": int(nxt[i]), "rank": int(rank[i]),
                                        "expected": [int(e) for e in best[i]]}
                                       for i in np.flatnonzero(rank >= int(self.top_k))]})
        return out

    def _score_session(self, module: Any, seq: np.ndarray) -> float:
        if len(seq) == 0:
            return 0.0
        nxt, rank, _ = self._ranks(module, seq)
        if self.score == "rank":
            return float(rank.max())
        misses = float((rank >= int(self.top_k)).sum())
        return misses / len(nxt) if self.score == "share" else misses
