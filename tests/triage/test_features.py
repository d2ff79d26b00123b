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
