"""Distributed fit/transform equal the single-process ones, for 1 and several blocks."""

from __future__ import annotations

import pyarrow as pa
import pytest

from logad.features import make_featurizer
from tests.features.test_featurizers import _sequences


def _many_sessions(copies: int = 6) -> pa.Table:
    base = _sequences()
    parts = []
    for k in range(copies):
        ids = pa.array([f"{s}{k}" for s in base.column("session_id").to_pylist()])
        parts.append(base.set_column(0, "session_id", ids))
    return pa.concat_tables(parts)


@pytest.mark.parametrize("kind,level", [("tfidf", "sequence"), ("words", "event"), ("numeric", "sequence")])
def test_distributed_fit_and_transform_match_single_process(ray_session, kind, level):
    import ray

    from logad.ray.features import collect_matrix, fit_featurizer_distributed, transform_distributed

    table = _many_sessions()
    local = make_featurizer(kind, level=level).fit(table)
    X_local, names, unk_local = local.transform(table.sort_by("session_id"), return_unknown=True)
    for blocks in (1, 4):
        ds = ray.data.from_arrow(table).repartition(blocks)
        fitted = fit_featurizer_distributed(ds, kind, level=level)
        assert fitted.to_dict() == local.to_dict()
        X, index = collect_matrix(transform_distributed(ds, fitted), len(names))
        assert X.shape == X_local.shape and abs(X - X_local).max() < 1e-12
        assert sum(index.column("n_unknown").to_pylist()) == unk_local
        assert index.num_rows == X.shape[0]


def test_distributed_fit_without_train_rows_raises(ray_session):
    import ray

    from logad.features import NotFittedError
    from logad.ray.features import fit_featurizer_distributed, transform_distributed

    ds = ray.data.from_arrow(_many_sessions(1))
    from logad.errors import InputError

    with pytest.raises(InputError, match="no sessions with split == 'nope'"):
        fit_featurizer_distributed(ds, "counts", split="nope")
    with pytest.raises(NotFittedError):
        transform_distributed(ds, make_featurizer("counts"))
