"""logad.models: detectors behind one contract (:mod:`logad.models.base`), their registry,
thresholds and model folders.

``from logad.models import DETECTORS, MODELS, load_detector, build_detector`` works lazily, so
importing one detector module does not import every backend.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DETECTORS", "MODELS", "build_detector", "load_detector"]


def __getattr__(name: str) -> Any:
    if name in ("DETECTORS", "MODELS", "build_detector", "load_detector"):
        from logad.models import registry
        return getattr(registry, name)
    raise AttributeError(f"module 'logad.models' has no attribute {name!r}")
