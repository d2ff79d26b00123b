"""Score lines from the portable JSON model with NumPy (and pyarrow for logad's masking).

The model (written by :mod:`logad.triage.export`) holds the two TF-IDF vocabularies with their
idf weights, the handcrafted features' scaler, the logistic-regression coefficients, the masking
rules and the threshold. The probability of LOOK is

    expit(word · c_w + char · c_c + scaled(handcrafted) · c_h + b)

with ``word`` and ``char`` the L2-normalised TF-IDF rows, exactly as scikit-learn computes them
(same analyzers: lower-casing, ``\\s\\s+`` → space for characters, the token pattern and n-gram
order for words); :func:`logad.triage.export.export_model` refuses to write a model whose
scores differ from the scikit-learn pipeline's by more than 1e-9 on its test lines.

Speed: a batch is scored per *distinct raw line* (:meth:`TriageScorer.score`), and the word part
once per *distinct masked line* (masking makes most lines of a log equal; cached across batches);
the character part of ASCII lines is vectorised over the batch's bytes with a hash table of the
vocabulary (:mod:`logad.triage.ngrams`). Non-ASCII lines take the plain Python path, which is
what scikit-learn does. :meth:`TriageScorer.reasons_of` explains lines of a scored batch without
scoring them again.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logad.errors import ModelError
from logad.parsing.masking import MaskRule, compile_passes
from logad.triage.features import HANDCRAFTED, as_string_array, handcrafted, masked_lines
from logad.triage.ngrams import CharNgramTable

__all__ = ["FORMAT", "Scores", "TriageScorer", "word_ngrams", "char_ngrams"]

#: ``format`` field of a triage model file.
FORMAT = "logad-triage/1"

_PY_WS = re.compile(r"\s\s+")  # scikit-learn's own whitespace rule for character n-grams
_CHUNK = 2048  # lines scored together: larger batches ran slower here (the arrays leave the caches)
_NAMES = tuple(sorted(HANDCRAFTED + ("chars",)))
_BY_NAME = np.array([(HANDCRAFTED + ("chars",)).index(n) for n in _NAMES])


def _by_value(item: tuple[float, str]) -> tuple[float, str]:
    return -item[0], item[1]


def word_ngrams(text: str, token_rx: re.Pattern, lo: int, hi: int) -> list[str]:
    """scikit-learn's word analyzer: lower-case, tokens, then ``lo``..``hi``-grams."""
    tokens = token_rx.findall(text.lower())
    out = list(tokens) if lo == 1 else []
    for n in range(max(lo, 2), min(hi, len(tokens)) + 1):
        out += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return out


def char_ngrams(text: str, lo: int, hi: int) -> list[str]:
    """scikit-learn's ``analyzer="char"``: lower-case, whitespace runs to one space, n-grams."""
    text = _PY_WS.sub(" ", text.lower())
    return [text[i:i + n] for n in range(lo, min(hi, len(text)) + 1)
            for i in range(len(text) - n + 1)]


@dataclass
class Scores:
    """The parts of a batch's scores, one row a line (what :meth:`TriageScorer.reasons_of` reads).

    ``decision``: log-odds of LOOK; ``char``: the character TF-IDF part; ``hc``: the scaled
    handcrafted features, shape ``(n, 17)``; ``word_of``: index into ``words``, the
    ``(dot, term counts)`` of each distinct masked line.
    """

    decision: np.ndarray
    char: np.ndarray
    hc: np.ndarray
    word_of: np.ndarray
    words: list

    @property
    def proba(self) -> np.ndarray:
        """Probability of LOOK of every line."""
        return 1.0 / (1.0 + np.exp(-self.decision))


