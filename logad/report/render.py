"""Render the report data as Markdown (plots as files beside it) and as ONE self-contained HTML
file (plots embedded as base64 PNG, inline CSS, no network)."""

from __future__ import annotations

import base64
import html
from typing import Any, Mapping

__all__ = ["to_markdown", "to_html"]

_METRICS = ("n", "n_anomalous", "precision", "recall", "f1", "roc_auc", "pr_auc", "fpr", "psi")


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _metric_rows(data: Mapping) -> tuple[list[str], list[list[str]]]:
    head = ["metric", *[m["model"] for m in data["models"]]]
    rows = [[k, *[_fmt(m["metrics"].get(k)) for m in data["models"]]] for k in _METRICS]
    rows.insert(0, ["threshold", *[_fmt(m["threshold"]) for m in data["models"]]])
    return head, rows


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


_MISSED_HEAD = ["session", "position", "event", "expected instead (most likely first)"]


def to_markdown(data: Mapping, plot_files: Mapping[str, str]) -> str:
    """The report as Markdown; ``plot_files`` maps plot names to paths relative to the report."""
    md = [f"# logad report: {data['title']}", "", data["summary_line"], "", "## Models (test split)", "",
          _md_table(*_metric_rows(data)), ""]
    for name, title in data["plot_titles"].items():
        if name in plot_files:
            md += [f"### {title}", "", f"![{title}]({plot_files[name]})", ""]
    md += ["## Top anomalies", ""]
    for a in data["top_anomalies"]:
        md += [f"**#{a['rank']} {a['session_id']}** score {a['score']:.4g} (label {a.get('label')})", "", "```"]
        md += [f"{'>' if ln['at'] else ' '} {ln['line_no']}: {ln['raw']}" for ln in a.get("context", [])] or ["(raw lines not found)"]
        md += ["```", ""]
    md += ["## Dominant templates", "", _md_table(["template", "lines"], [[t["template"], str(t["count"])] for t in data["templates"]]), ""]
    md += ["## Nearest normal neighbours", ""]
    for n in data["nearest_normal"]:
        diffs = "; ".join(f"{d['feature']}: {d['flagged']:g} vs {d['neighbour']:g}" for d in n.get("differs", []))
        md.append(f"- {n['session_id']} ↔ {n.get('neighbour')} (distance {_fmt(n.get('distance'))}): {diffs}")
    if data.get("missed_events"):
        md += ["", "## Events the sequence model missed", "",
               _md_table(_MISSED_HEAD, data["missed_events"])]
    md += ["", "## False positives and false negatives", ""]
    for kind in ("false_positives", "false_negatives"):
        md.append(f"### {kind.replace('_', ' ')} ({data['cases'].get('counts', {}).get(kind, 0)})")
        for c in data["cases"].get(kind, [])[:10]:
            first = c["lines"][0]["raw"] if c.get("lines") else "(raw line not found)"
            md.append(f"- {c['session_id']} score {c['score']:.4g}: `{first}`")
        md.append("")
    if data.get("triage"):
        from logad.report.triage import (LINES_HEAD, TEMPLATES_HEAD, line_rows, summary_text,
                                         template_rows)

        t = data["triage"]
        md += ["## Lines to look at", "", summary_text(t), "", "### Top LOOK templates", "",
               _md_table(TEMPLATES_HEAD, template_rows(t)), "", "### LOOK lines, most likely first",
               "", _md_table(LINES_HEAD, line_rows(t)), ""]
    if data.get("compare"):
        c = data["compare"]
        md += ["## Compared with the baseline corpus", "",
               f"cosine {c['cosine']:.3f}, JS {c['js']:.3f}, KL {c['kl']:.3f}; "
               f"{len(c['appeared'])} templates appeared, {len(c['vanished'])} vanished", ""]
    return "\n".join(md) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#f0f3f7}pre{background:#f7f7f7;padding:.5em;overflow-x:auto;font-size:12px}
