"""Event-id sequences for the deep sequence detectors (DeepLog, LogBERT, MS-CRED, LogRobust).

The ``events`` featurizer keeps each session's template ids in order and maps them to integer
ids over a vocabulary fitted on the training split: id 0 is :data:`~logad.features.vocab.UNK`
(every template outside the vocabulary), ids ``1..V-1`` the kept templates. Unlike the bag
featurizers the token list is not required to be sorted, so that a vocabulary can grow by union
(:meth:`EventIdsFeaturizer.union`): the ids of an earlier model stay, new templates get new ids.
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logad.features.base import Featurizer
from logad.features.rows import as_table, select_split
from logad.features.vocab import UNK, Counts, Vocabulary, count_docs
from logad.schema import require_columns

__all__ = ["EventIdsFeaturizer", "union_tokens"]


def union_tokens(first: Sequence[str], second: Iterable[str]) -> list[str]:
    """``first`` in its order, then the tokens of ``second`` it lacks, sorted.

    >>> union_tokens(["b", "a"], ["c", "a", "0"])
    ['b', 'a', '0', 'c']
    """
    have = set(first)
    return [*first, *sorted(set(second) - have)]


class EventIdsFeaturizer(Featurizer):
    """Sessions as int64 arrays of event ids (``input_kind="sequence"`` detectors).

    Parameters
    ----------
    level : {"sequence"}
        Only sessions: a sequence detector reads a session's events in order.
    min_count : int, default 1
        Keep templates seen at least this often in the training rows.
    max_features : int or None
        Keep the most frequent N templates (None: all).

    Examples
    --------
    >>> t = pa.table({"session_id": ["a", "b"], "event_ids": [["x", "y", "x"], ["y", "z"]]})
    >>> f = EventIdsFeaturizer().fit(t.slice(0, 1), split=None)
    >>> X, unknown = f.transform_rows(t)
    >>> [x.tolist() for x in X], unknown.tolist(), f.feature_names()
    ([[1, 2, 1], [2, 0]], [0, 1], ['<unk>', 'x', 'y'])
    """

    kind: ClassVar[str] = "events"
    uses_vocabulary: ClassVar[bool] = True
    #: What ``transform_rows`` returns: a list of id arrays, not a sparse matrix.
    output: ClassVar[str] = "sequence"

    def __init__(self, level: str = "sequence", min_count: int = 1,
                 max_features: int | None = None) -> None:
        self.level = level
        self.min_count = min_count
        self.max_features = max_features

    def _check_params(self) -> None:
        if self.level != "sequence":
            raise ValueError(f"the events featurizer works on sessions only (level 'sequence'), "
                             f"got {self.level!r}")

    def partial_counts(self, table: pa.Table, split: str | None = "train") -> Counts:
        rows = select_split(as_table(table), split)
        require_columns(rows, ["event_ids"], "sequences")
        return count_docs(rows.column("event_ids").to_pylist())

    def fit_counts(self, counts: Counts | None) -> "EventIdsFeaturizer":
        self._check_params()
        vocab = Vocabulary(min_count=self.min_count, max_size=self.max_features).fit_counts(counts)
        self._set_tokens(vocab.tokens_)
        self.fitted_ = True
        return self

    def _set_tokens(self, tokens: Sequence[str]) -> None:
        if len(set(tokens)) != len(tokens) or UNK in tokens:
            raise ValueError("event vocabulary tokens must be distinct and must not hold <unk>")
        self.tokens_ = [str(t) for t in tokens]
        self._value_set = pa.array(self.tokens_, pa.string())

    def union(self, other: "EventIdsFeaturizer") -> "EventIdsFeaturizer":
        """A fitted copy whose vocabulary is this one's, then ``other``'s new templates.

        Ids of this featurizer's templates are kept; templates only ``other`` knows get the
        next ids; anything else still maps to ``<unk>`` (id 0).
        """
        out = EventIdsFeaturizer(**self.get_params())
        out._set_tokens(union_tokens(self.tokens_, other.tokens_))
        out.fitted_ = True
        return out

    def feature_names(self) -> list[str]:
        return [UNK, *self.tokens_]

    def _transform(self, table: pa.Table) -> tuple[list[np.ndarray], np.ndarray]:
        require_columns(table, ["event_ids"], "sequences")
        ev = table.column("event_ids").combine_chunks()
        if isinstance(ev, pa.ChunkedArray):  # an empty table
            ev = pa.array([], pa.list_(pa.string()))
        lens = pc.list_value_length(ev).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        flat = pc.list_flatten(ev).cast(pa.string())
        pos = pc.index_in(flat, value_set=self._value_set)
        ids = np.asarray(pc.add(pos, 1).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
        bounds = np.cumsum(lens)[:-1] if len(lens) else []
        seqs = np.split(ids, bounds) if len(lens) else []
        unknown = np.array([int((s == 0).sum()) for s in seqs], dtype=np.int64)
        return list(seqs), unknown

    def _state(self) -> dict[str, Any]:
        return {"tokens": list(self.tokens_)}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self._set_tokens(list(state["tokens"]))
