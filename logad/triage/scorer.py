"""Score lines from the portable JSON model with NumPy (and pyarrow for logad's masking).

The model (written by :mod:`logad.triage.export`) holds the two TF-IDF vocabularies with their
idf weights, the handcrafted features' scaler, the logistic-regression coefficients, the masking
rules and the threshold. The probability of LOOK is

    expit(word · c_w + char · c_c + scaled(handcrafted) · c_h + b)

with ``word`` and ``char`` the L2-normalised TF-IDF rows, exactly as scikit-learn computes them
(same analyzers: lower-casing, ``\\s\\s+`` → space for characters, the token pattern and n-gram
order for words); :func:`logad.triage.export.export_model` refuses to write a model whose
scores differ from the scikit-learn pipeline's by more than 1e-9 on its test lines.

Speed: the word part is computed once per *distinct masked line* (masking makes most lines of a
log equal); the character part of ASCII lines is vectorised: every 3-6-gram of bytes packed into
one uint64 (6 bytes fit exactly, no hashing, no collisions) and looked up in the sorted
vocabulary with :func:`numpy.searchsorted`. Non-ASCII lines take the plain Python path, which is
what scikit-learn does.
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

__all__ = ["FORMAT", "TriageScorer", "word_ngrams", "char_ngrams"]

#: ``format`` field of a triage model file.
FORMAT = "logad-triage/1"

_PY_WS = re.compile(r"\s\s+")  # scikit-learn's own whitespace rule for character n-grams
# the same rule in RE2 for ASCII text (Python's str \s also matches \x1c-\x1f)
_RE2_WS = r"[\t\n\x0b\x0c\r \x1c-\x1f]{2,}"
_CHUNK = 8192


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


def _char_key(term: str) -> int | None:
    b = term.encode("utf-8")
    if not term.isascii() or not 1 <= len(b) <= 7:
        return None
    return int.from_bytes(b, "big") | (len(b) << 56)


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
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{source}: incomplete triage model ({type(exc).__name__}: {exc})") from None
        self.doc = doc
        keys = [_char_key(t) for t in self.char.terms]
        ok = np.array([k is not None for k in keys], bool)
        k = np.array([kk for kk in keys if kk is not None], np.uint64)
        order = np.argsort(k, kind="stable")
        self._ckeys, self._cterm = k[order], np.flatnonzero(ok)[order]
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
        if (~ascii_mask).any():
            blk = self.char
            for i in np.flatnonzero(~ascii_mask):
                out[i] = blk.score_grams(char_ngrams(raw[int(i)].as_py(), blk.lo, blk.hi))[0]
        rows = np.flatnonzero(ascii_mask)
        if len(rows) and len(self._ckeys):
            text = pc.replace_substring_regex(pc.ascii_lower(raw.take(pa.array(rows))), _RE2_WS, " ")
            out[rows] = self._char_ascii(text)
        return out

    def _char_ascii(self, text: pa.Array) -> np.ndarray:
        m = len(text)
        offs = np.frombuffer(text.buffers()[1], np.int32)[text.offset:text.offset + m + 1]
        data_buf = text.buffers()[2]
        start, end = int(offs[0]), int(offs[-1])
        if data_buf is None or end == start:
            return np.zeros(m, np.float64)
        data = np.frombuffer(data_buf, np.uint8)[start:end].astype(np.uint64)
        offs = (offs - start).astype(np.int64)
        size = len(data)
        line_of = np.repeat(np.arange(m), np.diff(offs))
        end_of = offs[1:][line_of]
        pos = np.arange(size)
        blk = self.char
        key = np.zeros(size, np.uint64)
        lines, terms = [], []
        for k in range(blk.hi):
            shifted = np.zeros(size, np.uint64)
            shifted[:size - k] = data[k:]
            key = (key << np.uint64(8)) | shifted
            n = k + 1
            if n < blk.lo:
                continue
            valid = pos + n <= end_of
            kn = key[valid] | np.uint64(n << 56)
            j = np.minimum(np.searchsorted(self._ckeys, kn), len(self._ckeys) - 1)
            hit = self._ckeys[j] == kn
            lines.append(line_of[valid][hit])
            terms.append(self._cterm[j[hit]])
        li, te = np.concatenate(lines), np.concatenate(terms)
        v = len(blk.terms)
        uniq, counts = np.unique(li * v + te, return_counts=True)
        li, te = uniq // v, uniq % v
        w = counts * blk.idf[te]
        norm = np.sqrt(np.bincount(li, w * w, minlength=m))
        dot = np.bincount(li, w * blk.coef[te], minlength=m)
        return np.divide(dot, norm, out=np.zeros(m), where=norm > 0)

    def _hc_scaled(self, raw: pa.Array) -> np.ndarray:
        return (handcrafted(raw) - self.hc_mean) / self.hc_scale

    # -- public --------------------------------------------------------------------------------
    def decision(self, lines: Any) -> np.ndarray:
        """Log-odds of LOOK for every line (float64)."""
        raw = as_string_array(lines)
        out = np.empty(len(raw), np.float64)
        for s in range(0, len(raw), _CHUNK):
            part = raw.slice(s, _CHUNK)
            word, _, _ = self._word_part(masked_lines(part, self.passes))
            out[s:s + len(part)] = (word + self._char_part(part)
                                    + self._hc_scaled(part) @ self.hc_coef + self.intercept)
        return out

    def proba(self, lines: Any) -> np.ndarray:
        """Probability of LOOK for every line (float64 in [0, 1])."""
        d = self.decision(lines)
        return 1.0 / (1.0 + np.exp(-d))

    def reasons(self, lines: Any, top: int = 3) -> list[str]:
        """Why each line scores as it does: its ``top`` largest positive contributions.

        The handcrafted features by name, the word n-grams of its masked line by text, the
        character n-grams as one sum (``chars``), e.g. ``word "authentication failure" +1.31;
        has_negative +0.62; chars +0.40``.
        """
        raw = as_string_array(lines)
        if len(raw) == 0:
            return []
        masked = masked_lines(raw, self.passes)
        _, idx, per = self._word_part(masked)
        idx = idx.to_numpy(zero_copy_only=False)
        char = self._char_part(raw)
        hc = self._hc_scaled(raw) * self.hc_coef
        blk = self.word
        out = []
        for i in range(len(raw)):
            dot, counts = per[idx[i]]
            items = [(float(hc[i, k]), name) for k, name in enumerate(HANDCRAFTED)]
            items.append((float(char[i]), "chars"))
            if counts:
                js = np.fromiter(counts, np.int64, len(counts))
                w = np.fromiter(counts.values(), np.float64, len(counts)) * blk.idf[js]
                contrib = w / math.sqrt(float(w @ w)) * blk.coef[js]
                items += [(float(c), f'word "{blk.terms[j]}"') for j, c in zip(js, contrib)]
            items.sort(key=lambda t: (-t[0], t[1]))
            best = [f"{name} {val:+.2f}" for val, name in items[:top] if val > 0]
            out.append("; ".join(best) if best else "no positive evidence")
        return out
