"""Character n-gram TF-IDF of many ASCII lines at once, in NumPy: packed keys and hash tables.

scikit-learn's ``analyzer="char"`` lower-cases a line, turns every run of two or more whitespace
characters into one space and takes every ``lo``..``hi``-gram. For ASCII lines this module does
the same over the bytes of a whole batch: each byte is mapped through a table (lower case, plus
one, so that 0 is free to mean "no character"), runs of whitespace are squeezed, the lines are
laid end to end with one 0 byte between them, and the 8 bytes from every position are read as
one big-endian integer whose top ``n`` bytes are the key of the ``n``-gram starting there. An
n-gram that runs past its line, or starts on the 0 byte, holds a 0 byte and so is no term's key
(every byte of a term's key is 1 or more). Each length has its own open-addressing hash table
built once from the vocabulary (linear probing, vectorised over the batch in a few rounds). The
hits become 32-bit (line, term) pairs; one sort makes equal pairs runs, whose lengths are the
counts scikit-learn's ``CountVectorizer`` gives, and the idf-weighted, L2-normalised row times
the coefficients is summed per line with :func:`numpy.bincount`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa

__all__ = ["CharNgramTable", "WHITESPACE"]

#: Python's ``\s`` on ASCII text (scikit-learn's ``\s\s+`` rule), as byte values.
WHITESPACE = bytes([9, 10, 11, 12, 13, 28, 29, 30, 31, 32])

_MULT = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing
_KEY = np.uint64(2**48 - 1)  # a key: at most 6 bytes
_EMPTY = np.uint64(2**64 - 1)  # a free slot: no key has a bit above the 48th
_LOWER1 = np.array([((b + 32 if 65 <= b <= 90 else b) + 1) % 256 for b in range(256)], np.uint8)
_IS_WS = np.zeros(256, bool)
_IS_WS[list(WHITESPACE)] = True
_SPACE1 = np.uint8(ord(" ") + 1)


def _pack(term: str) -> int | None:
    """The key of an ASCII term: its bytes plus one, big-endian."""
    if not term.isascii():
        return None
    key = 0
    for b in term.encode("ascii"):
        key = (key << 8) | (b + 1)
    return key


class _Table:
    """Open addressing with linear probing over the keys of one n-gram length.

    A slot holds a key (at most 6 bytes) with its term index in the top 16 bits, so one read
    gives both; :data:`_EMPTY` marks a free slot.
    """

    def __init__(self, keys: np.ndarray, term: np.ndarray) -> None:
        bits = max(8, int(np.ceil(np.log2(max(1, 8 * len(keys))))))
        self.shift, self.mask = np.uint64(64 - bits), np.uint64((1 << bits) - 1)
        self.slots = np.full(1 << bits, _EMPTY, np.uint64)
        home = self._home(keys)
        entry = keys | (term << np.uint64(48))
        pending, d = np.arange(len(keys)), 0
        while len(pending):
            s = (home[pending] + np.uint64(d)) & self.mask
            free = np.flatnonzero(self.slots[s] == _EMPTY)
            _, first = np.unique(s[free], return_index=True)  # one key per free slot this round
            won = free[first]
            self.slots[s[won]] = entry[pending[won]]
            pending = np.delete(pending, won)
            d += 1
        self.rounds = d  # the longest probe of a stored key

    def _home(self, keys: np.ndarray) -> np.ndarray:
        return (keys * _MULT) >> self.shift

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in ``keys`` that are terms, their term indices as uint32)."""
        slot = self._home(keys)
        found = self.slots[slot]
        hit = (found & _KEY) == keys
        pos = [np.flatnonzero(hit)]
        entries = [found[hit]]
        todo = np.flatnonzero(~hit & (found != _EMPTY))
        for d in range(1, self.rounds):
            if not len(todo):
                break
            found = self.slots[(slot[todo] + np.uint64(d)) & self.mask]
            hit = (found & _KEY) == keys[todo]
            pos.append(todo[hit])
            entries.append(found[hit])
            todo = todo[~hit & (found != _EMPTY)]
        return np.concatenate(pos), (np.concatenate(entries) >> np.uint64(48)).astype(np.uint32)


