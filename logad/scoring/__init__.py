"""Batch scoring: pure transforms from a trained model and ``sequences`` rows to ``scores`` rows."""

from logad.scoring.scores import SCORES_SCHEMA, aggregate_to_sessions, score_batch

__all__ = ["SCORES_SCHEMA", "score_batch", "aggregate_to_sessions"]
