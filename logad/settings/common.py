"""Sections more than one stage uses: how events tables are written."""

from __future__ import annotations

from typing import Optional

from pydantic import field_validator, model_validator

from logad.errors import ConfigError
from logad.settings.base import Section

__all__ = ["ParquetSection", "Workers", "PositiveInt", "NonNegativeInt"]

from pydantic import NonNegativeInt, PositiveInt  # noqa: E402  (re-exported for the stage modules)

#: ``workers``: how many worker actors (or tasks) the stage uses; null: one per CPU of the Ray
#: cluster. The same meaning in every stage (``--workers``); results never depend on it.
Workers = Optional[PositiveInt]


class ParquetSection(Section):
    """How events tables are written (:class:`logad.io.ParquetSettings`); results never depend
    on it, only time and size do."""

    compression: str = "zstd"
    compression_level: Optional[int] = -3
    dictionary: Optional[list[str]] = None

    @field_validator("compression")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        from logad.io.atomic import _CODECS

        if value.lower() not in _CODECS:
            raise ValueError(f"unknown codec; one of {', '.join(_CODECS)}")
        return value

    @model_validator(mode="after")
    def _codec(self) -> "ParquetSection":
        from logad.io import ParquetSettings

        try:
            ParquetSettings.from_config(self.model_dump(), "parquet")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self

    def writer(self):
        """The :class:`logad.io.ParquetSettings` these settings describe."""
        from logad.io import ParquetSettings

        return ParquetSettings.from_config(self.model_dump(), "parquet")