@dataclass
class _Block:
    terms: list[str]
    index: dict[str, int]
    idf: np.ndarray
    coef: np.ndarray
    lo: int
    hi: int

    @classmethod
    def from_json(cls, doc: dict, coef: Sequence[float], where: str) -> "_Block":
        terms = list(doc["terms"])
        idf, c = np.asarray(doc["idf"], np.float64), np.asarray(coef, np.float64)
        if not (len(terms) == len(idf) == len(c)):
            raise ModelError(f"{where}: {len(terms)} terms, {len(idf)} idf weights and "
                             f"{len(c)} coefficients; the file is damaged")
        lo, hi = (int(x) for x in doc["ngram_range"])
        return cls(terms, {t: i for i, t in enumerate(terms)}, idf, c, lo, hi)

    def score_grams(self, grams: list[str]) -> tuple[float, dict[int, int]]:
        """(dot with the coefficients of the normalised row, term counts) of one line."""
        counts: dict[int, int] = {}
        for g in grams:
            j = self.index.get(g)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            return 0.0, counts
        js = np.fromiter(counts, np.int64, len(counts))
        w = np.fromiter(counts.values(), np.float64, len(counts)) * self.idf[js]
        return float(w @ self.coef[js]) / math.sqrt(float(w @ w)), counts


