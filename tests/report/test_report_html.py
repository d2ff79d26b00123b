"""report.html is one self-contained file that a real browser loads without errors, every plot
decoded; report.md names the same plots. Built from a real (small) train → score → explain run."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logad.io import part_entries, write_json
from logad.ray.explain import run_explain
from logad.ray.score import run_score
from logad.ray.train import run_train
from logad.report import run_report
from logad.report.compare import run_compare
from logad.report.quality import run_compare_models, run_validate
from tests.report.browser import open_page
from tests.scoring.factory import make_sequences, write_sequences


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    table = make_sequences(160, seed=6)
    # give sessions times, so the time views have data
    import datetime as dt

    t0 = dt.datetime(2026, 1, 5, 8)
    table = table.set_column(table.schema.get_field_index("start_time"), "start_time",
                             pa.array([t0 + dt.timedelta(minutes=37 * i) for i in range(160)], pa.timestamp("us")))
    seq = write_sequences(table, root / "seq", parts=2)
    refs = [r for rs in table.column("refs").to_pylist() for r in rs]
    events = [e for es in table.column("event_ids").to_pylist() for e in es]
    starts = [t0 + dt.timedelta(minutes=37 * i) for i, rs in enumerate(table.column("refs").to_pylist()) for _ in rs]
    (root / "parsed" / "events").mkdir(parents=True)
    pq.write_table(pa.table({"path": [r["path"] for r in refs], "line_no": [r["line_no"] for r in refs],
                             "timestamp": pa.array(starts, pa.timestamp("us")), "template_id": events,
                             "raw": [f"<script>alert(1)</script> {e} line" for e in events]}),
                   root / "parsed" / "events" / "part-00000.parquet")
    write_json({"stage": "parse", "status": "complete",
                "parts": part_entries(root / "parsed", [root / "parsed" / "events" / "part-00000.parquet"])},
               root / "parsed" / "manifest.json")
    names = sorted(set(events))
    pq.write_table(pa.table({"template_id": names, "template": [f"{n} happened <*>" for n in names],
                             "count": [events.count(n) for n in names]}), root / "parsed" / "templates.parquet")
    dirs = []
    for m in ("sequence_xgb_counts", "sequence_if_counts"):
        run_train(m, seq, root / m)
        dirs.append(str(root / m))
    run_score(dirs, seq, root / "scores")
    run_explain(dirs[0], seq, root / "scores", root / "explain", {"shap_sample": 20, "shap_background": 30,
                                                                   "workers": 0, "parsed": str(root / "parsed")})
    return root, seq, dirs


def test_report_html_loads_in_chromium_with_every_plot(run, tmp_path):
    root, seq, dirs = run
    cmp = run_compare(root / "parsed", root / "parsed")
    assert cmp["cosine"] == pytest.approx(1.0) and cmp["js"] == pytest.approx(0.0, abs=1e-9)
    r = run_report(tmp_path / "rep", sequences=seq, scores=root / "scores", model_dirs=dirs,
                   explain_dirs={"sequence_xgb_counts": str(root / "explain")}, title="test", compare=cmp)
    html = (tmp_path / "rep" / "report.html").read_text()
    for plot in ("pr", "roc", "scores_sequence_xgb_counts", "scores_sequence_if_counts", "templates", "temporal",
                 "template_series", "shap_bar_sequence_xgb_counts", "shap_beeswarm_sequence_xgb_counts"):
        assert plot in r["plots"], plot
    # self-contained: nothing fetched from anywhere, raw lines escaped
    assert not re.search(r"(src|href)=['\"](https?:|//|file:)", html)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)" in html
    md = (tmp_path / "rep" / "report.md").read_text()
    assert all(f"plots/{p}.png" in md for p in r["plots"])
    dom, console = open_page(tmp_path / "rep" / "report.html", tmp_path / "rep" / "screenshot.png")
    body = re.search(r"<body([^>]*)>", dom).group(1)
    n = len(r["plots"])
    assert f'data-plots="{n}"' in body and f'data-plots-loaded="{n}"' in body, body
    assert 'data-errors="0"' in body
    assert "Uncaught" not in console and not re.search(r"CONSOLE.*(Error|error)", console)
    assert (tmp_path / "rep" / "screenshot.png").stat().st_size > 10_000


def test_validate_and_compare_models(run):
    root, seq, dirs = run
    v = run_validate(dirs[0], seq)
    assert 0 <= v["score"] <= 100 and len(v["reasons"]) == 3
    assert any("calibration: ECE" in x for x in v["reasons"]) and any("drift: PSI" in x for x in v["reasons"])
    bare = run_validate(dirs[0])
    assert any("drift not measured" in x for x in bare["reasons"])
    c = run_compare_models(dirs[0], dirs[1], seq)
    assert [m["model"] for m in c["models"]] == ["sequence_xgb_counts", "sequence_if_counts"]
    assert 0 <= c["agreement"]["jaccard"] <= 1 and c["models"][0]["n"] == 32
