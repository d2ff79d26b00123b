"""The featurizer base class: fit on the training rows, transform any rows, save as plain JSON.

See :mod:`logad.features` for the whole API.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Mapping

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from logad.features.rows import LEVELS, as_table, select_split
from logad.features.vocab import Counts

__all__ = ["Featurizer", "NotFittedError", "STATE_VERSION"]

STATE_VERSION = 1


class NotFittedError(ValueError, AttributeError):
    """A featurizer used before ``fit`` (the bases of scikit-learn's own ``NotFittedError``,
    which is not imported: it would bring scikit-learn into every worker that featurizes)."""


class Featurizer:
    """Base class; subclasses set ``kind`` and implement the hooks below."""

    kind: ClassVar[str] = ""
    #: Whether ``fit`` learns a vocabulary from :meth:`partial_counts` (bag featurizers).
    uses_vocabulary: ClassVar[bool] = False

    # -- parameters ----------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names}

    def _check_params(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")

    def input_columns(self) -> list[str] | None:
        """``sequences`` columns this featurizer reads besides ``session_id``, ``label``,
        ``split`` and ``event_ids`` (None: it may read any column, so read them all)."""
        return None

    # -- fitting -------------------------------------------------------------------------------
    def partial_counts(self, table: pa.Table, split: str | None = "train") -> Counts | None:
        """Vocabulary counts of the rows of ``table`` in ``split`` (None: no vocabulary)."""
        return None

    def fit_counts(self, counts: Counts | None) -> "Featurizer":
        """Finish fitting from (merged) :meth:`partial_counts`; returns self."""
        self._check_params()
        self.fitted_ = True
        return self

    def fit(self, table: pa.Table, split: str | None = "train") -> "Featurizer":
        """Fit on the rows of ``table`` whose ``split`` is ``split`` (all rows if None or no column).

        Raises ``ValueError`` when no row is left.
        """
        self._check_params()
        table = as_table(table)
        if select_split(table, split).num_rows == 0:
            raise ValueError(f"no rows with split == {split!r} to fit {type(self).__name__} on")
        return self.fit_counts(self.partial_counts(table, split))

    def transform(self, table: pa.Table, *, return_unknown: bool = False):
        """Feature matrix of all rows of ``table``.

        Returns
        -------
        X : scipy.sparse.csr_matrix of float64, shape (n_rows, n_features)
        feature_names : list of str, length n_features
        n_unknown : int
            Only with ``return_unknown=True``: token occurrences mapped to ``<unk>`` (0 for numeric).
        """
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(sequences) first")
        X, unknown = self._transform(as_table(table))
        names = self.feature_names()
        return (X, names, int(unknown.sum())) if return_unknown else (X, names)

    def transform_rows(self, table: pa.Table) -> tuple[sp.csr_matrix, np.ndarray]:
        """``X`` and the per-row number of tokens mapped to ``<unk>`` (int64, shape (n_rows,))."""
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(sequences) first")
        return self._transform(as_table(table))

    def fit_transform(self, table: pa.Table, split: str | None = "train"):
        """``fit(table, split)`` then ``transform(table)`` (all rows)."""
        return self.fit(table, split).transform(table)

    def feature_names(self) -> list[str]:
        raise NotImplementedError

    def _transform(self, table: pa.Table) -> tuple[sp.csr_matrix, np.ndarray]:
        raise NotImplementedError

    # -- state ---------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        pass

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state: ``kind``, ``params``, ``version`` and the fitted fields."""
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"{type(self).__name__} is not fitted; nothing to save")
        return {"kind": self.kind, "version": STATE_VERSION, "params": self.get_params(),
                "state": self._state()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Featurizer":
        """Rebuild a fitted featurizer from :meth:`to_dict` output."""
        if d.get("kind") != cls.kind:
            raise ValueError(f"state is for kind {d.get('kind')!r}, not {cls.kind!r}")
        f = cls(**d["params"])
        f._check_params()
        f._set_state(d["state"])
        f.fitted_ = True
        return f
