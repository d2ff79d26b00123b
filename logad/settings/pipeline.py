"""``logad run`` / ``logad demo`` settings: the pipeline's own keys, each stage's section checked
against that stage's model when the pipeline config is loaded (a typo fails before any work)."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, PositiveInt, model_validator

from logad.settings.base import Section, Settings, resolve
from logad.settings.explain import ExplainSettings
from logad.settings.ingest import IngestSettings
from logad.settings.parse import ParseSettings
from logad.settings.score import ScoreSettings
from logad.settings.sessionize import SessionizeSettings
from logad.settings.train import TrainSettings

__all__ = ["PipelineSettings", "STAGE_SETTINGS"]

#: Pipeline section -> the stage model its values are resolved with.
STAGE_SETTINGS = {"ingest": IngestSettings, "parse": ParseSettings, "sessionize": SessionizeSettings,
                  "train": TrainSettings, "score": ScoreSettings, "explain": ExplainSettings}


class ReportSection(Section):
    title: Optional[str] = None
    split: Literal["train", "val", "test", "all"] = "test"
    baseline: Optional[str] = None


class PipelineSettings(Settings):
    """The pipeline config (``configs/pipeline.yaml``); stage sections are overrides of
    ``configs/<stage>.yaml``, validated here and resolved again by each runner."""

    stage = "pipeline"

    out: str
    seed: int
    num_cpus: Optional[PositiveInt]  # the pipeline's local Ray (a runtime option, as --num-cpus)
    synth: Optional[dict[str, Any]]
    inputs: Optional[dict[str, Any]]
    ingest: dict[str, Any]
    parse: dict[str, Any]
    sessionize: dict[str, Any]
    models: list[str] = Field(min_length=1)
    train: dict[str, Any]
    score: dict[str, Any]
    explain: dict[str, Any]
    explain_models: Optional[list[str]]
    report: ReportSection

    @model_validator(mode="after")
    def _sections(self) -> "PipelineSettings":
        if self.synth is None and not self.inputs:
            raise ValueError("set `synth` (a synthetic corpus) or `inputs` (paths + preset)")
        if self.inputs is not None and not self.inputs.get("paths"):
            raise ValueError("inputs.paths lists no file")
        return self

    def check_stages(self) -> None:
        """Resolve every stage section with its model: a wrong key or value is a ConfigError
        naming ``pipeline <stage>`` and the key."""
        for name, model in STAGE_SETTINGS.items():
            values = dict(getattr(self, name))
            if name == "ingest" and self.inputs:
                values = {**{k: v for k, v in self.inputs.items() if k != "paths"}, **values}
            resolve(model, values=values, what=f"pipeline config, section {name}")
