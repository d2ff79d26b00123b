"""Handcrafted features and the masked text of the word TF-IDF."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from logad.config import load_yaml
from logad.triage import features as F


def _f(line: str) -> dict:
    return dict(zip(F.HANDCRAFTED, F.handcrafted([line])[0]))


def test_seventeen_features_in_order():
    assert len(F.HANDCRAFTED) == 17 and len(set(F.HANDCRAFTED)) == 17
    assert F.handcrafted(["a", "b c"]).shape == (2, 17)
    assert F.handcrafted([]).shape == (0, 17)


@pytest.mark.parametrize("line, name, value", [
    ("2015 ERROR disk full", "has_level", 1.0),
    ("all is fine", "has_level", 0.0),
    ("Traceback (most recent call last):", "has_stack", 1.0),
    ("\tat com.foo.Bar.run(Bar.java:12)", "has_stack", 1.0),
    ("Caused by: java.io.IOException", "has_stack", 1.0),
    ("connection refused by peer", "has_negative", 1.0),
    ("opened /var/log/messages", "has_path", 1.0),
    ("opened file", "has_path", 0.0),
    ("!!! boom ???", "has_repeated_punct", 1.0),
])
def test_flags(line, name, value):
    assert _f(line)[name] == value


def test_counts_and_ratios():
    f = _f("unable to connect: timeout, denied")
    assert f["n_negative"] == pytest.approx(np.log1p(3))
    assert _f("ABCD")["uppercase_ratio"] == 1.0
    assert _f("a1b2")["digit_ratio"] == 0.5
    assert _f("x x x y")["unique_ratio"] == 0.5
    assert _f("   indented")["leading_ws"] == pytest.approx(np.log1p(3))
    assert _f("user=root pid=12 uid=0")["n_kv"] == pytest.approx(np.log1p(3))
    assert _f("0xdeadbeef and 12ab34cd")["n_hex"] == pytest.approx(np.log1p(2))
    assert _f("FATAL KERNEL panic")["n_allcaps"] == pytest.approx(np.log1p(2))
    assert _f("abc")["length"] == pytest.approx(np.log1p(3))
    assert _f("a b c")["word_count"] == pytest.approx(np.log1p(3))


def test_masked_text_uses_logads_rules():
    passes = F.mask_passes(load_yaml("masking"))
    out = F.masked_lines(["Received block blk_-123 of size 67108864 from /10.0.0.1"], passes)
    assert out.to_pylist() == ["Received block <*> of size <*> from <*>"]


def test_docstring_examples():
    assert doctest.testmod(F).failed == 0


def _reference(lines: list[str]) -> np.ndarray:
    """The features by their definitions: one RE2 count per feature, words split in Python."""
    import pyarrow as pa
    import pyarrow.compute as pc

    v = pa.array(lines, pa.string())

    def count(p):
        return pc.count_substring_regex(v, p).to_numpy(zero_copy_only=False).astype(float)

    length = pc.utf8_length(v).to_numpy(zero_copy_only=False).astype(float)
    lead = length - pc.utf8_length(pc.utf8_ltrim_whitespace(v)).to_numpy(zero_copy_only=False)
    words = [[w for w in ws if w] for ws in pc.split_pattern_regex(v, r"\s+").to_pylist()]
    neg = count(F._NEGATIVE)
    cols = {"has_level": count(F._LEVEL) > 0, "has_stack": count(F._STACK) > 0,
            "has_negative": neg > 0, "n_negative": np.log1p(neg), "has_path": count(F._PATH) > 0,
            "n_hex": np.log1p(count(F._HEX)), "has_repeated_punct": count(F._REPEATED_PUNCT) > 0,
            "n_kv": np.log1p(count(F._KV)), "uppercase_ratio": count(r"[A-Z]") / np.maximum(length, 1),
            "digit_ratio": count(r"[0-9]") / np.maximum(length, 1),
            "struct_punct": np.log1p(count(r"[\[\]{}()<>\"'=:;,|]")), "word_count": np.log1p(count(r"\S+")),
            "n_allcaps": np.log1p(count(F._ALLCAPS)),
            "unique_ratio": [len(set(w)) / len(w) if w else 0.0 for w in words],
            "leading_ws": np.log1p(lead), "n_emphasis": np.log1p(count(F._EMPHASIS)),
            "length": np.log1p(length)}
    return np.column_stack([np.asarray(cols[k], np.float64) for k in F.HANDCRAFTED])


ODD = ["", " ", "\t\t", "a", "  lead  and  trail  ", "x\x0by \x1c z\fw\rq", "dup dup dup", "ÄÖÜ über über Fehler",
       "日本語 日本語 エラー", "\u3000wide space", "{[(<>)]} \"q\" 'q' = : ; , |", "A1 b2 C3 _ \x00 nul",
       "tab\tsep\tsep\t", "é" * 50 + " " + "é" * 50]


def test_byte_level_features_equal_their_definitions():
    """The byte-level counts and word sets give exactly what the regexes and Python's set give,
    on every line of the loghub 2k samples and on odd ones."""
    from tests.conftest import require_shared

    lines = list(ODD)
    for f in sorted(require_shared("loghub_2k").glob("*/*_2k.log")):
        lines += f.read_text(encoding="utf-8", errors="replace").split("\n")
    got, want = F.handcrafted(lines), _reference(lines)
    assert got.shape == want.shape == (len(lines), 17)
    bad = np.argwhere(got != want)
    assert not len(bad), [(lines[i], F.HANDCRAFTED[k], got[i, k], want[i, k]) for i, k in bad[:5]]
