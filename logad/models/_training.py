"""The bookkeeping of a training run shared by the one-process loop and the Ray Train workers:
best loss and weights, patience, the loss history and its CSV / PNG (no Ray, no I/O besides
:func:`write_history`)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

__all__ = ["EpochTracker", "write_history", "HISTORY_CSV", "HISTORY_PNG"]

#: The loss of every epoch, written with the weights.
HISTORY_CSV, HISTORY_PNG = "loss_history.csv", "loss_history.png"


def write_history(history: list[dict[str, Any]], folder: Path, title: str) -> None:
    """``loss_history.csv`` (epoch, train_loss, val_loss, lr, seconds) and a PNG of the two losses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    cols = ["epoch", "train_loss", "val_loss", "lr", "seconds"]
    frame = pd.DataFrame(history, columns=cols)
    frame.to_csv(folder / HISTORY_CSV, index=False)
    fig, ax = plt.subplots(figsize=(4.5, 3), dpi=80)
    for col in ("train_loss", "val_loss"):
        if frame[col].notna().any():
            ax.plot(frame["epoch"], frame[col], marker="o", label=col.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    if len(frame):
        ax.legend()
    fig.tight_layout()
    fig.savefig(folder / HISTORY_PNG)
    plt.close(fig)


class EpochTracker:
    """Loss history, the best loss with its weights, and the patience count of one training run
    (the one-process loop and every Ray Train worker keep one)."""

    def __init__(self, det: Any, module: Any) -> None:
        self.det = det
        self.history: list[dict[str, Any]] = []
        self.best, self.stale, self.stopped = math.inf, 0, False
        self.resumed_at: list[int] = []  # epochs a restarted run continued from
        self._snapshot(module)
        self.start_epoch()

    def start_epoch(self) -> None:
        """Start the clock of the next epoch's ``seconds`` (its training and validation passes)."""
        self._started = time.perf_counter()

    def _snapshot(self, module: Any) -> None:
        self.best_state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        self.best_extra = {k: v.clone() for k, v in self.det._extra_state().items()}

    def end_epoch(self, module: Any, epoch: int, train_sum: float, n_train: float, val_sum: float,
                  n_val: float, optimizer: Any) -> bool:
        """Record epoch ``epoch`` (0-based); True when patience says stop."""
        row = {"epoch": epoch + 1, "train_loss": train_sum / max(n_train, 1),
               "val_loss": val_sum / n_val if n_val else float("nan"),
               "lr": float(optimizer.param_groups[0]["lr"]),
               "seconds": round(time.perf_counter() - self._started, 4)}
        self.history.append(row)
        current = row["val_loss"] if n_val else row["train_loss"]
        if current < self.best - 1e-6:
            self.best, self.stale = current, 0
            self._snapshot(module)
        else:
            self.stale += 1
        patience = self.det.patience
        self.stopped = patience is not None and self.stale >= int(patience)
        return self.stopped

    def restore_best(self, module: Any) -> None:
        """Load the best epoch's weights (and fitted tensors) back."""
        module.load_state_dict(self.best_state)
        if self.best_extra:
            self.det._set_extra_state(self.best_extra)

    def meta(self) -> dict[str, Any]:
        """Plain fields for a checkpoint."""
        return {"epoch": len(self.history) and self.history[-1]["epoch"], "best_val": self.best,
                "stale": self.stale, "history": self.history, "stopped": self.stopped,
                "resumed_at": self.resumed_at}

    def load_meta(self, meta: dict[str, Any], best_state: dict, best_extra: dict) -> None:
        """Continue from a checkpoint's :meth:`meta` and best tensors."""
        self.history = list(meta["history"])
        self.best, self.stale, self.stopped = meta["best_val"], meta["stale"], meta.get("stopped", False)
        self.best_state, self.best_extra = best_state, best_extra
        self.resumed_at = list(meta.get("resumed_at") or [])
