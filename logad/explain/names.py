"""Feature names a person reads: event templates for template ids, words and trigrams marked."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pyarrow.parquet as pq

from logad.io.stage import open_stage
from logad.io.store import is_remote, read_table

__all__ = ["read_templates", "readable_names", "top_features"]


def read_templates(parsed_dir: str | Path | None) -> dict[str, str]:
    """``{template_id: template}`` from a parse folder's ``templates.parquet`` ({} if absent)."""
    if parsed_dir is None:
        return {}
    if is_remote(parsed_dir):  # on object storage: the file of the run the manifest commits
        found = open_stage(parsed_dir, "parse")
        if not found.has_side("templates.parquet"):
            return {}
        t = read_table(found.side("templates.parquet"), columns=["template_id", "template"])
        return dict(zip(t.column("template_id").to_pylist(), t.column("template").to_pylist()))
    path = Path(parsed_dir) / "templates.parquet"
    if not path.is_file():
        return {}
    t = pq.read_table(path, columns=["template_id", "template"])
    return dict(zip(t.column("template_id").to_pylist(), t.column("template").to_pylist()))


_KINDS = {"EventCountFeaturizer": "event", "TfidfFeaturizer": "event", "WordsFeaturizer": "word",
          "TrigramsFeaturizer": "trigram", "NumericFeaturizer": "numeric"}


def readable_names(names: Sequence[str], templates: Mapping[str, str], features: str = "counts"
                   ) -> list[str]:
    """``names`` as text: a template id becomes ``[event] <template>``, a word ``[word] foo``.

    ``features`` is the model's feature kind (``counts``, ``words``, ``counts+numeric``...),
    used when a name carries no ``Featurizer:`` prefix (models with one featurizer).
    """
    single = {"counts": "event", "tfidf": "event", "words": "word", "trigrams": "trigram",
              "numeric": "numeric"}.get(features, "")
    out = []
    for name in names:
        prefix, _, rest = name.partition(":") if ":" in name and name.split(":", 1)[0] in _KINDS \
            else ("", "", name)
        kind = _KINDS.get(prefix, single)
        if kind == "event":
            text = templates.get(rest)
            out.append(f"[event] {text}" if text else f"[event] {rest}")
        elif kind in ("word", "trigram"):
            out.append(f"[{kind}] {rest!r}")
        else:
            out.append(rest)
    return out


def top_features(values: np.ndarray, x: np.ndarray, names: Sequence[str], k: int = 5) -> list[dict]:
    """The ``k`` features with the largest |SHAP| of one row: name, SHAP value, feature value.

    Ties are broken by feature index, so the list is the same wherever it is computed.
    """
    order = np.lexsort((np.arange(len(values)), -np.abs(values)))[:k]
    return [{"feature": names[j], "shap": float(values[j]), "value": float(x[j])}
            for j in order if values[j] != 0]
