"""LogBERT (Guo et al., IJCNN 2021): a transformer encoder over event ids, trained on normal
sessions with masked log-key prediction (MLKP) plus the volume of the hypersphere (VHM) around
the DIST token's embedding.

Each window of ``window`` ids (stride ``stride``; a session is cut into windows, the last one
padded) gets a DIST token at position 0. Training masks a share ``mask_ratio`` of the events
(replaced by MASK) and minimises ``CE(masked) + alpha * ||h_DIST - c||²``; the centre ``c`` is the
mean DIST embedding of the previous epoch's training windows (``centre="epoch"``, the paper's
choice), or an exponential moving average over batches (``centre="ema"``, momentum
``ema_momentum``). Scoring masks the same share (positions drawn from a generator seeded by
``random_state`` and the window's content, so a session's score is deterministic) and counts
the masked events whose true id is not among the ``top_g`` predictions; events never seen in
training are always counted as masked misses. A session's score is misses / masked events
over all its windows: above the cut ``r`` (chosen on validation) it is anomalous.

With ``end_token`` (default) every session ends with an END token that is masked and predicted
like an event, so a session cut short is a miss too (the paper has no such token).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from logad.models._checks import check_choice, check_number
from logad.models._torch import TorchSequenceDetector, special_ids, windows

__all__ = ["LogBERTDetector"]


def _module(n_tokens: int, n_out: int, d_model: int, layers: int, heads: int, length: int) -> Any:
    import torch
    from torch import nn

    class LogBERTEncoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(n_tokens, d_model)
            self.pos = nn.Embedding(length + 1, d_model)
            layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=2 * d_model,
                                               dropout=0.1, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.out = nn.Linear(d_model, n_out)

        def forward(self, tokens: torch.Tensor, pad_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            pos = torch.arange(tokens.shape[1], device=tokens.device)
            h = self.encoder(self.embed(tokens) + self.pos(pos)[None], src_key_padding_mask=pad_mask)
            return self.out(h[:, 1:]), h[:, 0]

    return LogBERTEncoder()


class LogBERTDetector(TorchSequenceDetector):
    """Masked log-key prediction + hypersphere (unsupervised: fitted on normal sessions).

    Parameters
    ----------
    contamination : "auto" or float in (0, 0.5], default "auto"
        "auto": any masked miss is anomalous (score > 0); ``logad train`` re-chooses the ratio
        ``r`` on the validation split.
    window, stride : int, default 32, 16
        Window length and step over long sessions.
    mask_ratio : float, default 0.3
        Share of a window's events masked, in training and in scoring (at least one).
    top_g : int, default 5
        A masked event is a hit when its true id is among the g most likely.
    alpha : float, default 0.1
        Weight of the hypersphere term.
    end_token : bool, default True
        Append END to every session (predicted as output class ``V``).
    centre : {"epoch", "ema"}, default "epoch"
    ema_momentum : float, default 0.1
    d_model, layers, heads : int, default 64, 2, 4
    epochs, batch_size, lr, patience, val_fraction, device, random_state
        See :class:`~logad.models._torch.TorchSequenceDetector`.
    """

    name: ClassVar[str] = "logbert"
    fit_on: ClassVar[str] = "normal"
    auto_threshold: ClassVar[str | None] = "any masked miss"

    def __init__(self, *, contamination: Any = "auto", window: int = 32, stride: int = 16,
                 mask_ratio: float = 0.3, top_g: int = 5, alpha: float = 0.1, end_token: bool = True,
                 centre: str = "epoch",
                 ema_momentum: float = 0.1, d_model: int = 64, layers: int = 2, heads: int = 4,
                 epochs: int = 20, batch_size: int = 256, lr: float = 0.002, patience: int | None = 5,
                 val_fraction: float = 0.1, device: str = "auto", random_state: int | None = 0) -> None:
        self.contamination = contamination
        self.window = window
        self.stride = stride
        self.mask_ratio = mask_ratio
        self.top_g = top_g
        self.alpha = alpha
        self.end_token = end_token
        self.centre = centre
        self.ema_momentum = ema_momentum
        self.d_model = d_model
        self.layers = layers
        self.heads = heads
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.val_fraction = val_fraction
        self.device = device
        self.random_state = random_state

    def _check_params(self) -> None:
        for p in ("window", "stride", "top_g", "d_model", "layers", "heads"):
            check_number(self.name, p, getattr(self, p), lo=1, integer=True)
        check_number(self.name, "mask_ratio", self.mask_ratio, lo=0.0, hi=1.0, lo_open=True)
        check_number(self.name, "alpha", self.alpha, lo=0.0)
        check_number(self.name, "ema_momentum", self.ema_momentum, lo=0.0, hi=1.0, lo_open=True)
        check_choice(self.name, "centre", self.centre, ["epoch", "ema"])
        check_choice(self.name, "end_token", self.end_token, [True, False])
        if self.d_model % self.heads:
            from logad.errors import ConfigError
            raise ConfigError(f"{self.name}: parameter d_model ({self.d_model}) must be a multiple "
                              f"of heads ({self.heads})")
        self._check_common()

    def _auto_threshold_value(self) -> float:
        return 0.0

    # ------------------------------------------------------------------ data
    def _build_module(self) -> Any:
        sp = special_ids(self.n_features_in_)
        return _module(sp["size"], self.n_features_in_ + int(self.end_token), self.d_model,
                       self.layers, self.heads, int(self.window))

    def _prepare_fit(self, X: list[np.ndarray], y: np.ndarray | None) -> None:
        seen = np.zeros(self.n_features_in_, dtype=bool)
        for s in X:
            seen[s] = True
        seen[0] = False
        self.seen_ids_ = np.append(np.flatnonzero(seen), special_ids(self.n_features_in_)["END"])
        self.centre_ = np.zeros(int(self.d_model), dtype=np.float32)
        self.centre_ready_ = False
        self.set_worker_seed(0)

    def set_worker_seed(self, rank: int) -> None:
        """Seed the training masks (each Ray Train worker draws its own)."""
        import torch

        self._train_gen = torch.Generator().manual_seed(int(self.random_state or 0) + 1000 * int(rank))

    def _windows(self, seq: np.ndarray) -> np.ndarray:
        """``(n, window + 1)`` token rows: DIST, then the window (padded)."""
        sp = special_ids(self.n_features_in_)
        if self.end_token:
            seq = np.append(seq, sp["END"])
        w = windows(seq, int(self.window), int(self.stride), sp["PAD"])
        return np.concatenate([np.full((len(w), 1), sp["DIST"], dtype=np.int64), w], axis=1)

    def _examples(self, X: list[np.ndarray], y: np.ndarray | None) -> dict[str, np.ndarray]:
        rows = [self._windows(s) for s in X if len(s)]
        return {"tokens": np.concatenate(rows) if rows else np.zeros((0, self.window + 1), np.int64)}

    def _mask(self, tokens: Any, generator: Any) -> tuple[Any, Any]:
        """Masked copy of ``tokens`` and the bool mask of masked event positions (>= 1 a row)."""
        import torch

        sp = special_ids(self.n_features_in_)
        events = tokens[:, 1:]
        real = events != sp["PAD"]
        draw = torch.rand(events.shape, generator=generator, device="cpu").to(events.device)
        draw = torch.where(real, draw, torch.full_like(draw, 2.0))
        masked = real & (draw < float(self.mask_ratio))
        # at least one masked event a row: the one with the smallest draw
        first = torch.zeros_like(masked)
        first.scatter_(1, draw.argmin(dim=1, keepdim=True), True)
        masked = masked | (first & real)
        out = tokens.clone()
        out[:, 1:] = torch.where(masked, torch.full_like(events, sp["MASK"]), events)
        return out, masked

    # ------------------------------------------------------------------ training
    def _loss(self, module: Any, batch: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        import torch
        import torch.nn.functional as F

        tokens = batch["tokens"]
        inp, masked = self._mask(tokens, self._train_gen)
        pad = tokens == special_ids(self.n_features_in_)["PAD"]
        logits, dist = module(inp, pad)
        mlkp = F.cross_entropy(logits[masked].float(), self._classes(tokens[:, 1:][masked]))
        dist = dist.float()
        loss = mlkp
        if self.alpha > 0 and self.centre_ready_:
            c = torch.as_tensor(self.centre_, device=dist.device)
            loss = loss + float(self.alpha) * ((dist - c) ** 2).sum(dim=1).mean()
        if self.centre == "ema" and module.training:
            m = float(self.ema_momentum)
            batch_mean = dist.detach().mean(dim=0).cpu().numpy()
            self.centre_ = batch_mean if not self.centre_ready_ else (1 - m) * self.centre_ + m * batch_mean
            self.centre_ready_ = True
        return loss, {"dist_sum": dist.detach().sum(dim=0), "dist_n": torch.tensor(float(len(dist)))}

    def _classes(self, events: Any) -> Any:
        """Output class of each token: its id, END as class ``V``."""
        import torch

        sp = special_ids(self.n_features_in_)
        return torch.where(events == sp["END"], torch.full_like(events, self.n_features_in_), events)

    def _end_epoch(self, aux: dict[str, Any]) -> None:
        if self.centre == "epoch" and "dist_sum" in aux and float(aux["dist_n"]) > 0:
            self.centre_ = (aux["dist_sum"] / aux["dist_n"]).cpu().numpy().astype(np.float32)
            self.centre_ready_ = True

    def _extra_state(self) -> dict[str, Any]:
        import torch

        return {"seen_ids": torch.tensor(np.array(self.seen_ids_, dtype=np.int64)),
                "centre": torch.as_tensor(np.asarray(self.centre_, dtype=np.float32))}

    def _set_extra_state(self, tensors: dict[str, Any]) -> None:
        self.seen_ids_ = tensors["seen_ids"].numpy().astype(np.int64)
        self.centre_ = tensors["centre"].numpy().astype(np.float32)
        self.centre_ready_ = True

    # ------------------------------------------------------------------ scoring
    def _masked_predictions(self, module: Any, seq: np.ndarray) -> tuple[Any, Any, Any, Any]:
        """Every event of every window masked once (G passes, pass j masking the positions p with
        p % G == j: about ``mask_ratio`` of a window at a time, the same masks for every run; an
        event never seen in training is masked in every pass and always a miss).

        Returns ``events`` (windows x positions), ``counted`` (the masked positions scoring
        counts: each real event once, unseen ones once), ``missed`` (counted and not among the
        ``top_g``) and ``logits`` of each position from the pass that masked it.
        """
        import torch

        sp = special_ids(self.n_features_in_)
        tokens = torch.as_tensor(self._windows(seq))
        events = tokens[:, 1:]
        real = events != sp["PAD"]
        unseen = torch.as_tensor(~np.isin(events.numpy(), self.seen_ids_)) & real
        groups = max(1, int(round(1.0 / float(self.mask_ratio))))
        pos = torch.arange(events.shape[1])
        masks = torch.stack([((pos % groups) == j)[None].expand_as(events) for j in range(groups)])
        masks = (masks & real[None]) | unseen[None]
        inp = tokens[None].repeat(groups, 1, 1)
        inp[:, :, 1:] = torch.where(masks, torch.full_like(events, sp["MASK"])[None], inp[:, :, 1:])
        flat = inp.reshape(-1, tokens.shape[1])
        logits, _ = module(flat, flat == sp["PAD"])
        logits = logits.reshape(groups, *events.shape, logits.shape[-1])
        # each position's logits from the pass that masked it: (windows, positions, classes)
        own = logits[pos % groups, :, pos].transpose(0, 1)
        g = min(int(self.top_g), own.shape[-1])
        hit = (torch.topk(own, g, dim=-1).indices == self._classes(events)[..., None]).any(dim=-1)
        counted = real
        missed = counted & (~hit | unseen)
        return events, counted, missed, own

    def _score_session(self, module: Any, seq: np.ndarray) -> float:
        if len(seq) == 0:
            return 0.0
        _, counted, missed, _ = self._masked_predictions(module, seq)
        return float(missed.sum()) / max(int(counted.sum()), 1)

    def explain_sequences(self, X: list[np.ndarray], *, n_expected: int = 3) -> list[dict[str, Any]]:
        """What the model missed in each session, and what it expected instead.

        Returns one dict a session, ``{"missed": [{"pos", "event", "rank", "expected"}, ...]}``,
        as DeepLog's: ``pos`` is the 0-based position in the session (``len(session)`` for the
        END token), ``event`` its id (``n_features_in_`` = END), ``rank`` its rank among the
        predictions when masked (an event never seen in training ranks last), ``expected`` the
        ``n_expected`` most likely ids there. A position in several windows is listed once,
        with its worst rank.
        """
        import torch

        from logad.models._torch import torch_threads, window_starts

        self._check_fitted()
        X = self._check_input(X, self.n_features_in_)
        n_classes = self.n_features_in_ + 1
        out = []
        with torch.inference_mode(), torch_threads():
            for seq in X:
                seq = np.asarray(seq, dtype=np.int64)
                if len(seq) == 0:
                    out.append({"missed": []})
                    continue
                events, _, missed, own = self._masked_predictions(self.module_, seq)
                classes = self._classes(events)
                rank = (own > own.gather(-1, classes[..., None])).sum(dim=-1)
                unseen = torch.as_tensor(~np.isin(events.numpy(), self.seen_ids_))
                rank = torch.where(unseen, torch.full_like(rank, n_classes - 1), rank)
                k = min(int(n_expected), own.shape[-1])
                best = own.topk(k, dim=-1).indices
                n_total = len(seq) + (1 if self.end_token else 0)
                starts = window_starts(n_total, int(self.window), int(self.stride))
                worst: dict[int, dict[str, Any]] = {}
                for w, p in torch.nonzero(missed).tolist():
                    at = starts[w] + p
                    r = int(rank[w, p])
                    if at not in worst or r > worst[at]["rank"]:
                        worst[at] = {"pos": at, "event": int(classes[w, p]), "rank": r,
                                     "expected": [int(e) for e in best[w, p]]}
                out.append({"missed": [worst[a] for a in sorted(worst)]})
        return out