class CharNgramTable:
    """The character vocabulary as hash tables; :meth:`score` gives every line's TF-IDF dot.

    Parameters
    ----------
    terms : sequence of str
        The vocabulary in column order.
    idf, coef : array of float64
        idf weight and regression coefficient of each term.
    lo, hi : int
        The n-gram range (``hi`` at most 6: a table slot holds a 6-byte key and a 16-bit term).
    """

    def __init__(self, terms: Sequence[str], idf: np.ndarray, coef: np.ndarray, lo: int, hi: int) -> None:
        if not 1 <= lo <= hi <= 6:
            raise ValueError(f"character n-grams of {lo}..{hi}: at most 6 characters")
        self.lo, self.hi = lo, hi
        self.idf, self.coef = np.asarray(idf, np.float64), np.asarray(coef, np.float64)
        by_n: dict[int, list[tuple[int, int]]] = {n: [] for n in range(lo, hi + 1)}
        for j, t in enumerate(terms):
            k = _pack(t)
            if k is not None and len(t) in by_n:
                by_n[len(t)].append((k, j))
        self._tables = {n: _Table(np.array([k for k, _ in kj], np.uint64),
                                  np.array([j for _, j in kj], np.uint64))
                        for n, kj in by_n.items() if kj}
        if len(terms) > 1 << 16:
            raise ValueError(f"{len(terms)} character terms: at most {1 << 16}")
        # a chunk's (line, term) pairs fit 32 bits
        self._term_bits = max(1, (len(terms) - 1).bit_length())
        self._chunk = 1 << min(16, 32 - self._term_bits)

    def squeeze(self, text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(bytes plus one, lower-cased, whitespace runs as one space; line offsets) of ASCII lines."""
        m = len(text)
        offs = np.frombuffer(text.buffers()[1], np.int32)[text.offset:text.offset + m + 1].astype(np.int64)
        buf = text.buffers()[2]
        if buf is None or offs[-1] == offs[0]:
            return np.zeros(0, np.uint8), np.zeros(m + 1, np.int64)
        raw = np.frombuffer(buf, np.uint8)[offs[0]:offs[-1]]
        offs = offs - offs[0]
        data = _LOWER1[raw]
        ws = _IS_WS[raw]
        # a whitespace byte after one of the same line goes; the first of such a run is a space
        prev = np.zeros(len(ws), bool)
        prev[1:] = ws[:-1]
        prev[offs[:-1][np.diff(offs) > 0]] = False
        drop = ws & prev
        if not drop.any():
            return data, offs
        first = np.zeros(len(ws), bool)
        first[:-1] = drop[1:]
        data[first] = _SPACE1
        keep = ~drop
        kept = np.concatenate(([0], np.cumsum(keep)))
        return data[keep], kept[offs]

    def score(self, text: pa.Array) -> np.ndarray:
        """``tfidf_row · coef`` of every line of ``text`` (ASCII lines; float64 of ``len(text)``)."""
        m = len(text)
        if m <= self._chunk:
            return self._score(text)
        return np.concatenate([self._score(text.slice(s, self._chunk)) for s in range(0, m, self._chunk)])

    def _score(self, text: pa.Array) -> np.ndarray:
        m = len(text)
        data, offs = self.squeeze(text)
        size = len(data)
        if size == 0 or not self._tables:
            return np.zeros(m, np.float64)
        lens = np.diff(offs)
        tb = self._term_bits
        # position -> its line, in the top bits of a (line, term) pair
        line_of_pos = np.repeat(np.arange(m, dtype=np.uint32) << np.uint32(tb), lens + 1)
        padded = np.zeros(size + m + 8, np.uint8)
        padded[np.arange(size) + np.repeat(np.arange(m), lens)] = data
        word = np.ndarray((size + m,), ">u8", padded, 0, (1,)).astype(np.uint64)
        found = []
        for n, table in self._tables.items():
            pos, term = table.find(word >> np.uint64(64 - 8 * n))
            found.append(line_of_pos[pos] | term)
        # (line, term) of every hit, sorted: equal pairs are runs, their lengths the counts
        pairs = np.sort(np.concatenate(found))
        if not len(pairs):
            return np.zeros(m, np.float64)
        start = np.flatnonzero(np.concatenate(([True], pairs[1:] != pairs[:-1])))
        counts = np.diff(np.append(start, len(pairs)))
        pairs = pairs[start]
        li, t = pairs >> np.uint32(tb), pairs & np.uint32((1 << tb) - 1)
        w = counts * self.idf[t]
        norm = np.sqrt(np.bincount(li, w * w, minlength=m))
        dot = np.bincount(li, w * self.coef[t], minlength=m)
        return np.divide(dot, norm, out=np.zeros(m), where=norm > 0)
