"""Time views of a corpus: volume and anomalies by hour of day and day of week, and each
template's count over time with new-template and frequency-spike marks. Pure NumPy/Arrow."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["hour_weekday_counts", "template_series", "DAYS"]

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hour_weekday_counts(times: pa.Array, flags: np.ndarray | None = None) -> dict[str, list[int]]:
    """Counts by hour of day (24) and day of week (7, Monday first); nulls are left out.

    ``flags`` (same length, 0/1) gives the anomalous counts as well.
    """
    valid = pc.is_valid(times).to_numpy(zero_copy_only=False)
    t = pc.filter(times, pa.array(valid))
    hours = pc.hour(t).to_numpy(zero_copy_only=False).astype(int) if len(t) else np.zeros(0, int)
    days = pc.day_of_week(t).to_numpy(zero_copy_only=False).astype(int) if len(t) else np.zeros(0, int)
    out = {"hour": np.bincount(hours, minlength=24).tolist(), "weekday": np.bincount(days, minlength=7).tolist(),
           "undated": int((~valid).sum())}
    if flags is not None:
        f = np.asarray(flags)[valid].astype(bool)
        out["hour_anomalous"] = np.bincount(hours[f], minlength=24).tolist()
        out["weekday_anomalous"] = np.bincount(days[f], minlength=7).tolist()
    return out


def template_series(times: np.ndarray, template_ids: Sequence[str], *, n_bins: int = 48, top: int = 8,
                    spike_z: float = 3.0) -> dict:
    """Counts of the ``top`` most frequent templates in ``n_bins`` equal time bins.

    Returns ``edges`` (datetime64 as ISO strings), ``series`` {template_id: counts}, ``new``
    {template_id: bin} for templates first seen after the first tenth of the time span, and
    ``spikes`` {template_id: [bins]} where a count exceeds mean + ``spike_z`` × std of its series.
    """
    t = np.asarray(times, dtype="datetime64[us]")
    ok = ~np.isnat(t)
    t, ids = t[ok], np.asarray(template_ids, dtype=object)[ok]
    if len(t) == 0:
        return {"edges": [], "series": {}, "new": {}, "spikes": {}}
    lo, hi = t.min().astype(np.int64), t.max().astype(np.int64) + 1
    edges = np.linspace(lo, hi, n_bins + 1)
    b = np.clip(np.searchsorted(edges, t.astype(np.int64), side="right") - 1, 0, n_bins - 1)
    uniq, inv, counts = np.unique(ids, return_inverse=True, return_counts=True)
    order = np.lexsort((uniq, -counts))
    series, new, spikes = {}, {}, {}
    first_bin = np.full(len(uniq), n_bins, dtype=int)
    np.minimum.at(first_bin, inv, b)
    for k in order[:top]:
        c = np.bincount(b[inv == k], minlength=n_bins)
        series[str(uniq[k])] = c.tolist()
        mu, sd = c.mean(), c.std()
        hit = np.flatnonzero(c > mu + spike_z * sd) if sd > 0 else np.array([], int)
        if len(hit):
            spikes[str(uniq[k])] = hit.tolist()
    for k in range(len(uniq)):
        if first_bin[k] > n_bins // 10:
            new[str(uniq[k])] = int(first_bin[k])
    iso = [str(np.datetime64(int(e), "us")) for e in edges]
    return {"edges": iso, "series": series, "new": new, "spikes": spikes}
