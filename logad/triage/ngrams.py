"""Character n-gram TF-IDF of many ASCII lines at once, in NumPy: packed keys and a hash table.

scikit-learn's ``analyzer="char"`` lower-cases a line, turns every run of two or more whitespace
characters into one space and takes every ``lo``..``hi``-gram. For ASCII lines this module does
the same over the bytes of a whole batch: each byte is mapped through a table (lower case, plus
one, so that 0 is free to mean "no character"), runs of whitespace are squeezed, the lines are
laid end to end with one 0 byte between them, and the 8 bytes from every position are read as
one big-endian integer. The top ``n`` bytes of it are the ``n``-gram starting there; with ``n`` in
the top byte it is the n-gram's key. An n-gram running past its line holds a 0 byte and so is no
term's key. The keys are looked up in an open-addressing hash table built once from the
vocabulary (linear probing; vectorised over the batch, a few rounds), and the per-line counts of
each term come from one stable sort of the hits by term (a radix sort: term ids fit 16 bits).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa

__all__ = ["CharNgramTable", "WHITESPACE"]

#: Python's ``\s`` on ASCII text (scikit-learn's ``\s\s+`` rule), as byte values.
WHITESPACE = bytes([9, 10, 11, 12, 13, 28, 29, 30, 31, 32])

_MULT = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing
_LOWER1 = np.array([((b + 32 if 65 <= b <= 90 else b) + 1) % 256 for b in range(256)], np.uint8)
_IS_WS = np.zeros(256, bool)
_IS_WS[list(WHITESPACE)] = True
_SPACE1 = np.uint8(ord(" ") + 1)


def _pack(term: str) -> int | None:
    """The key of an ASCII term (its bytes plus one, big-endian, length in the top byte)."""
    if not term.isascii() or not 1 <= len(term) <= 7:
        return None
    key = 0
    for b in term.encode("ascii"):
        key = (key << 8) | (b + 1)
    return key | (len(term) << 56)


class CharNgramTable:
    """The character vocabulary as a hash table; :meth:`score` gives every line's TF-IDF dot.

    Parameters
    ----------
    terms : sequence of str
        The vocabulary in column order.
    idf, coef : array of float64
        idf weight and regression coefficient of each term.
    lo, hi : int
        The n-gram range (``hi`` at most 6: 7 bytes and a tag fit 64 bits, 8 are read).
    """

    def __init__(self, terms: Sequence[str], idf: np.ndarray, coef: np.ndarray, lo: int, hi: int) -> None:
        if not 1 <= lo <= hi <= 6:
            raise ValueError(f"character n-grams of {lo}..{hi}: at most 6 characters")
        self.lo, self.hi = lo, hi
        self.idf, self.coef = np.asarray(idf, np.float64), np.asarray(coef, np.float64)
        self.idf_coef = self.idf * self.coef
        packed = [(_pack(t), j) for j, t in enumerate(terms)]
        keys = np.array([k for k, _ in packed if k is not None], np.uint64)
        term = np.array([j for k, j in packed if k is not None], np.int64)
        bits = max(10, int(np.ceil(np.log2(max(1, 4 * len(keys))))))
        self._shift = np.uint64(64 - bits)
        self._mask = (1 << bits) - 1
        self._keys = np.zeros(1 << bits, np.uint64)  # 0: empty (every key has its tag set)
        self._term = np.full(1 << bits, -1, np.int64)
        self._rounds = self._insert(keys, term)
        self.n_terms = len(terms)

    def _slot(self, keys: np.ndarray) -> np.ndarray:
        return ((keys * _MULT) >> self._shift).astype(np.int64)

    def _insert(self, keys: np.ndarray, term: np.ndarray) -> int:
        home = self._slot(keys)
        pending = np.arange(len(keys))
        d = 0
        while len(pending):
            s = (home[pending] + d) & self._mask
            free = self._keys[s] == 0
            cand, slots = pending[free], s[free]
            _, first = np.unique(slots, return_index=True)  # one key per free slot this round
            self._keys[slots[first]], self._term[slots[first]] = keys[cand[first]], term[cand[first]]
            placed = np.zeros(len(pending), bool)
            placed[np.flatnonzero(free)[first]] = True
            pending = pending[~placed]
            d += 1
        return d

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Term index of every key, -1 where it is no term."""
        slot = self._slot(keys)
        out = self._term[slot]
        found = self._keys[slot]
        todo = np.flatnonzero((found != keys) & (found != 0))
        for d in range(1, self._rounds):
            if not len(todo):
                break
            s = (slot[todo] + d) & self._mask
            found, want = self._keys[s], keys[todo]
            hit = found == want
            out[todo[hit]] = self._term[s[hit]]
            out[todo[~hit & (found == 0)]] = -1
            todo = todo[~hit & (found != 0)]
        out[todo] = -1
        return out

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
        data, offs = self.squeeze(text)
        size = len(data)
        if size == 0 or not self.n_terms:
            return np.zeros(m, np.float64)
        lens = np.diff(offs)
        line_of_pos = np.repeat(np.arange(m, dtype=np.int32), lens + 1)  # position -> line
        padded = np.zeros(size + m + 8, np.uint8)
        padded[np.arange(size) + np.repeat(np.arange(m), lens)] = data
        word = np.ndarray((size + m,), ">u8", padded, 0, (1,)).astype(np.uint64)
        found = []
        for n in range(self.lo, self.hi + 1):
            t = self.lookup((word >> np.uint64(64 - 8 * n)) | np.uint64(n << 56))
            hit = np.flatnonzero(t >= 0)
            found.append((line_of_pos[hit].astype(np.uint64) << np.uint64(32)) | t[hit].astype(np.uint64))
        # (line, term) of every hit, sorted: equal pairs are runs, their lengths the counts
        pairs = np.sort(np.concatenate(found))
        if not len(pairs):
            return np.zeros(m, np.float64)
        start = np.flatnonzero(np.concatenate(([True], pairs[1:] != pairs[:-1])))
        counts = np.diff(np.append(start, len(pairs)))
        pairs = pairs[start]
        li, t = (pairs >> np.uint64(32)).astype(np.int64), (pairs & np.uint64(0xFFFFFFFF)).astype(np.int64)
        w = counts * self.idf[t]
        norm = np.sqrt(np.bincount(li, w * w, minlength=m))
        dot = np.bincount(li, w * self.coef[t], minlength=m)
        return np.divide(dot, norm, out=np.zeros(m), where=norm > 0)
