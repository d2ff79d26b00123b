"""``logad ingest`` settings (``configs/ingest.yaml``)."""

from __future__ import annotations

from typing import Optional

from logad.settings.base import Section, Settings
from logad.settings.common import NonNegativeInt, ParquetSection, PositiveInt, Workers

__all__ = ["IngestSettings", "Lo2Section"]


class Lo2Section(Section):
    """Which LO2 files to read (``preset: lo2`` only)."""

    runs: Optional[PositiveInt]
    services: Optional[list[str]]
    test_cases: Optional[list[str]]
    errors_per_run: Optional[PositiveInt]
    seed: NonNegativeInt
    load_metrics: bool


class IngestSettings(Settings):
    """Every knob of ingest; see ``configs/ingest.yaml`` for what each means."""

    stage = "ingest"

    preset: str
    format: Optional[str]
    regex: Optional[str]
    timestamp_format: Optional[str]
    labels: Optional[str]
    chunk_bytes: PositiveInt
    max_line_bytes: PositiveInt
    batch_lines: PositiveInt
    workers: Workers
    in_process_below_bytes: NonNegativeInt  # smaller inputs are ingested in this process (0: never)
    read_timeout_s: Optional[PositiveInt]  # a remote source silent this long: a per-file error
    parquet: ParquetSection
    lo2: Lo2Section
