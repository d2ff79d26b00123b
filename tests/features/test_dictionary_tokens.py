"""Event ids read as dictionary codes give the same counts, vocabulary and matrix as strings."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logad.features import make_featurizer
from tests.scoring.factory import make_sequences


def _as_dictionary(table: pa.Table) -> pa.Table:
    ev = table.column("event_ids").combine_chunks()
    codes = pa.ListArray.from_arrays(ev.offsets, pa.compute.dictionary_encode(ev.values))
    return table.set_column(table.schema.get_field_index("event_ids"), "event_ids", codes)


@pytest.mark.parametrize("kind,params", [("counts", {}), ("tfidf", {}), ("counts", {"level": "event"}),
                                         ("counts", {"min_count": 3, "max_features": 4})])
def test_dictionary_event_ids_match_strings(tmp_path, kind, params):
    table = make_sequences(120, seed=3, unseen="rare_event")
    pq.write_table(table, tmp_path / "s.parquet")
    coded = pq.read_table(tmp_path / "s.parquet", read_dictionary=["event_ids.list.element"])
    assert pa.types.is_dictionary(coded.schema.field("event_ids").type.value_type)
    for t in (coded, _as_dictionary(table)):
        a = make_featurizer(kind, **params).fit(table)
        b = make_featurizer(kind, **params).fit(t)
        assert a.to_dict() == b.to_dict()
        Xa, ua = a.transform_rows(table)
        Xb, ub = b.transform_rows(t)
        assert (Xa != Xb).nnz == 0 and np.array_equal(ua, ub)
        other = make_sequences(30, seed=8, unseen="brand_new")  # unknown ids map to <unk> alike
        assert np.array_equal(a.transform_rows(other)[1], b.transform_rows(_as_dictionary(other))[1])


def test_repeated_dictionary_values_fall_back_to_strings():
    table = make_sequences(40, seed=1)
    ev = table.column("event_ids").combine_chunks()
    values = ev.values.to_pylist()
    words = sorted(set(values))
    dup = pa.DictionaryArray.from_arrays(  # every word twice in the dictionary, codes alternate
        pa.array([2 * words.index(v) + (i % 2) for i, v in enumerate(values)], pa.int32()),
        pa.array([w for w in words for _ in range(2)]))
    t = table.set_column(table.schema.get_field_index("event_ids"), "event_ids",
                         pa.ListArray.from_arrays(ev.offsets, dup))
    a, b = make_featurizer("counts").fit(table), make_featurizer("counts").fit(t)
    assert a.to_dict() == b.to_dict()
    assert (a.transform_rows(table)[0] != b.transform_rows(t)[0]).nnz == 0
