"""Why a model flagged what it flagged: SHAP values, readable feature names, nearest normal
neighbours, false-positive / false-negative lists with their raw lines. Pure functions; the Ray
runner is :mod:`logad.ray.explain`."""

from logad.explain.cases import error_cases, events_files, read_lines, session_refs
from logad.explain.names import read_templates, readable_names, top_features
from logad.explain.neighbours import nearest_normal, sample_ids
from logad.explain.shap_values import ShapExplainer, explainer_kind, sequence_hook

__all__ = ["ShapExplainer", "explainer_kind", "sequence_hook", "read_templates", "readable_names",
           "top_features", "nearest_normal", "sample_ids", "error_cases", "events_files",
           "read_lines", "session_refs"]
