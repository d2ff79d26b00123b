"""``logad triage`` settings (``configs/triage.yaml``); ``predict`` is the Ray stage's section."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from pydantic import Field, PositiveInt

from logad.settings.base import Section, Settings, resolve
from logad.settings.common import Workers

__all__ = ["TriageSettings", "TriagePredictSection", "predict_settings"]


class TriageLabelSection(Section):
    ground_truth: list[str]
    validate_llm: bool


class TriagePredictSection(Section):
    """``logad triage predict``: every key is part of its skip key."""

    threshold: Optional[float] = Field(ge=0.0, le=1.0)  # null: the model's own
    chunk_bytes: PositiveInt
    batch_lines: PositiveInt
    max_line_bytes: PositiveInt
    workers: Workers
    top_templates: PositiveInt
    # at most this share of a file's lines LOOK, the most likely ones (null or 1: no cap);
    # applied when the units are put together, so not part of a unit's skip key
    max_look_share: Optional[float] = Field(gt=0.0, le=1.0)


class TriageSettings(Settings):
    """The triage config; ``llm`` and ``train`` are checked by their own settings classes
    (:mod:`logad.triage.llm`, :mod:`logad.triage.train`) when those commands run."""

    stage = "triage"

    masking: str
    label: TriageLabelSection
    llm: dict[str, Any]
    train: dict[str, Any]
    predict: TriagePredictSection


def predict_settings(cfg: TriagePredictSection | TriageSettings | Mapping[str, Any] | None) -> TriagePredictSection:
    """The predict section a runner works with: as it is, or a dict of predict keys validated over
    ``configs/triage.yaml``'s."""
    if isinstance(cfg, TriagePredictSection):
        return cfg
    if isinstance(cfg, TriageSettings):
        return cfg.predict
    return resolve(TriageSettings, values={"predict": dict(cfg or {})}, what="triage predict settings").predict
