"""One typed, validated settings object per stage, resolved once (see :mod:`logad.settings.base`).

``configs/<stage>.yaml`` → ``--config FILE`` → values a caller passes → CLI flags and
``--set KEY=VALUE`` → a pydantic model with unknown keys forbidden. Runners receive the object
(a plain dict is validated through the model at once) and never read YAML themselves.
"""

from logad.settings.base import (Section, Settings, coerce, dotted_overrides, resolve, settings_dump,
                                 stage_key)
from logad.settings.explain import ExplainSettings
from logad.settings.ingest import IngestSettings
from logad.settings.parse import ParseSettings, masking_rules
from logad.settings.pipeline import PipelineSettings
from logad.settings.score import EvaluateSettings, ScoreSettings
from logad.settings.sessionize import SessionizeSettings
from logad.settings.train import TrainSettings
from logad.settings.triage import TriageSettings

__all__ = ["Settings", "Section", "resolve", "coerce", "dotted_overrides", "stage_key", "settings_dump",
           "IngestSettings", "ParseSettings", "SessionizeSettings", "TrainSettings", "ScoreSettings",
           "EvaluateSettings", "ExplainSettings", "PipelineSettings", "TriageSettings", "masking_rules", "STAGES"]

#: Stage name -> its settings model.
STAGES = {"ingest": IngestSettings, "parse": ParseSettings, "sessionize": SessionizeSettings,
          "train": TrainSettings, "score": ScoreSettings, "evaluate": EvaluateSettings,
          "explain": ExplainSettings, "triage": TriageSettings, "pipeline": PipelineSettings}
