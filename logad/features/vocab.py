"""Vocabularies fitted from token counts, with an explicit ``<unk>`` slot; plain JSON state.

Fitting is split in two so it can be distributed: :func:`count_docs` gives partial counts of any
subset of rows, :func:`merge_counts` adds partial counts (exact, order-free), and
:meth:`Vocabulary.fit_counts` chooses the tokens. The result is the same for one block or many.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["UNK", "Counts", "count_docs", "merge_counts", "counts_to_table", "table_to_counts",
           "Vocabulary"]

#: Name of the column that receives every token not in the vocabulary.
UNK = "<unk>"

#: Partial counts: ``{"n_docs": int, "tf": {token: occurrences}, "df": {token: documents}}``.
Counts = dict


def count_docs(docs: Iterable[Sequence[str]]) -> Counts:
    """Token and document frequencies of ``docs`` (each a list of tokens).

    >>> c = count_docs([["a", "b", "a"], ["b"]])
    >>> c["n_docs"], dict(c["tf"]), dict(c["df"])
    (2, {'a': 2, 'b': 2}, {'a': 1, 'b': 2})
    """
    tf: Counter = Counter()
    df: Counter = Counter()
    n = 0
    for doc in docs:
        n += 1
        tf.update(doc)
        df.update(set(doc))
    return {"n_docs": n, "tf": tf, "df": df}


def merge_counts(parts: Iterable[Counts]) -> Counts:
    """Sum partial counts."""
    tf: Counter = Counter()
    df: Counter = Counter()
    n = 0
    for p in parts:
        n += int(p["n_docs"])
        tf.update(p["tf"])
        df.update(p["df"])
    return {"n_docs": n, "tf": tf, "df": df}


def counts_to_table(counts: Counts) -> pa.Table:
    """Counts as rows ``(token, tf, df)``; a row with a null token carries ``n_docs`` in ``df``."""
    tokens = list(counts["tf"])
    return pa.table({
        "token": pa.array(tokens + [None], pa.string()),
        "tf": pa.array([counts["tf"][t] for t in tokens] + [0], pa.int64()),
        "df": pa.array([counts["df"].get(t, 0) for t in tokens] + [counts["n_docs"]], pa.int64()),
    })


def table_to_counts(table: pa.Table) -> Counts:
    """Inverse of :func:`counts_to_table`; rows of the same token (from several blocks) are summed."""
    agg = table.group_by("token", use_threads=False).aggregate([("tf", "sum"), ("df", "sum")])
    tok, tf, df = (agg.column(c).to_pylist() for c in ("token", "tf_sum", "df_sum"))
    n_docs = sum(d for t, d in zip(tok, df) if t is None)
    return {"n_docs": n_docs, "tf": Counter({t: f for t, f in zip(tok, tf) if t is not None}),
            "df": Counter({t: d for t, d in zip(tok, df) if t is not None})}


class Vocabulary:
    """Tokens kept for the feature columns; column 0 is always :data:`UNK`.

    Parameters
    ----------
    min_count : int, default 1
        Keep tokens seen at least this many times in the fitting rows.
    max_size : int or None, default None
        Keep at most this many tokens, the most frequent (ties: by token).

    Attributes
    ----------
    tokens_ : list of str
        Kept tokens, sorted; feature column ``i + 1`` is ``tokens_[i]``.
    """

    def __init__(self, *, min_count: int = 1, max_size: int | None = None) -> None:
        self.min_count = min_count
        self.max_size = max_size

    def fit_counts(self, counts: Counts) -> "Vocabulary":
        if not (isinstance(self.min_count, int) and self.min_count >= 1):
            raise ValueError(f"min_count must be an integer >= 1, got {self.min_count!r}")
        if self.max_size is not None and not (isinstance(self.max_size, int) and self.max_size >= 1):
            raise ValueError(f"max_size must be None or an integer >= 1, got {self.max_size!r}")
        kept = [(t, c) for t, c in counts["tf"].items() if c >= self.min_count]
        if self.max_size is not None and len(kept) > self.max_size:
            kept = sorted(kept, key=lambda tc: (-tc[1], tc[0]))[: self.max_size]
        self.tokens_ = sorted(t for t, _ in kept)
        self._value_set = pa.array(self.tokens_, pa.string())
        return self

    @property
    def names(self) -> list[str]:
        """Feature names: ``["<unk>", *tokens_]``."""
        return [UNK, *self.tokens_]

    def __len__(self) -> int:
        return len(self.tokens_) + 1

    def index(self, tokens: pa.Array | Sequence[str]) -> np.ndarray:
        """Column of each token: ``1 + position`` in ``tokens_``, or 0 for unknown tokens."""
        arr = tokens if isinstance(tokens, (pa.Array, pa.ChunkedArray)) else pa.array(list(tokens), pa.string())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if isinstance(arr, pa.DictionaryArray):  # look each distinct token up once
            cols = self.index(arr.dictionary)
            return cols[np.asarray(arr.indices.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)] \
                * np.asarray(arr.indices.is_valid().to_numpy(zero_copy_only=False), dtype=np.int64)
        pos = pc.index_in(arr, value_set=self._value_set)
        return np.asarray(pc.add(pos, 1).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {"min_count": self.min_count, "max_size": self.max_size, "tokens": list(self.tokens_)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Vocabulary":
        v = cls(min_count=int(d["min_count"]), max_size=d.get("max_size"))
        v.tokens_ = [str(t) for t in d["tokens"]]
        if v.tokens_ != sorted(v.tokens_):
            raise ValueError("vocabulary tokens must be sorted")
        v._value_set = pa.array(v.tokens_, pa.string())
        return v
