"""MS-CRED (Zhang et al., AAAI 2019): multi-scale signature matrices, a convolutional encoder, a
ConvLSTM over the last ``history`` steps and a deconvolutional decoder; the reconstruction
error of the newest signature matrices is the anomaly score.

A session is cut into segments of ``segment`` events; segment ``t`` gives a count vector over
``max_events`` event buckets (the ``max_events - 1`` most frequent training events, the last
bucket for every other event and ``<unk>``). The signature matrix of scale ``w`` at step ``t`` is
``sum_{d<w} x_{t-d} x_{t-d}^T / w`` (the paper's inner products of the series over the last
``w`` segments), one channel a scale in ``scales``. A session's score is the largest mean
squared reconstruction error over its steps (``contamination="auto"`` has no meaning here;
``logad train`` chooses the cut on validation).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from logad.errors import ConfigError
from logad.models._checks import check_number
from logad.models._torch import TorchSequenceDetector

__all__ = ["MSCREDDetector", "segment_counts"]


def segment_counts(seq: np.ndarray, bucket: np.ndarray, segment: int, n: int) -> np.ndarray:
    """``(ceil(len / segment), n)`` float32 counts of each segment's event buckets.

    >>> segment_counts(np.array([1, 1, 2]), np.array([2, 0, 1]), 2, 3).tolist()
    [[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    seq = np.asarray(seq, dtype=np.int64)
    t = -(-len(seq) // segment)
    out = np.zeros((t, n), dtype=np.float32)
    np.add.at(out, (np.arange(len(seq)) // segment, bucket[seq]), 1.0)
    return out


def _module(n_buckets: int, n_vocab: int, scales: tuple[int, ...], history: int, channels: int) -> Any:
    import torch
    from torch import nn

    s = len(scales)

    class ConvLSTMCell(nn.Module):
        def __init__(self, ch: int) -> None:
            super().__init__()
            self.gates = nn.Conv2d(2 * ch, 4 * ch, 3, padding=1)

        def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            i, f, o, g = torch.chunk(self.gates(torch.cat([x, h], dim=1)), 4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            return torch.sigmoid(o) * torch.tanh(c), c

    class MSCRED(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("bucket", torch.zeros(n_vocab, dtype=torch.int64))
            self.register_buffer("scales", torch.tensor(scales, dtype=torch.int64))
            self.enc1 = nn.Sequential(nn.Conv2d(s, channels, 3, padding=1), nn.SELU())
            self.enc2 = nn.Sequential(nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1), nn.SELU())
            self.lstm1 = ConvLSTMCell(channels)
            self.lstm2 = ConvLSTMCell(2 * channels)
            self.dec2 = nn.Sequential(nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1),
                                      nn.SELU())
            self.dec1 = nn.Conv2d(2 * channels, s, 3, padding=1)

        def signatures(self, counts: torch.Tensor) -> torch.Tensor:
            """``(B, history + max(scales) - 1, n)`` counts -> ``(B, history, S, n, n)``."""
            outer = counts[..., :, None] * counts[..., None, :]
            csum = torch.cumsum(outer, dim=1)
            csum = torch.cat([torch.zeros_like(csum[:, :1]), csum], dim=1)
            end = counts.shape[1]
            chans = []
            for w in scales:
                idx = torch.arange(end - history + 1, end + 1, device=counts.device)
                chans.append((csum[:, idx] - csum[:, idx - w]) / w)
            return torch.stack(chans, dim=2)

        def forward(self, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            sig = self.signatures(counts)
            b, h, _, n, _ = sig.shape
            z1 = self.enc1(sig.reshape(b * h, s, n, n)).reshape(b, h, channels, n, n)
            z2 = self.enc2(z1.reshape(b * h, channels, n, n))
            z2 = z2.reshape(b, h, 2 * channels, z2.shape[-2], z2.shape[-1])
            h1 = c1 = torch.zeros_like(z1[:, 0])
            h2 = c2 = torch.zeros_like(z2[:, 0])
            for t in range(h):
                h1, c1 = self.lstm1(z1[:, t], h1, c1)
                h2, c2 = self.lstm2(z2[:, t], h2, c2)
            up = self.dec2(h2)
            recon = self.dec1(torch.cat([up, h1], dim=1))
            return recon, sig[:, -1]

    return MSCRED()


class MSCREDDetector(TorchSequenceDetector):
    """Signature-matrix reconstruction (unsupervised: fitted on normal sessions).

    Parameters
    ----------
    contamination : float in (0, 0.5], default 0.05
        Share of training sessions above the fit-time cut (replaced on validation).
    segment : int, default 2
        Events per segment (one step of the multivariate count series).
    scales : list of int, default [1, 2, 4]
        Signature-matrix windows, in segments.
    history : int, default 4
        Steps the ConvLSTM reads before the one it reconstructs.
    max_events : int, default 32
        Event buckets (even); the rarest events and ``<unk>`` share the last one.
    channels : int, default 16
    epochs, batch_size, lr, patience, val_fraction, device, random_state
        See :class:`~logad.models._torch.TorchSequenceDetector`.
    """

    name: ClassVar[str] = "mscred"
    fit_on: ClassVar[str] = "normal"

    def __init__(self, *, contamination: Any = 0.05, segment: int = 2, scales: Any = (1, 2, 4),
                 history: int = 4, max_events: int = 32, channels: int = 16, epochs: int = 10,
                 batch_size: int = 256, lr: float = 0.001, patience: int | None = 3,
                 val_fraction: float = 0.1, device: str = "auto", random_state: int | None = 0) -> None:
        self.contamination = contamination
        self.segment = segment
        self.scales = scales
        self.history = history
        self.max_events = max_events
        self.channels = channels
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.val_fraction = val_fraction
        self.device = device
        self.random_state = random_state

    def _check_params(self) -> None:
        for p in ("segment", "history", "channels"):
            check_number(self.name, p, getattr(self, p), lo=1, integer=True)
        check_number(self.name, "max_events", self.max_events, lo=2, integer=True)
        if self.max_events % 2:
            raise ConfigError(f"{self.name}: parameter max_events must be even, got {self.max_events}")
        if isinstance(self.scales, (str, bytes)) or not list(self.scales) or \
                not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in self.scales):
            raise ConfigError(f"{self.name}: parameter scales must be a list of integers >= 1, "
                              f"got {self.scales!r}")
        self._check_common()

    @property
    def _span(self) -> int:
        return int(self.history) + max(int(w) for w in self.scales) - 1

    def _build_module(self) -> Any:
        return _module(int(self.max_events), self.n_features_in_, tuple(int(w) for w in self.scales),
                       int(self.history), int(self.channels))

    def _prepare_fit(self, X: list[np.ndarray], y: np.ndarray | None) -> None:
        freq = np.bincount(np.concatenate(X) if X else np.zeros(0, np.int64),
                           minlength=self.n_features_in_).astype(np.int64)
        freq[0] = 0  # <unk> shares the last bucket
        n = int(self.max_events)
        order = np.lexsort((np.arange(len(freq)), -freq))
        keep = [i for i in order if freq[i] > 0][: n - 1]
        bucket = np.full(self.n_features_in_, n - 1, dtype=np.int64)
        bucket[keep] = np.arange(len(keep))
        self.bucket_ = bucket

    def attach_module(self, module: Any, history: list[dict[str, Any]] | None = None) -> None:
        import torch

        if hasattr(self, "bucket_") and not int(module.bucket.abs().sum()):
            module.bucket.copy_(torch.as_tensor(self.bucket_))
        self.bucket_ = module.bucket.numpy().astype(np.int64)
        super().attach_module(module, history)

    def _session_steps(self, seq: np.ndarray) -> np.ndarray:
        """``(steps, span, n)``: for every segment, the counts of the ``span`` segments up to it."""
        counts = segment_counts(seq, self.bucket_, int(self.segment), int(self.max_events))
        span = self._span
        padded = np.concatenate([np.zeros((span - 1, counts.shape[1]), np.float32), counts])
        return np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(
            padded, (span, counts.shape[1]))[:, 0])

    def _examples(self, X: list[np.ndarray], y: np.ndarray | None) -> dict[str, np.ndarray]:
        parts = [self._session_steps(s) for s in X if len(s)]
        empty = np.zeros((0, self._span, int(self.max_events)), np.float32)
        return {"counts": np.concatenate(parts) if parts else empty}

    def _loss(self, module: Any, batch: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        recon, target = module(batch["counts"].float())
        return ((recon.float() - target) ** 2).mean(), {}

    def _score_session(self, module: Any, seq: np.ndarray) -> float:
        import torch

        if len(seq) == 0:
            return 0.0
        recon, target = module(torch.as_tensor(self._session_steps(seq)))
        return float(((recon - target) ** 2).mean(dim=(1, 2, 3)).max())
