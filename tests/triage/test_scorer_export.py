"""The NumPy scorer reproduces the scikit-learn pipeline; the export refuses a model that does not."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from logad.errors import ModelError
from logad.parsing.masking import compile_passes
from logad.triage import export as E
from logad.triage.runs import masking_rules
from logad.triage.scorer import TriageScorer, char_ngrams, word_ngrams
from logad.triage.train import TrainSettings, fit_pipeline

ODD_LINES = [
    "", "   ", "a", "ÄÖÜ Fehler: Verbindung verweigert über /dev/sda1",   # non-ASCII: Python path
    "tab\there  and   runs\x1c\x1dof space", "ERROR ERROR ERROR !!! ***",
    "日本語のエラー timeout", "x" * 3000, "Caused by: java.lang.NullPointerException",
]


@pytest.fixture(scope="module")
def fitted(small_labels, triage_cfg):
    t = pq.read_table(small_labels / "labels.parquet")
    raw, y = t["line"].to_pylist(), np.asarray(t["label"].to_pylist())
    rules = masking_rules(triage_cfg)
    settings = TrainSettings.from_config(triage_cfg["train"])
    pipe = fit_pipeline(raw, y, compile_passes(rules), {"C": 1.0, "word_max_features": 800,
                                                        "char_max_features": 3000}, settings)
    return pipe, rules, raw


def test_analyzers_match_sklearn(fitted):
    pipe, _, raw = fitted
    wa, ca = pipe.word.build_analyzer(), pipe.char.build_analyzer()
    import re

    rx = re.compile(pipe.word.token_pattern)
    for line in raw[:200] + ODD_LINES:
        assert sorted(word_ngrams(line, rx, 1, 3)) == sorted(wa(line))
        assert sorted(char_ngrams(line, 3, 6)) == sorted(ca(line))


def test_parity_on_every_line(fitted, tmp_path):
    pipe, rules, raw = fitted
    lines = raw + ODD_LINES
    doc = E.export_model(pipe, rules, 0.5, lines, tmp_path / "model.json")
    assert doc["meta"]["parity"]["max_abs_diff"] <= 1e-9
    scorer = TriageScorer.load(tmp_path)  # the file, read back
    a, b = scorer.proba(lines), pipe.proba(lines)
    assert np.max(np.abs(a - b)) <= 1e-9
    assert 0 < (a >= 0.5).sum() < len(a)  # not a constant model
    # the document is plain JSON: no code, no pickles
    json.loads((tmp_path / "model.json").read_text())


def test_export_fails_when_parity_fails(fitted, tmp_path, monkeypatch):
    pipe, rules, raw = fitted
    real = E.to_document

    def broken(*a, **k):
        doc = real(*a, **k)
        doc["char"]["idf"][0] *= 1.5  # a damaged weight: the scorer no longer matches
        return doc

    monkeypatch.setattr(E, "to_document", broken)
    lines = [ln for ln in raw if ln]
    with pytest.raises(ModelError, match="parity check failed"):
        E.export_model(pipe, rules, 0.5, lines, tmp_path / "model.json")
    assert not (tmp_path / "model.json").exists()


def test_reasons_name_features(fitted):
    pipe, rules, raw = fitted
    scorer = TriageScorer(E.to_document(pipe, rules, 0.5))
    reasons = scorer.reasons(["pam_unix(sshd:auth): authentication failure; rhost=1.2.3.4 user=root"])
    assert reasons[0] != "no positive evidence" and "+" in reasons[0]


def test_reasons_of_a_scored_batch_equal_reasons(fitted):
    """look_rows explains the LOOK lines from the batch's scores: the same as scoring them alone."""
    pipe, rules, raw = fitted
    scorer = TriageScorer(E.to_document(pipe, rules, 0.5))
    lines = raw[:400] + ODD_LINES + raw[:50]  # repeated lines: scored once, explained each time
    scores = scorer.score(lines)
    assert np.array_equal(scores.proba, scorer.proba(lines))
    rows = np.flatnonzero(scores.proba >= 0.5)
    assert 0 < len(rows) < len(lines)
    assert scorer.reasons_of(scores, rows) == scorer.reasons([lines[i] for i in rows])
    assert scorer.reasons_of(scores, rows[::-1]) == scorer.reasons([lines[i] for i in rows[::-1]])


def test_bad_model_files(tmp_path):
    with pytest.raises(ModelError, match="no triage model"):
        TriageScorer.load(tmp_path)
    (tmp_path / "model.json").write_text('{"format": "other"}')
    with pytest.raises(ModelError, match="not a logad triage model"):
        TriageScorer.load(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        TriageScorer.load(tmp_path)
