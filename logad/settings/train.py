"""``logad train`` settings (``configs/train.yaml``; the threshold from ``configs/models.yaml``)."""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import Field, NonNegativeInt

from logad.settings.base import Section, Settings
from logad.settings.common import Workers

__all__ = ["TrainSettings", "ThresholdSection", "TorchSection"]


class ThresholdSection(Section):
    """How the threshold is re-chosen on the validation split (never on test)."""

    method: Literal["best_f1", "percentile", "fpr", "none"]
    q: float = Field(ge=0.0, le=100.0)
    alpha: float = Field(gt=0.0, lt=1.0)


class TorchSection(Section):
    """Torch models only: Ray Train's run (``workers`` is the stage's own)."""

    resume: bool
    max_failures: NonNegativeInt
    storage_path: Optional[str]
    name: Optional[str]
    use_gpu: Union[bool, Literal["auto"]]
    init_from: Optional[str]
    replay: Optional[str]


class TrainRay(Section):
    """Where the work runs; the model never depends on it."""

    in_process_below: NonNegativeInt


class TrainSettings(Settings):
    """Every knob of train; see ``configs/train.yaml``."""

    stage = "train"

    threshold: ThresholdSection
    features: dict[str, Any]
    params: dict[str, Any]
    workers: Workers
    ray: TrainRay
    torch: TorchSection

    @classmethod
    def base_layers(cls) -> list[tuple[str, dict[str, Any]]]:
        """``configs/models.yaml``'s ``threshold:`` section, under ``configs/train.yaml``."""
        from logad import config
        from logad.models.registry import load_models_config

        path = config.config_path("models")
        return [(str(path), {"threshold": dict(load_models_config(path).get("threshold") or {})})]

    def models_config(self) -> dict[str, Any]:
        """``configs/models.yaml`` (detector and per-model parameters), checked."""
        from logad import config
        from logad.models.registry import load_models_config

        return load_models_config(config.config_path("models"))

    def features_config(self) -> dict[str, Any]:
        """``configs/features.yaml`` updated by this run's ``features`` overrides."""
        from logad import config

        return config.deep_merge(config.load_yaml("features"), self.features)

    def torch_options(self) -> dict[str, Any]:
        """The options :mod:`logad.ray.train_torch` takes: the ``torch`` section plus the
        Ray Train workers (the stage's ``workers``; one when unset)."""
        return {**self.torch.model_dump(), "workers": self.workers or 1}
