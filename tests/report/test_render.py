"""The report's pure parts: a sequence model's missed events reach both renderings."""

from __future__ import annotations

from logad.report.build import _missed_rows
from logad.report.render import to_html, to_markdown


def _data(missed):
    return {"title": "t", "summary_line": "s", "models": [], "plot_titles": {}, "top_anomalies": [],
            "templates": [], "nearest_normal": [], "cases": {}, "missed_events": missed}


def test_missed_events_are_listed_with_what_was_expected():
    explanations = [{"session_id": "blk_1", "missed": [
        {"pos": 3, "event": 7, "rank": 12, "expected": [2, 5], "event_text": "Deleting block <*>",
         "expected_text": ["Receiving block <*>", "<end of session>"]}]},
        {"session_id": "blk_2", "missed": []}]
    rows = _missed_rows(explanations)
    assert rows == [["blk_1", "3", "Deleting block <*>", "Receiving block <*> | <end of session>"]]
    md, page = to_markdown(_data(rows), {}), to_html(_data(rows), {})
    for text in (md, page):
        assert "Events the sequence model missed" in text and "Deleting block &lt;*&gt;" in page
        assert "blk_1" in text
    assert "Events the sequence model missed" not in to_markdown(_data([]), {})
    assert len(_missed_rows([{"session_id": "x", "missed": [dict(explanations[0]["missed"][0])] * 50}])) == 30
