"""``logad score`` and ``logad evaluate`` settings (``configs/score.yaml``, ``configs/evaluate.yaml``)."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import Field, NonNegativeInt, PositiveInt

from logad.settings.base import Settings
from logad.settings.common import Workers

__all__ = ["ScoreSettings", "EvaluateSettings"]

Split = Literal["train", "val", "test"]


class ScoreSettings(Settings):
    """Every knob of score; see ``configs/score.yaml``."""

    stage = "score"

    workers: Workers
    batch_size: PositiveInt
    split: Optional[Split]
    gpus_per_actor: Union[Literal["auto"], float] = Field(union_mode="left_to_right")
    local_below: NonNegativeInt
    rows_per_bucket: PositiveInt


class EvaluateSettings(Settings):
    """Every knob of evaluate; see ``configs/evaluate.yaml``."""

    stage = "evaluate"

    split: Literal["train", "val", "test", "all"]
    k: list[PositiveInt]
