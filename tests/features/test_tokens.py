"""Tokenizers and the packed character-trigram fast path."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from logad.features.tokens import (char_trigram_codes, char_trigrams, decode_trigram_codes, encode_trigrams,
                                   word_trigrams, words)

TEXTS = ["Receiving block blk_-1 src: /10.0.0.1:5", None, "", "ab", "abc", "ÄÖü ñé 😀 ok", "x\ty  z\n",
         "Kernel PANIC at 0xff"]


def test_words_and_word_trigrams():
    assert words("a  b\tc ") == ["a", "b", "c"]
    assert words("A b", lowercase=True) == ["a", "b"]
    assert word_trigrams("a b") == [] and word_trigrams("a b c d") == ["a b c", "b c d"]


@pytest.mark.parametrize("lowercase", [False, True])
def test_packed_trigrams_equal_the_plain_tokenizer(lowercase):
    codes, owner = char_trigram_codes(TEXTS, lowercase)
    got = decode_trigram_codes(codes)
    for j, text in enumerate(TEXTS):
        mine = Counter(g for g, o in zip(got, owner.tolist()) if o == j)
        assert mine == Counter(char_trigrams(text, lowercase))
    assert np.array_equal(encode_trigrams(got), codes)


def test_encode_rejects_non_trigrams():
    with pytest.raises(ValueError, match="trigram"):
        encode_trigrams(["abcd"])
