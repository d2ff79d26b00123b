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
training are always counted as masked misses. A session's miss ratio is misses / masked
events over all its windows: above the cut ``r`` (chosen on validation) it is anomalous.

The paper also flags a session whose DIST embedding lies beyond a radius of the centre. Here a
session's distance is the largest over its windows of ``||h_DIST - c||`` (averaged over the
masked passes, the inputs the centre was learned on), and with a radius ``R`` the one score is
:func:`radius_score`: the miss ratio (in [0, 1]) within the radius, ``1 + distance / R`` (> 2)
beyond it, so every beyond-radius session ranks above every within-radius one and a threshold
``r < 1`` is the paper's "ratio > r or beyond the radius". ``radius`` says whether to use it:
``"off"`` (the miss ratio alone), ``"on"``, or ``"auto"`` (default: use it when it raises the
validation F1). :meth:`LogBERTDetector.tune_on_validation` (``logad train`` calls it on the
validation split, before it chooses the threshold) picks ``R`` among quantiles of the training
sessions' distances (the hypersphere training drew; the validation normals of a chronological
split can sit closer to the centre than later sessions do); the choice is saved in ``model.yml``
and used by score, evaluate and explain. A plain ``fit`` leaves "auto" off and gives "on" the
0.99 quantile.

With ``end_token`` (default) every session ends with an END token that is masked and predicted
like an event, so a session cut short is a miss too (the paper has no such token).
"""

from __future__ import annotations

from typing import Any, ClassVar

import logging

import numpy as np

from logad.models._checks import check_choice, check_number
from logad.models._torch import TorchSequenceDetector, special_ids, torch_threads, windows
from logad.models.thresholds import choose_variant
from logad.models.reference import psi_reference

__all__ = ["LogBERTDetector", "radius_score", "RADIUS_QUANTILES"]

log = logging.getLogger(__name__)

#: Candidate radii: these quantiles of the training sessions' distances (widest first, so a tie
#: goes to the radius that flags fewer sessions).
RADIUS_QUANTILES = (1.0, 0.999, 0.995, 0.99, 0.98, 0.95)
#: ``radius="on"`` after a plain ``fit``, or without labels of both classes to choose by.
FALLBACK_QUANTILE = 0.99


def radius_score(ratio: Any, dist: Any, radius: float | None) -> np.ndarray:
    """One score from the miss ratio and the hypersphere distance.

    Parameters
    ----------
    ratio : array-like of shape (n,)
        Miss ratios, in [0, 1].
    dist : array-like of shape (n,)
        Distances of the sessions' DIST embeddings from the centre.
    radius : float > 0 or None
        None: the miss ratio alone.

    Returns
    -------
    ndarray of shape (n,), float64
        ``ratio`` within the radius, ``1 + dist / radius`` (> 2) beyond it; higher = more
        anomalous.

    Examples
    --------
    >>> radius_score([0.1, 0.5], [3.0, 1.0], 2.0).tolist()
    [2.5, 0.5]
    >>> radius_score([0.1, 0.5], [3.0, 1.0], None).tolist()
    [0.1, 0.5]
    """
    ratio = np.asarray(ratio, dtype=np.float64)
    if radius is None:
        return ratio
    dist = np.asarray(dist, dtype=np.float64)
    return np.where(dist > radius, 1.0 + dist / float(radius), ratio)


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
    radius : {"auto", "on", "off"}, default "auto"
        The hypersphere rule (see the module docstring), chosen by :meth:`tune_on_validation`;
        YAML reads bare on / off as true / false, which mean the same.
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
                 mask_ratio: float = 0.3, top_g: int = 5, radius: Any = "auto", alpha: float = 0.1,
                 end_token: bool = True, centre: str = "epoch",
                 ema_momentum: float = 0.1, d_model: int = 64, layers: int = 2, heads: int = 4,
                 epochs: int = 20, batch_size: int = 256, lr: float = 0.002, patience: int | None = 5,
                 val_fraction: float = 0.1, device: str = "auto", random_state: int | None = 0) -> None:
        self.contamination = contamination
        self.window = window
        self.stride = stride
        self.mask_ratio = mask_ratio
        self.top_g = top_g
        self.radius = radius
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
        check_choice(self.name, "radius", self.radius, ["auto", "on", "off", True, False])
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
    def _masked_predictions(self, module: Any, seq: np.ndarray) -> tuple[Any, Any, Any, Any, Any]:
        """Every event of every window masked once (G passes, pass j masking the positions p with
        p % G == j: about ``mask_ratio`` of a window at a time, the same masks for every run; an
        event never seen in training is masked in every pass and always a miss).

        Returns ``events`` (windows x positions), ``counted`` (the masked positions scoring
        counts: each real event once, unseen ones once), ``missed`` (counted and not among the
        ``top_g``), ``logits`` of each position from the pass that masked it, and ``dist``, each
        window's distance from the centre (the mean over the passes).
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
        logits, dist_h = module(flat, flat == sp["PAD"])
        logits = logits.reshape(groups, *events.shape, logits.shape[-1])
        # each position's logits from the pass that masked it: (windows, positions, classes)
        own = logits[pos % groups, :, pos].transpose(0, 1)
        g = min(int(self.top_g), own.shape[-1])
        hit = (torch.topk(own, g, dim=-1).indices == self._classes(events)[..., None]).any(dim=-1)
        counted = real
        missed = counted & (~hit | unseen)
        c = torch.as_tensor(np.asarray(self.centre_, dtype=np.float32), device=dist_h.device)
        dist = ((dist_h.float() - c) ** 2).sum(dim=-1).sqrt().reshape(groups, -1).mean(dim=0)
        return events, counted, missed, own, dist

    def _session_parts(self, module: Any, seq: np.ndarray) -> tuple[float, float]:
        """A session's miss ratio and its distance (the largest of its windows')."""
        if len(seq) == 0:
            return 0.0, 0.0
        _, counted, missed, _, dist = self._masked_predictions(module, seq)
        return float(missed.sum()) / max(int(counted.sum()), 1), float(dist.max())

    def _radius_in_use(self) -> float | None:
        return None if self.radius in ("off", False) else getattr(self, "radius_", None)

    def _score_session(self, module: Any, seq: np.ndarray) -> float:
        ratio, dist = self._session_parts(module, seq)
        return float(radius_score([ratio], [dist], self._radius_in_use())[0])

    def _parts(self, X: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        cache: dict[bytes, tuple[float, float]] = {}
        out = np.empty((len(X), 2), dtype=np.float64)
        with torch.inference_mode(), torch_threads():
            for i, seq in enumerate(X):
                key = seq.tobytes()
                if key not in cache:
                    cache[key] = self._session_parts(self.module_, seq)
                out[i] = cache[key]
        return out[:, 0], out[:, 1]

    def session_parts(self, X: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``(ratio, dist)`` of each session: the two parts of the score (see :func:`radius_score`)."""
        self._check_fitted()
        return self._parts(self._check_input(X, self.n_features_in_))

    def _fit(self, X: list[np.ndarray], y: np.ndarray | None) -> np.ndarray:
        super()._fit(X, y)
        # the training sessions are scored once anyway (the threshold's reference): their
        # distances give the candidate radii, the hypersphere of what training saw
        ratio, dist = self._parts(X)
        self._train_parts = (ratio, dist)  # not saved: the drift reference follows the radius
        self.radius_candidates_ = [{"quantile": q, "radius": float(np.quantile(dist, q))}
                                   for q in RADIUS_QUANTILES]
        self.radius_ = self._candidate(FALLBACK_QUANTILE) if self.radius in ("on", True) else None
        self.radius_choice_ = {"rule": "off" if self.radius_ is None else "on", "radius": self.radius_,
                               "quantile": None if self.radius_ is None else FALLBACK_QUANTILE,
                               "candidates": []}
        return radius_score(ratio, dist, self.radius_)

    def _candidate(self, q: float) -> float | None:
        r = {c["quantile"]: c["radius"] for c in getattr(self, "radius_candidates_", None) or []}.get(q)
        return r if r is not None and r > 0 else None

    # ------------------------------------------------------------------ the radius, on validation
    def tune_on_validation(self, X_val: list[np.ndarray], y_val: Any, method: str = "best_f1",
                           **kw: Any) -> dict[str, Any]:
        """Choose the hypersphere rule and radius on the validation split (never the test split).

        The candidates are "off" (unless ``radius="on"``) and a radius at each of
        :data:`RADIUS_QUANTILES` of the training sessions' distances (kept by ``fit``); each is
        scored with :func:`radius_score`, its threshold chosen by ``method`` (``**kw``: ``q``,
        ``alpha``, as :func:`~logad.models.thresholds.choose_threshold`) and the one with the
        highest validation F1 at that threshold kept (ties: "off", then the widest radius).
        Without labels of both classes (or with ``method="none"``) "auto" stays off and "on"
        keeps the :data:`FALLBACK_QUANTILE` radius ``fit`` set. The threshold is left to the
        caller.

        Returns
        -------
        dict
            ``{"rule": "on" | "off", "radius", "quantile", "candidates": [...]}``, also kept as
            ``radius_choice_`` and saved in ``model.yml``.
        """
        self._check_fitted()
        y = np.asarray(y_val, dtype=np.int64).ravel()
        radii = {c["quantile"]: c["radius"] for c in getattr(self, "radius_candidates_", None) or []
                 if c["radius"] > 0}
        forced = self.radius in ("on", True)
        if self.radius in ("off", False) or not radii or method == "none" or len(np.unique(y)) < 2:
            q = FALLBACK_QUANTILE if forced and FALLBACK_QUANTILE in radii else None
            candidates: list[dict[str, Any]] = []
        else:
            ratio, dist = self.session_parts(X_val)
            variants = {} if forced else {"off": ratio}
            variants.update({f"q={q:g}": radius_score(ratio, dist, r) for q, r in radii.items()})
            name, candidates = choose_variant(variants, y, method, **kw)
            q = None if name == "off" else float(name[2:])
        self.radius_ = None if q is None else radii[q]
        self.radius_choice_ = {"rule": "off" if q is None else "on", "radius": self.radius_,
                               "quantile": q, "candidates": candidates}
        parts = getattr(self, "_train_parts", None)
        if parts is not None:  # the training scores as this rule gives them, or drift is misread
            self.score_reference_ = psi_reference(radius_score(*parts, self.radius_))
        log.info("%s: hypersphere radius %s on validation", self.name,
                 "off" if q is None else f"{self.radius_:.4g} (quantile {q:g})")
        return self.radius_choice_

    def _get_state(self) -> dict[str, Any]:
        return {**super()._get_state(), "radius": getattr(self, "radius_", None),
                "radius_choice": getattr(self, "radius_choice_", None),
                "radius_candidates": getattr(self, "radius_candidates_", None)}

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        r = state.get("radius")
        self.radius_ = None if r is None else float(r)
        self.radius_choice_ = state.get("radius_choice")
        self.radius_candidates_ = state.get("radius_candidates") or []

    def explain_sequences(self, X: list[np.ndarray], *, n_expected: int = 3) -> list[dict[str, Any]]:
        """What the model missed in each session, and what it expected instead.

        Returns one dict a session, ``{"missed": [{"pos", "event", "rank", "expected"}, ...]}``,
        as DeepLog's: ``pos`` is the 0-based position in the session (``len(session)`` for the
        END token), ``event`` its id (``n_features_in_`` = END), ``rank`` its rank among the
        predictions when masked (an event never seen in training ranks last), ``expected`` the
        ``n_expected`` most likely ids there. A position in several windows is listed once,
        with its worst rank. With the hypersphere rule in use (``radius_`` set on validation)
        each dict also holds the session's ``distance``, the ``radius`` and ``beyond_radius``.
        """
        import torch

        from logad.models._torch import window_starts

        self._check_fitted()
        X = self._check_input(X, self.n_features_in_)
        n_classes = self.n_features_in_ + 1
        radius = self._radius_in_use()
        out = []

        def sphere(d: float) -> dict[str, Any]:
            return {} if radius is None else {"distance": d, "radius": radius,
                                              "beyond_radius": bool(d > radius)}

        with torch.inference_mode(), torch_threads():
            for seq in X:
                seq = np.asarray(seq, dtype=np.int64)
                if len(seq) == 0:
                    out.append({"missed": [], **sphere(0.0)})
                    continue
                events, _, missed, own, dist = self._masked_predictions(self.module_, seq)
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
                out.append({"missed": [worst[a] for a in sorted(worst)], **sphere(float(dist.max()))})
        return out
