"""Bag-of-tokens featurizers: template-id counts, TF-IDF, words, char/word trigrams.

Every token missing from the vocabulary (fitted on the training rows) goes to column 0,
``<unk>``; ``transform(..., return_unknown=True)`` also returns how many occurrences went there.

TF-IDF follows scikit-learn's ``TfidfTransformer``: ``idf = ln((1 + n) / (1 + df)) + 1`` with
``smooth_idf`` (else ``ln(n / df) + 1``), optional sublinear ``1 + ln(tf)``, then the row norm
(``l2`` by default for ``tfidf``). ``n`` and ``df`` come from the training rows; the ``<unk>``
column gets the idf of a token found in no training row (``df = 0``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from logad.features.base import Featurizer
from logad.features.rows import as_table, event_table, select_split
from logad.features.tokens import TOKENIZERS, char_trigram_codes, decode_trigram_codes, encode_trigrams
from logad.features.vocab import Counts, Vocabulary
from logad.schema import require_columns

__all__ = ["EventCountFeaturizer", "TfidfFeaturizer", "WordsFeaturizer", "TrigramsFeaturizer"]


def _code_counts(codes: np.ndarray, rows: np.ndarray) -> dict[str, Counter]:
    """Token and document frequencies of packed trigram codes, keyed by the trigram strings."""
    uniq, tf = np.unique(codes, return_counts=True)
    order = np.lexsort((codes, rows))
    r, c = rows[order], codes[order]
    first = np.ones(len(c), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    duniq, df = np.unique(c[first], return_counts=True)
    return {"tf": Counter(dict(zip(decode_trigram_codes(uniq), tf.tolist()))),
            "df": Counter(dict(zip(decode_trigram_codes(duniq), df.tolist())))}


def _code_columns(vocab: Vocabulary, codes: np.ndarray) -> np.ndarray:
    """Feature column of each packed trigram code (0 = ``<unk>``)."""
    vcodes = encode_trigrams(vocab.tokens_)
    order = np.argsort(vcodes)
    sorted_codes = vcodes[order]
    if len(sorted_codes) == 0:
        return np.zeros(len(codes), dtype=np.int64)
    pos = np.clip(np.searchsorted(sorted_codes, codes), 0, len(sorted_codes) - 1)
    return np.where(sorted_codes[pos] == codes, order[pos] + 1, 0).astype(np.int64)


def _dictionary_counts(tokens: pa.DictionaryArray, rows: np.ndarray) -> dict[str, Counter] | None:
    """Token and document frequencies of dictionary-encoded tokens, counted on the codes (the
    same counts as on the strings); None when the dictionary repeats a value or a token is null."""
    words = tokens.dictionary
    if tokens.null_count or len(pc.unique(words)) != len(words):
        return None
    codes = np.asarray(tokens.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    tf = np.bincount(codes, minlength=len(words))
    n_rows, width = int(rows.max()) + 1 if len(rows) else 0, max(1, len(words))
    pairs = rows * width + codes
    if n_rows * width <= 1 << 24:  # few distinct ids: a row x token table of counts
        df = (np.bincount(pairs, minlength=n_rows * width).reshape(n_rows, width) > 0).sum(axis=0)
    else:  # (row, token) pairs once each; a sort beats np.unique's hash here
        pairs = np.sort(pairs)
        pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]] if len(pairs) else pairs
        df = np.bincount(pairs % width, minlength=width)
    names = words.to_pylist()
    return {"tf": Counter({names[i]: int(tf[i]) for i in np.flatnonzero(tf)}),
            "df": Counter({names[i]: int(df[i]) for i in np.flatnonzero(df)})}


class _BagFeaturizer(Featurizer):
    """Token counts over a fitted vocabulary, optionally TF-IDF weighted."""

    uses_vocabulary = True

    def _check_params(self) -> None:
        super()._check_params()
        if self.norm not in (None, "l1", "l2"):
            raise ValueError(f"norm must be None, 'l1' or 'l2', got {self.norm!r}")
        if self.norm is not None and not self.tfidf:
            raise ValueError("norm applies to TF-IDF weights only; set tfidf=True or norm=None")

    def _tokens(self, table: pa.Table) -> tuple[pa.Array | np.ndarray, np.ndarray, int]:
        """Flat tokens (strings, or packed trigram codes), the feature row of each, the number of rows."""
        raise NotImplementedError

    def partial_counts(self, table: pa.Table, split: str | None = "train") -> Counts:
        tokens, rows, n = self._tokens(select_split(as_table(table), split))
        if isinstance(tokens, np.ndarray):  # packed character trigrams
            return {"n_docs": n, **_code_counts(tokens, rows)}
        if isinstance(tokens, pa.DictionaryArray):
            counted = _dictionary_counts(tokens, rows)
            if counted is not None:
                return {"n_docs": n, **counted}
            tokens = tokens.cast(pa.string())
        pairs = pa.table({"r": pa.array(rows, pa.int64()), "t": tokens})
        tf = pc.value_counts(tokens).to_pylist() if len(tokens) else []
        uniq = pairs.group_by(["r", "t"], use_threads=False).aggregate([]).column("t")
        df = pc.value_counts(uniq).to_pylist() if len(uniq) else []
        return {"n_docs": n, "tf": Counter({d["values"]: d["counts"] for d in tf}),
                "df": Counter({d["values"]: d["counts"] for d in df})}

    def fit_counts(self, counts: Counts | None) -> "_BagFeaturizer":
        self._check_params()
        vocab = Vocabulary(min_count=self.min_count, max_size=self.max_features).fit_counts(counts)
        self.vocab_ = vocab
        self.n_docs_ = int(counts["n_docs"])
        if self.tfidf:
            df = np.array([0] + [counts["df"].get(t, 0) for t in vocab.tokens_], dtype=np.float64)
            n = float(self.n_docs_)
            if self.smooth_idf:
                self.idf_ = np.log((1.0 + n) / (1.0 + df)) + 1.0
            else:
                with np.errstate(divide="ignore"):
                    self.idf_ = np.log(n / np.where(df > 0, df, 1.0)) + 1.0
                self.idf_[df == 0] = np.log(max(n, 1.0)) + 1.0  # unseen: as rare as a single row
        else:
            self.idf_ = None
        self.fitted_ = True
        return self

    def feature_names(self) -> list[str]:
        return self.vocab_.names

    def _transform(self, table: pa.Table) -> tuple[sp.csr_matrix, np.ndarray]:
        tokens, rows, n = self._tokens(table)
        cols = _code_columns(self.vocab_, tokens) if isinstance(tokens, np.ndarray) else self.vocab_.index(tokens)
        X = sp.coo_matrix((np.ones(len(cols), dtype=np.float64), (rows, cols)),
                          shape=(n, len(self.vocab_))).tocsr()
        X.sum_duplicates()
        if self.tfidf:
            if self.sublinear_tf:
                X.data = 1.0 + np.log(X.data)
            X = X @ sp.diags(self.idf_, format="csr")
            if self.norm is not None:
                from sklearn.preprocessing import normalize

                X = normalize(X, norm=self.norm, copy=False)
        unknown = np.bincount(rows[cols == 0], minlength=n).astype(np.int64)
        return sp.csr_matrix(X, dtype=np.float64), unknown

    def _state(self) -> dict[str, Any]:
        return {"vocab": self.vocab_.to_dict(), "n_docs": self.n_docs_,
                "idf": None if self.idf_ is None else [float(v) for v in self.idf_]}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self.vocab_ = Vocabulary.from_dict(state["vocab"])
        self.n_docs_ = int(state["n_docs"])
        self.idf_ = None if state.get("idf") is None else np.asarray(state["idf"], dtype=np.float64)
        if self.idf_ is not None and len(self.idf_) != len(self.vocab_):
            raise ValueError(f"idf has {len(self.idf_)} values for {len(self.vocab_)} features")


class EventCountFeaturizer(_BagFeaturizer):
    """Counts of template ids (``event_ids``) per session, or a one-hot per line (event level)."""

    kind = "counts"

    def __init__(self, *, level: str = "sequence", min_count: int = 1, max_features: int | None = None,
                 tfidf: bool = False, norm: str | None = None, smooth_idf: bool = True,
                 sublinear_tf: bool = False) -> None:
        self.level = level
        self.min_count = min_count
        self.max_features = max_features
        self.tfidf = tfidf
        self.norm = norm
        self.smooth_idf = smooth_idf
        self.sublinear_tf = sublinear_tf

    def input_columns(self) -> list[str]:
        return ["event_ids"]

    def _tokens(self, table: pa.Table) -> tuple[pa.Array, np.ndarray, int]:
        require_columns(table, ["event_ids"], "sequences")
        ev = table.column("event_ids").combine_chunks()
        flat = pc.list_flatten(ev)
        if not pa.types.is_dictionary(flat.type):  # dictionary-encoded ids stay codes
            flat = flat.cast(pa.string())
        if self.level == "event":
            return flat, np.arange(len(flat), dtype=np.int64), len(flat)
        rows = pc.list_parent_indices(ev).to_numpy(zero_copy_only=False).astype(np.int64)
        return flat, rows, table.num_rows


class TfidfFeaturizer(EventCountFeaturizer):
    """:class:`EventCountFeaturizer` with TF-IDF weights and ``l2`` row norm by default."""

    kind = "tfidf"

    def __init__(self, *, level: str = "sequence", min_count: int = 1, max_features: int | None = None,
                 tfidf: bool = True, norm: str | None = "l2", smooth_idf: bool = True,
                 sublinear_tf: bool = False) -> None:
        super().__init__(level=level, min_count=min_count, max_features=max_features, tfidf=tfidf,
                         norm=norm, smooth_idf=smooth_idf, sublinear_tf=sublinear_tf)


class _TextFeaturizer(_BagFeaturizer):
    unit: str

    def _tokenizer(self):
        return TOKENIZERS[self.unit]

    def _check_params(self) -> None:
        super()._check_params()
        if self.unit not in TOKENIZERS:
            raise ValueError(f"unit must be one of {tuple(TOKENIZERS)}, got {self.unit!r}")

    def input_columns(self) -> list[str]:
        return ["messages"] if self.level == "sequence" else ["event_ids", "messages"]

    def _tokens(self, table: pa.Table) -> tuple[pa.Array, np.ndarray, int]:
        require_columns(table, ["messages"] if self.level == "sequence" else ["session_id", "event_ids"],
                        "sequences")
        if self.level == "event":
            msgs = event_table(table).column("message").to_pylist()
            parents = np.arange(len(msgs), dtype=np.int64)
            n = len(msgs)
        else:
            col = table.column("messages").combine_chunks()
            msgs = pc.list_flatten(col).to_pylist()
            parents = pc.list_parent_indices(col).to_numpy(zero_copy_only=False).astype(np.int64)
            n = table.num_rows
        if self.unit == "char":
            codes, owner = char_trigram_codes(msgs, self.lowercase)
            return codes, parents[owner], n
        tok = self._tokenizer()
        per_msg = [tok(m, self.lowercase) for m in msgs]
        lens = np.fromiter((len(t) for t in per_msg), dtype=np.int64, count=len(per_msg))
        flat = pa.array([t for ts in per_msg for t in ts], pa.string())
        return flat, np.repeat(parents, lens), n


class WordsFeaturizer(_TextFeaturizer):
    """Bag of words of the messages (``sequences.messages``), LogLead's ``e_words``."""

    kind = "words"
    unit = "words"

    def __init__(self, *, level: str = "sequence", lowercase: bool = False, min_count: int = 1,
                 max_features: int | None = None, tfidf: bool = False, norm: str | None = None,
                 smooth_idf: bool = True, sublinear_tf: bool = False) -> None:
        self.level = level
        self.lowercase = lowercase
        self.min_count = min_count
        self.max_features = max_features
        self.tfidf = tfidf
        self.norm = norm
        self.smooth_idf = smooth_idf
        self.sublinear_tf = sublinear_tf


class TrigramsFeaturizer(_TextFeaturizer):
    """Bag of character trigrams (``unit="char"``, LogLead's ``e_trigrams``) or word trigrams."""

    kind = "trigrams"

    def __init__(self, *, level: str = "sequence", unit: str = "char", lowercase: bool = False,
                 min_count: int = 1, max_features: int | None = None, tfidf: bool = False,
                 norm: str | None = None, smooth_idf: bool = True, sublinear_tf: bool = False) -> None:
        self.level = level
        self.unit = unit
        self.lowercase = lowercase
        self.min_count = min_count
        self.max_features = max_features
        self.tfidf = tfidf
        self.norm = norm
        self.smooth_idf = smooth_idf
        self.sublinear_tf = sublinear_tf

    def _check_params(self) -> None:
        super()._check_params()
        if self.unit not in ("char", "word"):
            raise ValueError(f"unit must be 'char' or 'word', got {self.unit!r}")
