"""Features: ``sequences`` -> sparse matrices, vocabularies fitted on the training split.

One small API for every kind (scikit-learn style: ``__init__`` stores keyword arguments,
``fit`` checks them and sets attributes ending in ``_``)::

    from logad.features import make_featurizer, row_labels, load_featurizer, save_featurizer

    f = make_featurizer("tfidf", level="sequence")     # a key of FEATURE_KINDS, or a class
    f.fit(sequences)                                    # only rows with split == "train"
    X, names = f.transform(sequences)                   # csr_matrix float64 (n_rows, n_features)
    X, names, n_unknown = f.transform(test, return_unknown=True)
    y = row_labels(sequences, f.level)                  # 1 / 0 / -1 unknown, one per row
    save_featurizer(f, "model/features.json"); f = load_featurizer("model/features.json")

``FEATURE_KINDS``: ``counts`` (template-id counts), ``tfidf`` (the same, TF-IDF weighted),
``words`` (bag of words of the messages), ``trigrams`` (character or word trigrams),
``numeric`` (seq_len, duration_sec, n_words, n_trigrams, n_distinct, n_error).
``level="sequence"``: one row a session; ``level="event"``: one row a line of a session, in
session order, labelled with its session's label. Unknown tokens go to column 0, ``<unk>``.

Distributed fitting and transforms over Ray Data: :mod:`logad.ray.features`.
"""

from logad.features.bags import EventCountFeaturizer, TfidfFeaturizer, TrigramsFeaturizer, WordsFeaturizer
from logad.features.base import Featurizer, NotFittedError
from logad.features.numeric import NUMERIC_COLUMNS, NumericFeaturizer
from logad.features.registry import (FEATURE_KINDS, featurizer_from_dict, make_featurizer,
                                     make_featurizer_from_config)
from logad.features.rows import LEVELS, csr_to_rows, event_table, row_index, row_labels, rows_to_csr
from logad.features.store import load_featurizer, save_featurizer
from logad.features.vocab import UNK, Vocabulary, counts_to_table, merge_counts, table_to_counts

__all__ = ["Featurizer", "NotFittedError", "EventCountFeaturizer", "TfidfFeaturizer", "WordsFeaturizer",
           "TrigramsFeaturizer", "NumericFeaturizer", "NUMERIC_COLUMNS", "FEATURE_KINDS",
           "make_featurizer", "make_featurizer_from_config", "featurizer_from_dict", "LEVELS", "event_table", "row_index",
           "row_labels", "csr_to_rows", "rows_to_csr", "save_featurizer", "load_featurizer", "UNK",
           "Vocabulary", "counts_to_table", "table_to_counts", "merge_counts"]
