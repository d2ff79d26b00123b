"""Train the triage model: logistic regression over TF-IDF and handcrafted features, grid-searched
with the dataset as the group.

The grid (regularisation ``C`` × word vocabulary size × character vocabulary size) is scored by
``GroupKFold`` over datasets, so a model is never scored on the system it was trained on. For
speed the n-grams of every line are counted once (:class:`Corpus`); a fold keeps the terms of
its training rows only, the ``max_features`` most frequent of them (scikit-learn's
``max_features`` rule), and computes idf on its training rows, which is what fitting a
``TfidfVectorizer`` on the fold gives. The chosen setting is then fitted on all labelled lines
with scikit-learn's own ``TfidfVectorizer`` (:func:`fit_pipeline`): that pipeline is what
:mod:`logad.triage.export` writes and checks the NumPy scorer against.

Selection: the mean over held-out datasets (with at least one LOOK line) of the average
precision. The threshold comes from the out-of-fold probabilities (validation, never the lines a
figure is reported on), by one of two rules: ``budget`` (default), the lowest threshold at which
the mean share of lines marked LOOK per dataset is at most ``max_look_share``; or ``recall``, the
highest at which the pooled recall of LOOK lines is at least ``target_recall``. (On the loghub
samples the recall rule marks most lines LOOK: the hardest systems' LOOK lines score low on a
model that never saw them, and one pooled threshold has to reach them.)
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from logad.errors import ConfigError, InputError
from logad.triage.features import WORD_TOKEN_PATTERN, as_string_array, handcrafted, masked_lines

__all__ = ["TrainSettings", "Corpus", "Pipeline", "grid_search", "choose_threshold",
           "budget_threshold", "pick_threshold", "fit_pipeline", "best_row"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    """The ``train`` section of ``configs/triage.yaml``."""

    C: tuple[float, ...] = (0.3, 1.0, 3.0)
    word_max_features: tuple[int, ...] = (2000, 10000)
    char_max_features: tuple[int, ...] = (5000, 20000)
    word_ngram: tuple[int, int] = (1, 3)
    char_ngram: tuple[int, int] = (3, 6)
    n_splits: int = 5
    class_weight: str | None = "balanced"
    target_recall: float = 0.95
    threshold_rule: str = "budget"
    max_look_share: float = 0.30
    max_iter: int = 1000
    seed: int = 0
    parity_lines: int = 5000

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> "TrainSettings":
        cfg = dict(cfg or {})
        known = set(cls.__dataclass_fields__)
        unknown = set(cfg) - known
        if unknown:
            raise ConfigError(f"triage train: unknown key(s) {sorted(unknown)} (known: {sorted(known)})")
        out: dict[str, Any] = {}
        for k, v in cfg.items():
            if k in ("C", "word_max_features", "char_max_features"):
                v = tuple(v) if isinstance(v, (list, tuple)) else (v,)
                if not v or any(float(x) <= 0 for x in v):
                    raise ConfigError(f"triage train.{k}: a list of positive numbers, got {cfg[k]!r}")
                v = tuple(float(x) for x in v) if k == "C" else tuple(int(x) for x in v)
                if k == "char_max_features" and max(v) > 1 << 16:
                    raise ConfigError(f"triage train.char_max_features: at most {1 << 16} (the "
                                      f"scorer's hash table holds 16-bit term indices), got {cfg[k]!r}")
            elif k in ("word_ngram", "char_ngram"):
                if len(v) != 2 or not 1 <= int(v[0]) <= int(v[1]):
                    raise ConfigError(f"triage train.{k}: [lo, hi] with 1 <= lo <= hi, got {v!r}")
                if k == "char_ngram" and int(v[1]) > 6:
                    raise ConfigError("triage train.char_ngram: at most 6 characters (the scorer "
                                      f"packs n-grams into 64 bits), got {v!r}")
                v = (int(v[0]), int(v[1]))
            out[k] = v
        s = cls(**out)
        if not 0 < s.target_recall <= 1:
            raise ConfigError(f"triage train.target_recall: in (0, 1], got {s.target_recall}")
        if s.threshold_rule not in ("budget", "recall"):
            raise ConfigError(f"triage train.threshold_rule: budget or recall, got {s.threshold_rule!r}")
        if not 0 < s.max_look_share <= 1:
            raise ConfigError(f"triage train.max_look_share: in (0, 1], got {s.max_look_share}")
        if s.n_splits < 2:
            raise ConfigError(f"triage train.n_splits: at least 2, got {s.n_splits}")
        return s


@dataclass
class Corpus:
    """Labelled lines with their n-gram counts, counted once for every fold."""

    raw: list[str]
    y: np.ndarray
    groups: np.ndarray
    hc: np.ndarray
    word_counts: sp.csr_matrix
    char_counts: sp.csr_matrix

    @classmethod
    def build(cls, raw: Sequence[str], y: Sequence[int], groups: Sequence[str], passes,
              settings: TrainSettings) -> "Corpus":
        from sklearn.feature_extraction.text import CountVectorizer

        if len(raw) == 0:
            raise InputError("no labelled lines to train on (run `logad triage label` first)")
        y = np.asarray(y, np.int64)
        if len(set(y.tolist())) < 2:
            raise InputError("the labelled lines are all one class; LOOK and SKIP are both needed")
        raw = list(raw)
        masked = masked_lines(raw, passes).to_pylist()
        wc = CountVectorizer(analyzer="word", token_pattern=WORD_TOKEN_PATTERN,
                             ngram_range=settings.word_ngram, dtype=np.float64)
        cc = CountVectorizer(analyzer="char", ngram_range=settings.char_ngram, dtype=np.float64)
        return cls(raw, y, np.asarray(groups), handcrafted(raw),
                   wc.fit_transform(masked).tocsr(), cc.fit_transform(raw).tocsr())


def _tfidf_fold(counts: sp.csr_matrix, train: np.ndarray, k: int) -> sp.csr_matrix:
    """TF-IDF of all rows with the vocabulary and idf of the ``train`` rows (``max_features=k``)."""
    sub = counts[train]
    tf = np.asarray(sub.sum(axis=0)).ravel()
    present = np.flatnonzero(tf > 0)
    keep = present[np.argsort(-tf[present], kind="stable")[:k]]
    df = np.asarray((sub[:, keep] > 0).sum(axis=0)).ravel()
    idf = np.log((1 + len(train)) / (1 + df)) + 1.0
    x = counts[:, keep] @ sp.diags(idf)
    norm = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    return sp.diags(np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)) @ x


def _lr(C: float, settings: TrainSettings):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, solver="liblinear", class_weight=settings.class_weight,
                              max_iter=settings.max_iter, random_state=settings.seed)


def _average_precision(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, p)) if y.any() else None


def grid_search(corpus: Corpus, settings: TrainSettings, n_splits: int | None = None
                ) -> tuple[list[dict], dict[tuple, np.ndarray]]:
    """Score every grid point with ``GroupKFold`` over datasets.

    Returns
    -------
    rows : list of dict
        One per grid point: ``C``, ``word_max_features``, ``char_max_features``, the mean held-out
        average precision (``mean_ap``) and its per-dataset values (``ap_<dataset>``).
    oof : dict
        ``(C, word_k, char_k)`` -> out-of-fold probability of every line.
    """
    from sklearn.model_selection import GroupKFold
    from sklearn.preprocessing import StandardScaler

    datasets = sorted(set(corpus.groups.tolist()))
    k = min(int(n_splits or settings.n_splits), len(datasets))
    if k < 2:
        raise InputError(f"grouped cross-validation needs 2 or more datasets, got {datasets}")
    folds = list(GroupKFold(n_splits=k).split(corpus.hc, corpus.y, corpus.groups))
    n = len(corpus.y)
    oof = {key: np.full(n, np.nan) for key in itertools.product(
        settings.C, settings.word_max_features, settings.char_max_features)}
    for fi, (tr, te) in enumerate(folds):
        if len(set(corpus.y[tr].tolist())) < 2:
            log.warning("triage grid: fold %d trains on one class only; its lines get p=mean", fi)
        hc = StandardScaler().fit(corpus.hc[tr]).transform(corpus.hc)
        for kw in settings.word_max_features:
            xw = _tfidf_fold(corpus.word_counts, tr, kw)
            for kc in settings.char_max_features:
                x = sp.hstack([xw, _tfidf_fold(corpus.char_counts, tr, kc), sp.csr_matrix(hc)]).tocsr()
                for C in settings.C:
                    if len(set(corpus.y[tr].tolist())) < 2:
                        oof[(C, kw, kc)][te] = float(corpus.y[tr].mean())
                        continue
                    model = _lr(C, settings).fit(x[tr], corpus.y[tr])
                    oof[(C, kw, kc)][te] = model.predict_proba(x[te])[:, 1]
        log.info("triage grid: fold %d/%d done", fi + 1, k)
    rows = []
    for (C, kw, kc), p in oof.items():
        row: dict[str, Any] = {"C": C, "word_max_features": kw, "char_max_features": kc}
        aps = {}
        for d in datasets:
            m = corpus.groups == d
            aps[d] = _average_precision(corpus.y[m], p[m])
        valid = [v for v in aps.values() if v is not None]
        row["mean_ap"] = float(np.mean(valid)) if valid else float("nan")
        row.update({f"ap_{d}": v for d, v in aps.items()})
        rows.append(row)
    return rows, oof


def best_row(rows: Sequence[dict], exclude: str | None = None) -> dict:
    """The grid point with the highest mean held-out AP (over datasets other than ``exclude``);
    ties go to the smaller vocabularies and the smaller C (the simpler model)."""
    def score(r: dict) -> float:
        vals = [v for k, v in r.items() if k.startswith("ap_") and v is not None
                and k != f"ap_{exclude}"]
        return float(np.mean(vals)) if vals else float("-inf")

    return max(rows, key=lambda r: (score(r), -r["word_max_features"], -r["char_max_features"], -r["C"]))


def choose_threshold(proba: np.ndarray, y: np.ndarray, target_recall: float) -> float:
    """The highest threshold ``t`` with recall of ``p >= t`` at least ``target_recall``.

    >>> choose_threshold(np.array([0.9, 0.8, 0.2, 0.1]), np.array([1, 1, 0, 1]), 0.6)
    0.8
    """
    pos = np.sort(proba[y == 1])[::-1]
    if len(pos) == 0:
        return 0.5
    need = int(np.ceil(target_recall * len(pos) - 1e-12))
    return float(pos[max(need, 1) - 1])


def budget_threshold(proba: np.ndarray, groups: np.ndarray, max_share: float) -> float:
    """The lowest threshold at which the mean share of lines marked LOOK, over datasets, is at
    most ``max_share`` (every dataset counts once, whatever its size).

    >>> budget_threshold(np.array([0.9, 0.1, 0.8, 0.7]), np.array(["a", "a", "b", "b"]), 0.5)
    0.8
    """
    cands = np.unique(proba)  # ascending: the first that fits is the lowest
    names = sorted(set(groups.tolist()))
    sorted_p = [np.sort(proba[groups == g]) for g in names]
    lo, hi = 0, len(cands) - 1
    while lo < hi:  # mean share falls as the threshold rises: bisect
        mid = (lo + hi) // 2
        share = np.mean([1 - np.searchsorted(p, cands[mid], "left") / len(p) for p in sorted_p])
        if share <= max_share:
            hi = mid
        else:
            lo = mid + 1
    return float(cands[lo])


def pick_threshold(proba: np.ndarray, y: np.ndarray, groups: np.ndarray,
                   settings: "TrainSettings") -> float:
    """The threshold by ``settings.threshold_rule``: ``recall`` (:func:`choose_threshold`, pooled
    out-of-fold recall >= ``target_recall``) or ``budget`` (:func:`budget_threshold`, mean LOOK
    share per dataset <= ``max_look_share``)."""
    if settings.threshold_rule == "recall":
        return choose_threshold(proba, y, settings.target_recall)
    return budget_threshold(proba, groups, settings.max_look_share)


@dataclass
class Pipeline:
    """The fitted scikit-learn pipeline: two TF-IDF vectorisers, a scaler, the regression."""

    word: Any
    char: Any
    scaler: Any
    lr: Any
    passes: list

    def matrix(self, lines: Any) -> sp.csr_matrix:
        raw = as_string_array(lines)
        masked = masked_lines(raw, self.passes).to_pylist()
        return sp.hstack([self.word.transform(masked), self.char.transform(raw.to_pylist()),
                          sp.csr_matrix(self.scaler.transform(handcrafted(raw)))]).tocsr()

    def proba(self, lines: Any) -> np.ndarray:
        """scikit-learn's probability of LOOK for every line."""
        return self.lr.predict_proba(self.matrix(lines))[:, 1]


def fit_pipeline(raw: Sequence[str], y: np.ndarray, passes, params: Mapping[str, Any],
                 settings: TrainSettings) -> Pipeline:
    """Fit the chosen grid point on all labelled lines with scikit-learn's own classes."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import StandardScaler

    raw = list(raw)
    masked = masked_lines(raw, passes).to_pylist()
    word = TfidfVectorizer(analyzer="word", token_pattern=WORD_TOKEN_PATTERN,
                           ngram_range=settings.word_ngram,
                           max_features=int(params["word_max_features"]), dtype=np.float64)
    char = TfidfVectorizer(analyzer="char", ngram_range=settings.char_ngram,
                           max_features=int(params["char_max_features"]), dtype=np.float64)
    xw, xc = word.fit_transform(masked), char.fit_transform(raw)
    scaler = StandardScaler().fit(handcrafted(raw))
    x = sp.hstack([xw, xc, sp.csr_matrix(scaler.transform(handcrafted(raw)))]).tocsr()
    lr = _lr(float(params["C"]), settings).fit(x, np.asarray(y))
    return Pipeline(word, char, scaler, lr, list(passes))