.at{background:#ffe3e3}figure{display:inline-block;margin:.5em}img{max-width:100%}
figcaption{font-size:12px;color:#555}"""

# The report's own check: how many plots decoded, and any script error, written into the DOM
# (read by the headless-browser test; harmless for a reader).
_SCRIPT = """window.__errors=[];window.addEventListener('error',function(e){window.__errors.push(String(e.message));
document.body.setAttribute('data-errors',window.__errors.length)});
window.addEventListener('load',function(){var im=[].slice.call(document.images);
var ok=im.filter(function(i){return i.complete&&i.naturalWidth>0}).length;
document.body.setAttribute('data-plots',im.length);document.body.setAttribute('data-plots-loaded',ok);
document.body.setAttribute('data-errors',window.__errors.length)});"""


def _h(s: Any) -> str:
    return html.escape(str(s))


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    return ("<table><tr>" + "".join(f"<th>{_h(c)}</th>" for c in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in r) + "</tr>" for r in rows) + "</table>")


def to_html(data: Mapping, plots: Mapping[str, bytes]) -> str:
    """The report as one HTML document with every plot inline (``data:image/png;base64``)."""
    b = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>logad report: {_h(data['title'])}</title>",
         f"<style>{_CSS}</style><script>{_SCRIPT}</script></head><body>",
         f"<h1>logad report: {_h(data['title'])}</h1><p>{_h(data['summary_line'])}</p>",
         "<h2>Models (test split)</h2>", _html_table(*_metric_rows(data))]
    for name, title in data["plot_titles"].items():
        if name in plots:
            src = base64.b64encode(plots[name]).decode()
            b.append(f"<figure id='plot-{_h(name)}'><img alt='{_h(title)}' data-plot='{_h(name)}' "
                     f"src='data:image/png;base64,{src}'><figcaption>{_h(title)}</figcaption></figure>")
    b.append("<h2>Top anomalies</h2>")
    for a in data["top_anomalies"]:
        lines = "".join(f"<span class='{'at' if ln['at'] else ''}'>{_h(ln['line_no'])}: {_h(ln['raw'])}</span>\n"
                        for ln in a.get("context", [])) or "(raw lines not found)"
        b.append(f"<h3>#{_h(a['rank'])} {_h(a['session_id'])}</h3><p>score {_h(_fmt(a['score']))}, label "
                 f"{_h(a.get('label'))}, {_h(a.get('ref_path'))}:{_h(a.get('ref_line_no'))}</p><pre>{lines}</pre>")
    b += ["<h2>Dominant templates</h2>", _html_table(["template", "lines"], [[t["template"], str(t["count"])] for t in data["templates"]])]
    b.append("<h2>Nearest normal neighbours</h2>")
    b.append(_html_table(["flagged", "nearest normal", "distance", "differs (flagged vs normal)"], [
        [n["session_id"], str(n.get("neighbour")), _fmt(n.get("distance")),
         "; ".join(f"{d['feature']}: {d['flagged']:g} vs {d['neighbour']:g}" for d in n.get("differs", []))]
        for n in data["nearest_normal"]]))
    if data.get("missed_events"):
        b += ["<h2>Events the sequence model missed</h2>", _html_table(_MISSED_HEAD, data["missed_events"])]
    b.append("<h2>False positives and false negatives</h2>")
    for kind in ("false_positives", "false_negatives"):
        b.append(f"<h3>{_h(kind.replace('_', ' '))} ({_h(data['cases'].get('counts', {}).get(kind, 0))})</h3>")
        b.append(_html_table(["session", "score", "first raw line"], [
            [c["session_id"], _fmt(c["score"]), c["lines"][0]["raw"] if c.get("lines") else "(not found)"]
            for c in data["cases"].get(kind, [])[:10]]))
    if data.get("triage"):
        from logad.report.triage import (LINES_HEAD, TEMPLATES_HEAD, line_rows, summary_text,
                                         template_rows)

        t = data["triage"]
        b += ["<h2 id='lines-to-look-at'>Lines to look at</h2>", f"<p>{_h(summary_text(t))}</p>",
              "<h3>Top LOOK templates</h3>", _html_table(TEMPLATES_HEAD, template_rows(t)),
              "<h3>LOOK lines, most likely first</h3>", _html_table(LINES_HEAD, line_rows(t))]
    if data.get("compare"):
        c = data["compare"]
        b.append(f"<h2>Compared with the baseline corpus</h2><p>cosine {c['cosine']:.3f}, JS {c['js']:.3f}, "
                 f"KL {c['kl']:.3f}; {len(c['appeared'])} templates appeared, {len(c['vanished'])} vanished</p>")
    b.append("</body></html>")
    return "\n".join(b)
