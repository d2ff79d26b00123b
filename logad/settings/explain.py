"""``logad explain`` settings (``configs/explain.yaml``)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import NonNegativeInt, PositiveInt

from logad.settings.base import Settings

__all__ = ["ExplainSettings"]


class ExplainSettings(Settings):
    """Every knob of explain; see ``configs/explain.yaml``."""

    stage = "explain"

    shap_background: NonNegativeInt
    shap_sample: NonNegativeInt
    shap_feature_threshold: PositiveInt
    shap_cell_threshold: PositiveInt
    max_evals: PositiveInt
    workers: Optional[NonNegativeInt]  # 0: in this process
    local_below: NonNegativeInt  # fewer sessions to explain run in this process (0: never)
    top_features: PositiveInt
    nn_normal_sample: NonNegativeInt
    nn_source: Optional[str]
    nn_top_k: NonNegativeInt
    cases: NonNegativeInt
    case_split: Optional[Literal["train", "val", "test"]]
    lines_per_case: NonNegativeInt
    context: NonNegativeInt
    parsed: Optional[str]
