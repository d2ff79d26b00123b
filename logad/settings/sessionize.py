"""``logad sessionize`` settings (``configs/sessionize.yaml``)."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import Field, model_validator

from logad.settings.base import Section, Settings
from logad.settings.common import NonNegativeInt, PositiveInt, Workers

__all__ = ["SessionizeSettings", "MODES", "ID_MODES"]

ID_MODES = ("block", "instance", "file")
MODES = (*ID_MODES, "fixed", "sliding", "time")


class KeysSection(Section):
    """The event column holding the session key, per id mode."""

    block: str
    instance: str
    file: str


class SplitSection(Section):
    """The train/val/test split every model shares."""

    how: Literal["chronological", "random"]
    val_frac: float = Field(ge=0.0, le=1.0)
    test_frac: float = Field(ge=0.0, le=1.0)
    seed: NonNegativeInt

    @model_validator(mode="after")
    def _fractions(self) -> "SplitSection":
        if self.val_frac + self.test_frac > 1:
            raise ValueError(f"split fractions need val_frac + test_frac <= 1, got {self.val_frac}, "
                             f"{self.test_frac}")
        return self


class SessionizeRay(Section):
    """How the work is cut; results never depend on these."""

    read_blocks: Optional[PositiveInt]
    num_partitions: Optional[PositiveInt]
    in_process_below: NonNegativeInt


class SessionizeSettings(Settings):
    """Every knob of sessionize; see ``configs/sessionize.yaml``."""

    stage = "sessionize"

    by: Literal["block", "instance", "file", "fixed", "sliding", "time"]
    keys: KeysSection
    window: PositiveInt
    step: Union[PositiveInt, str, float, None]
    span: Union[str, PositiveInt, float]
    labels: Optional[str]
    keep_messages: bool
    error_levels: list[str]
    split: SplitSection
    dedup: bool
    train_normal_only: bool
    workers: Workers
    ray: SessionizeRay

    @model_validator(mode="after")
    def _windows(self) -> "SessionizeSettings":
        from logad.sessions.windows import parse_duration

        if self.by in ("fixed", "sliding"):
            try:
                step = self.window if self.by == "fixed" or self.step is None else int(self.step)
            except (TypeError, ValueError):
                raise ValueError(f"step = {self.step!r}: a number of lines for --by sliding") from None
            if not 1 <= step <= self.window:
                raise ValueError(f"need window >= 1 and 1 <= step <= window, got window={self.window} "
                                 f"step={step}")
            self.step = step
        if self.by == "time":
            try:
                span = parse_duration(self.span)
                step = span if self.step is None else parse_duration(self.step)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"time windows: {exc}") from None
            if step > span:
                raise ValueError(f"time step ({step}s) must not exceed span ({span}s): lines would be left out")
        return self

    @property
    def span_sec(self) -> float | None:
        """Window length in seconds (``by: time``), else None."""
        from logad.sessions.windows import parse_duration

        return parse_duration(self.span) if self.by == "time" else None

    @property
    def step_sec(self) -> float | None:
        """Seconds between window starts (``by: time``; default: the span), else None."""
        from logad.sessions.windows import parse_duration

        if self.by != "time":
            return None
        return self.span_sec if self.step is None else parse_duration(self.step)
