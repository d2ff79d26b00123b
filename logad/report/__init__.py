"""Reports of a run: data, Markdown and one self-contained HTML file (:func:`run_report`)."""

from logad.report.build import run_report

__all__ = ["run_report"]
