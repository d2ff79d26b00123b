"""The featurizer registry: ``FEATURE_KINDS``, ``make_featurizer``, ``featurizer_from_dict``."""

from __future__ import annotations

from typing import Any, Mapping

from logad.errors import ConfigError
from logad.features.bags import EventCountFeaturizer, TfidfFeaturizer, TrigramsFeaturizer, WordsFeaturizer
from logad.features.base import Featurizer
from logad.features.events import EventIdsFeaturizer
from logad.features.numeric import NumericFeaturizer

__all__ = ["FEATURE_KINDS", "make_featurizer", "make_featurizer_from_config", "featurizer_from_dict"]

FEATURE_KINDS: dict[str, type[Featurizer]] = {
    "counts": EventCountFeaturizer, "tfidf": TfidfFeaturizer, "words": WordsFeaturizer,
    "trigrams": TrigramsFeaturizer, "numeric": NumericFeaturizer,
    "events": EventIdsFeaturizer}


def make_featurizer(kind: str, **params: Any) -> Featurizer:
    """A featurizer of ``kind`` (a key of :data:`FEATURE_KINDS`) with ``params``.

    >>> make_featurizer("tfidf", level="event").get_params()["norm"]
    'l2'
    """
    if kind not in FEATURE_KINDS:
        raise ConfigError(f"unknown feature kind {kind!r}; choose one of {', '.join(FEATURE_KINDS)}")
    try:
        return FEATURE_KINDS[kind](**params)
    except TypeError as exc:
        raise ConfigError(f"feature kind {kind!r}: {exc}") from None


def featurizer_from_dict(d: Mapping[str, Any]) -> Featurizer:
    """Rebuild any fitted featurizer from its :meth:`Featurizer.to_dict` state."""
    kind = d.get("kind")
    if kind not in FEATURE_KINDS:
        raise ValueError(f"unknown feature kind {kind!r} in saved state")
    return FEATURE_KINDS[kind].from_dict(d)


def make_featurizer_from_config(kind: str, cfg: Mapping[str, Any], **overrides: Any) -> Featurizer:
    """A featurizer of ``kind`` from a loaded ``configs/features.yaml`` dict.

    Parameters come from ``cfg["kinds"][kind]`` plus ``cfg["level"]``, then ``overrides``.

    >>> make_featurizer_from_config("trigrams", {"level": "event", "kinds": {"trigrams": {"unit": "word"}}}).unit
    'word'
    """
    params = dict((cfg.get("kinds") or {}).get(kind) or {})
    if cfg.get("level") is not None:
        params.setdefault("level", cfg["level"])
    params.update(overrides)
    return make_featurizer(kind, **params)