class TriageScorer:
    """The triage model loaded from its JSON file; :meth:`proba` scores lines.

    Parameters
    ----------
    doc : dict
        The parsed model file (see :mod:`logad.triage.export`).
    source : str
        Where it came from, for error messages.
    """

    def __init__(self, doc: dict, source: str = "model") -> None:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ModelError(f"{source}: not a logad triage model (format {FORMAT!r} expected, "
                             f"got {doc.get('format') if isinstance(doc, dict) else type(doc).__name__!r})")
        try:
            self.passes = compile_passes([MaskRule(r["name"], r["pattern"], r["replace"])
                                          for r in doc["masking_rules"]])
            coef = doc["coef"]
            self.word = _Block.from_json(doc["word"], coef["word"], source)
            self.char = _Block.from_json(doc["char"], coef["char"], source)
            self.token_rx = re.compile(doc["word"]["token_pattern"])
            hc = doc["handcrafted"]
            if list(hc["names"]) != list(HANDCRAFTED):
                raise ModelError(f"{source}: handcrafted features {hc['names']} differ from this "
                                 f"logad's {list(HANDCRAFTED)}; retrain the model")
            self.hc_mean = np.asarray(hc["mean"], np.float64)
            self.hc_scale = np.asarray(hc["scale"], np.float64)
            self.hc_coef = np.asarray(coef["handcrafted"], np.float64)
            self.intercept = float(doc["intercept"])
            self.threshold = float(doc["threshold"])
            self._char_table = CharNgramTable(self.char.terms, self.char.idf, self.char.coef,
                                              self.char.lo, self.char.hi)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{source}: incomplete triage model ({type(exc).__name__}: {exc})") from None
        self.doc = doc
        self._word_cache: dict[str, tuple[float, dict[int, int]]] = {}

    @classmethod
    def load(cls, path: str | Path) -> "TriageScorer":
        """Read a model file, or ``model.json`` in a model folder."""
        p = Path(path)
        if p.is_dir():
            p = p / "model.json"
        if not p.is_file():
            raise ModelError(f"{p}: no triage model here (train one with `logad triage train`)")
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ModelError(f"{p}: not valid JSON ({exc})") from None
        return cls(doc, str(p))

    # -- the three parts ----------------------------------------------------------------------
    def _word_part(self, masked: pa.Array) -> tuple[np.ndarray, pa.Array, list]:
        enc = pc.dictionary_encode(masked)
        texts = enc.dictionary.to_pylist()
        cache, blk = self._word_cache, self.word
        if len(cache) > 200_000:
            cache.clear()
        per = []
        for t in texts:
            hit = cache.get(t)
            if hit is None:
                hit = cache[t] = blk.score_grams(word_ngrams(t, self.token_rx, blk.lo, blk.hi))
            per.append(hit)
        dots = np.array([p[0] for p in per], np.float64)
        idx = enc.indices.to_numpy(zero_copy_only=False)
        return dots[idx], enc.indices, per

    def _char_part(self, raw: pa.Array) -> np.ndarray:
        out = np.zeros(len(raw), np.float64)
        ascii_mask = pc.fill_null(pc.string_is_ascii(raw), True).to_numpy(zero_copy_only=False)
        if not ascii_mask.all():
            blk = self.char
            for i in np.flatnonzero(~ascii_mask):
                out[i] = blk.score_grams(char_ngrams(raw[int(i)].as_py(), blk.lo, blk.hi))[0]
            rows = np.flatnonzero(ascii_mask)
            out[rows] = self._char_table.score(raw.take(pa.array(rows)))
        else:
            out[:] = self._char_table.score(raw)
        return out

    def _hc_scaled(self, raw: pa.Array) -> np.ndarray:
        return (handcrafted(raw) - self.hc_mean) / self.hc_scale

    # -- public --------------------------------------------------------------------------------
    def score(self, lines: Any) -> Scores:
        """The parts of every line's score (:class:`Scores`), each distinct line scored once."""
        raw = as_string_array(lines)
        n = len(raw)
        out = Scores(np.empty(n), np.empty(n), np.empty((n, len(HANDCRAFTED))),
                     np.empty(n, np.int64), [])
        for s in range(0, n, _CHUNK):
            part = raw.slice(s, _CHUNK)
            enc = pc.dictionary_encode(part)  # raw lines repeat: score each once
            uniq, idx = enc.dictionary, enc.indices.to_numpy(zero_copy_only=False)
            word, widx, per = self._word_part(masked_lines(uniq, self.passes))
            char, hc = self._char_part(uniq), self._hc_scaled(uniq)
            dec = word + char + hc @ self.hc_coef + self.intercept
            rows = slice(s, s + len(part))
            out.decision[rows], out.char[rows], out.hc[rows] = dec[idx], char[idx], hc[idx]
            out.word_of[rows] = widx.to_numpy(zero_copy_only=False)[idx] + len(out.words)
            out.words += per
        return out

    def decision(self, lines: Any) -> np.ndarray:
        """Log-odds of LOOK for every line (float64)."""
        return self.score(lines).decision

    def proba(self, lines: Any) -> np.ndarray:
        """Probability of LOOK for every line (float64 in [0, 1])."""
        return self.score(lines).proba

    def reasons(self, lines: Any, top: int = 3) -> list[str]:
        """Why each line scores as it does: its ``top`` largest positive contributions.

        The handcrafted features by name, the word n-grams of its masked line by text, the
        character n-grams as one sum (``chars``), e.g. ``word "authentication failure" +1.31;
        has_negative +0.62; chars +0.40``.
        """
        scores = self.score(lines)
        return self.reasons_of(scores, np.arange(len(scores.decision)), top)

    def reasons_of(self, scores: Scores, rows: np.ndarray, top: int = 3) -> list[str]:
        """:meth:`reasons` of the lines ``rows`` of an already scored batch."""
        rows = np.asarray(rows, np.int64)
        if not len(rows):
            return []
        # the handcrafted features and "chars", columns in name order: ties go to the first name
        vals = np.column_stack([scores.hc[rows] * self.hc_coef, scores.char[rows]])[:, _BY_NAME]
        best = np.argsort(-vals, axis=1, kind="stable")[:, :top]
        top_vals = np.take_along_axis(vals, best, axis=1).tolist()
        words: dict[int, list[tuple[float, str]]] = {}
        out = []
        for vs, ks, j in zip(top_vals, best.tolist(), scores.word_of[rows].tolist()):
            wt = words.get(j)
            if wt is None:
                wt = words[j] = self._top_words(scores.words[j][1], top)
            items = [(v, _NAMES[k]) for v, k in zip(vs, ks)] + wt
            items.sort(key=_by_value)
            good = [f"{name} {val:+.2f}" for val, name in items[:top] if val > 0]
            out.append("; ".join(good) if good else "no positive evidence")
        return out

    def _top_words(self, counts: dict[int, int], top: int) -> list[tuple[float, str]]:
        """The ``top`` largest contributions of a masked line's word n-grams, by (-value, text)."""
        if not counts:
            return []
        blk = self.word
        js = np.fromiter(counts, np.int64, len(counts))
        w = np.fromiter(counts.values(), np.float64, len(counts)) * blk.idf[js]
        contrib = w / math.sqrt(float(w @ w)) * blk.coef[js]
        items = [(float(c), f'word "{blk.terms[j]}"') for j, c in zip(js, contrib)]
        items.sort(key=_by_value)
        return items[:top]
