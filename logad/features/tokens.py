"""Tokenizers for the bag-of-words features (LogLead's ``e_words`` / ``e_trigrams`` idea).

* words: the message split on runs of whitespace (LogLead splits on single spaces, which also
  yields empty tokens for double spaces; we drop those).
* char trigrams: every 3-character substring of the message, overlapping (LogLead's
  ``e_trigrams`` holds the same multiset, built from three offsets).
* word trigrams: every run of 3 consecutive words, joined by one space.

Messages shorter than a trigram give no trigram. ``None`` gives no token.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["words", "char_trigrams", "word_trigrams", "TOKENIZERS", "char_trigram_codes",
           "decode_trigram_codes", "encode_trigrams"]


def words(text: str | None, lowercase: bool = False) -> list[str]:
    """Whitespace-separated tokens.

    >>> words("Receiving block  blk_1 src: /10.0.0.1")
    ['Receiving', 'block', 'blk_1', 'src:', '/10.0.0.1']
    """
    if not text:
        return []
    return (text.lower() if lowercase else text).split()


def char_trigrams(text: str | None, lowercase: bool = False) -> list[str]:
    """Overlapping character trigrams.

    >>> char_trigrams("abcd")
    ['abc', 'bcd']
    """
    if not text:
        return []
    t = text.lower() if lowercase else text
    return [t[i:i + 3] for i in range(len(t) - 2)]


def word_trigrams(text: str | None, lowercase: bool = False) -> list[str]:
    """Overlapping triples of words.

    >>> word_trigrams("a b c d")
    ['a b c', 'b c d']
    """
    w = words(text, lowercase)
    return [" ".join(w[i:i + 3]) for i in range(len(w) - 2)]


TOKENIZERS: dict[str, Callable[[str | None, bool], list[str]]] = {
    "words": words, "char": char_trigrams, "word": word_trigrams}


# --- character trigrams as integer codes (fast path for large tables) -----------------------------
# A code point fits in 21 bits, so a trigram packs into one uint64: (c0 << 42) | (c1 << 21) | c2.
_CP_BITS = 21
_CP_MASK = (1 << _CP_BITS) - 1


def char_trigram_codes(texts: Sequence[str | None], lowercase: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """All overlapping character trigrams of ``texts`` as packed uint64 codes.

    Returns ``(codes, owner)``: ``owner[i]`` is the index of the text holding trigram ``i``; the
    multiset of ``decode_trigram_codes(codes[owner == j])`` equals ``char_trigrams(texts[j])``.

    >>> codes, owner = char_trigram_codes(["abcd", None, "xy", "xyz"])
    >>> decode_trigram_codes(codes), owner.tolist()
    (['abc', 'bcd', 'xyz'], [0, 0, 3])
    """
    clean = [(t.lower() if lowercase else t) if t else "" for t in texts]
    lens = np.fromiter((len(t) for t in clean), dtype=np.int64, count=len(clean))
    cps = np.frombuffer("".join(clean).encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)
    if len(cps) < 3:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    owner_cp = np.repeat(np.arange(len(clean), dtype=np.int64), lens)
    valid = owner_cp[:-2] == owner_cp[2:]
    c = cps.astype(np.uint64)
    codes = (c[:-2] << np.uint64(2 * _CP_BITS)) | (c[1:-1] << np.uint64(_CP_BITS)) | c[2:]
    return codes[valid], owner_cp[:-2][valid]


def decode_trigram_codes(codes: np.ndarray) -> list[str]:
    """Strings of packed trigram codes."""
    out = []
    for v in np.asarray(codes, dtype=np.uint64).tolist():
        out.append(chr(v >> 2 * _CP_BITS) + chr((v >> _CP_BITS) & _CP_MASK) + chr(v & _CP_MASK))
    return out


def encode_trigrams(tokens: Sequence[str]) -> np.ndarray:
    """Packed codes of 3-character strings (inverse of :func:`decode_trigram_codes`)."""
    out = np.zeros(len(tokens), dtype=np.uint64)
    for i, t in enumerate(tokens):
        if len(t) != 3:
            raise ValueError(f"not a character trigram: {t!r}")
        out[i] = (ord(t[0]) << 2 * _CP_BITS) | (ord(t[1]) << _CP_BITS) | ord(t[2])
    return out
