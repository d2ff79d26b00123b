"""The vectorised character n-gram TF-IDF equals the plain per-line computation."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from logad.triage.ngrams import CharNgramTable
from logad.triage.scorer import _Block, char_ngrams
from tests.conftest import require_shared

ODD = ["", " ", "a", "ab", "abc", "  ab  ", "tab\there  and   runs\x1c\x1dof space\x0b\x0b.",
       "ERROR ERROR ERROR !!! ***", "x" * 3000, "\x00\x00abc\x00", "AbC aBc ABC abc", "\t", "a\tb",
       "end  ", "\x7f\x7f\x7f~~~", "e" * 7]


def _lines() -> list[str]:
    lines = list(ODD)
    for f in sorted(require_shared("loghub_2k").glob("*/*_2k.log"))[:6]:
        lines += [ln for ln in f.read_text(encoding="utf-8").split("\n")[:300] if ln.isascii()]
    return lines


@pytest.mark.parametrize("lo, hi", [(3, 6), (1, 2), (2, 4)])
def test_table_matches_plain_python(lo, hi):
    lines = _lines()
    rng = np.random.default_rng(0)
    terms = sorted({g for ln in lines[::3] for g in char_ngrams(ln, lo, hi)})
    terms = [terms[i] for i in rng.permutation(len(terms))[:3000]] + ["héllo"[:hi]]  # one non-ASCII term
    idf, coef = rng.uniform(1, 5, len(terms)), rng.normal(size=len(terms))
    blk = _Block(terms, {t: i for i, t in enumerate(terms)}, idf, coef, lo, hi)
    want = np.array([blk.score_grams(char_ngrams(ln, lo, hi))[0] for ln in lines])
    got = CharNgramTable(terms, idf, coef, lo, hi).score(pa.array(lines, pa.string()))
    assert np.max(np.abs(got - want)) <= 1e-12
    assert (want != 0).mean() > 0.5  # most lines hold some of the terms
    # a slice of a bigger array (an offset into the buffers) scores the same
    sliced = pa.array(["zzz"] + lines, pa.string()).slice(1)
    assert np.array_equal(CharNgramTable(terms, idf, coef, lo, hi).score(sliced), got)


def test_empty_inputs_and_vocabulary():
    t = CharNgramTable(["abc"], np.ones(1), np.ones(1), 3, 6)
    assert t.score(pa.array([], pa.string())).shape == (0,)
    assert t.score(pa.array(["", ""], pa.string())).tolist() == [0.0, 0.0]
    assert CharNgramTable([], np.ones(0), np.ones(0), 3, 6).score(pa.array(["abc"])).tolist() == [0.0]
    with pytest.raises(ValueError, match="at most 6"):
        CharNgramTable(["abc"], np.ones(1), np.ones(1), 3, 7)
