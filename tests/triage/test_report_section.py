"""The report's "lines to look at" section, from a real `triage predict` folder."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from logad.report.render import to_html, to_markdown
from logad.report.triage import _top_lines, triage_section
from logad.triage.predict import LOOK_SCHEMA


def test_top_lines_are_the_best_over_every_batch(tmp_path):
    rng = np.random.default_rng(0)
    n = 150_000  # three read batches
    p = rng.random(n)
    t = pa.table({"path": ["a.log"] * n, "line_no": np.arange(1, n + 1), "probability": p,
                  "reason": ["r"] * n, "line": [f"line {i}" for i in range(n)]}, schema=LOOK_SCHEMA)
    pq.write_table(t, tmp_path / "looks.parquet", row_group_size=40_000)
    got = _top_lines(tmp_path / "looks.parquet", 25)
    want = np.argsort(-p, kind="stable")[:25] + 1
    assert [r["line_no"] for r in got] == want.tolist()


def test_report_lists_the_lines_to_look_at(ray_session, small_model, small_logs, tmp_path):
    from logad.ray.triage import run_triage

    logs = sorted(str(p) for p in small_logs.iterdir())
    run_triage(logs, small_model, tmp_path / "p", {"chunk_bytes": 64 * 1024})
    sec = triage_section(tmp_path / "p", top=5)
    looks = pq.read_table(tmp_path / "p" / "looks.parquet")
    assert 0 < len(sec["lines"]) <= 5 and sec["summary"]["look"] == looks.num_rows
    probs = [r["probability"] for r in sec["lines"]]
    assert probs == sorted(probs, reverse=True) and probs[0] == max(looks["probability"].to_pylist())
    data = {"title": "t", "summary_line": "s", "models": [], "plot_titles": {}, "top_anomalies": [],
            "templates": [], "nearest_normal": [], "cases": {}, "triage": sec}
    md, page = to_markdown(data, {}), to_html(data, {})
    first = sec["lines"][0]
    assert "## Lines to look at" in md and f"{first['path']}:{first['line_no']}" in md
    assert "id='lines-to-look-at'" in page and sec["summary"]["top_templates"][0]["template"][:20] in md
    assert "Lines to look at" not in to_markdown({**data, "triage": None}, {})
