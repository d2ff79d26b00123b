"""``logad parse`` settings (``configs/parse.yaml``) and the masking rules they name."""

from __future__ import annotations

from typing import Literal, Optional, Sequence

from pydantic import Field, NonNegativeInt

from logad.settings.base import Section, Settings
from logad.settings.common import ParquetSection, PositiveInt, Workers

__all__ = ["ParseSettings", "DrainSection", "masking_rules"]


class DrainSection(Section):
    """drain3's Drain settings (its ``drain_*`` names without the prefix)."""

    depth: int = Field(ge=3)
    sim_th: float = Field(ge=0.0, le=1.0)
    max_children: PositiveInt
    extra_delimiters: list[str]
    parametrize_numeric_tokens: bool

    def miner_settings(self):
        """The :class:`logad.parsing.miner.DrainSettings` of this section."""
        from logad.parsing.miner import DrainSettings

        return DrainSettings.from_config(self.model_dump())


class ParseSettings(Settings):
    """Every knob of parse; see ``configs/parse.yaml``."""

    stage = "parse"

    masking: str
    drain: DrainSection
    max_distinct: PositiveInt
    match_full_search: Literal["never", "fallback", "always"]
    batch_size: PositiveInt
    num_blocks: Optional[PositiveInt]
    workers: Workers
    in_process_below: NonNegativeInt  # fewer input lines are parsed in this process (0: never)
    spill: bool
    parquet: ParquetSection


def _preset_rules(preset: str | None) -> list:
    from logad import config

    if not preset:
        return []
    for name in (preset, preset.lower()):
        path = config.CONFIG_DIR / "presets" / f"{name}.yaml"
        if path.is_file():
            return list(config.load_yaml(path).get("masking") or [])
    return []


def masking_rules(settings: ParseSettings, preset: str | None, no_mask: Sequence[str] = ()) -> list:
    """The masking rules of a run: ``settings.masking``'s preset section, the preset file's
    ``masking:``, then the generic rules, less ``no_mask`` (read here, not by the runner)."""
    from logad import config
    from logad.parsing.masking import rules_from_config, select_rules

    rules = rules_from_config(config.load_yaml(settings.masking), preset, _preset_rules(preset))
    return select_rules(rules, no_mask)
