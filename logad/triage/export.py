"""Write the fitted pipeline as one portable JSON file, after checking the NumPy scorer against it.

The file holds everything a scorer needs and nothing executable: the masking rules (RE2 patterns
as text), both vocabularies in column order with their idf weights and n-gram ranges, the word
token pattern, the handcrafted feature names with the scaler's mean and scale, the coefficients
split by block (``feature_order``), the intercept and the threshold. :func:`export_model` scores
the given test lines with :class:`logad.triage.scorer.TriageScorer` built from that document and
with the scikit-learn pipeline, and writes the file only when no probability differs by more than
``tol`` (1e-9); otherwise it raises :class:`logad.errors.ModelError` and writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from logad import __version__
from logad.errors import ModelError
from logad.io import write_json
from logad.parsing.masking import MaskRule
from logad.triage.features import HANDCRAFTED, WORD_TOKEN_PATTERN
from logad.triage.scorer import FORMAT, TriageScorer
from logad.triage.train import Pipeline

__all__ = ["to_document", "parity", "export_model"]


def _terms(vectorizer: Any) -> list[str]:
    vocab = vectorizer.vocabulary_
    terms = [""] * len(vocab)
    for t, j in vocab.items():
        terms[j] = t
    return terms


def to_document(pipe: Pipeline, rules: Sequence[MaskRule], threshold: float,
                meta: Mapping[str, Any] | None = None) -> dict:
    """The JSON document of a fitted pipeline (plain lists and numbers only)."""
    coef = pipe.lr.coef_.ravel().astype(np.float64)
    nw, nc = len(pipe.word.vocabulary_), len(pipe.char.vocabulary_)
    if len(coef) != nw + nc + len(HANDCRAFTED):
        raise ModelError(f"coefficients ({len(coef)}) do not match the features "
                         f"({nw} words + {nc} chars + {len(HANDCRAFTED)} handcrafted)")
    return {
        "format": FORMAT,
        "logad_version": __version__,
        "feature_order": ["word", "char", "handcrafted"],
        "masking_rules": [{"name": r.name, "pattern": r.pattern, "replace": r.replace} for r in rules],
        "word": {"terms": _terms(pipe.word), "idf": pipe.word.idf_.tolist(),
                 "ngram_range": list(pipe.word.ngram_range), "token_pattern": WORD_TOKEN_PATTERN,
                 "lowercase": True, "norm": "l2", "text": "masked line"},
        "char": {"terms": _terms(pipe.char), "idf": pipe.char.idf_.tolist(),
                 "ngram_range": list(pipe.char.ngram_range), "lowercase": True, "norm": "l2",
                 "text": "raw line"},
        "handcrafted": {"names": list(HANDCRAFTED), "mean": pipe.scaler.mean_.tolist(),
                        "scale": pipe.scaler.scale_.tolist()},
        "coef": {"word": coef[:nw].tolist(), "char": coef[nw:nw + nc].tolist(),
                 "handcrafted": coef[nw + nc:].tolist()},
        "intercept": float(pipe.lr.intercept_[0]),
        "threshold": float(threshold),
        "meta": dict(meta or {}),
    }


def parity(pipe: Pipeline, doc: dict, lines: Sequence[str]) -> float:
    """Largest absolute difference of P(LOOK) between the scorer and the pipeline on ``lines``."""
    if not len(lines):
        return 0.0
    a = TriageScorer(doc, "export").proba(list(lines))
    b = pipe.proba(list(lines))
    return float(np.max(np.abs(a - b)))


def export_model(pipe: Pipeline, rules: Sequence[MaskRule], threshold: float,
                 test_lines: Sequence[str], path: str | Path, *, tol: float = 1e-9,
                 meta: Mapping[str, Any] | None = None) -> dict:
    """Check parity on ``test_lines`` and write the model file to ``path``; return its document.

    Raises
    ------
    ModelError
        When the scorer and the pipeline differ by more than ``tol`` on some line (nothing is
        written then).
    """
    doc = to_document(pipe, rules, threshold, meta)
    diff = parity(pipe, doc, test_lines)
    if not diff <= tol:
        raise ModelError(f"parity check failed: the JSON scorer differs from the scikit-learn "
                         f"pipeline by {diff:.3g} (> {tol:g}) on the {len(test_lines)} test lines; "
                         f"model not written")
    doc["meta"]["parity"] = {"lines": len(test_lines), "max_abs_diff": diff, "tol": tol}
    write_json(doc, path)
    return doc
