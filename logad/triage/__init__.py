"""LOOK/SKIP line triage: which lines of a log a person should read.

``labels`` (ground truth, user JSONL, LLM labels) → ``features`` (17 handcrafted features, word
TF-IDF on masked lines, character TF-IDF on raw lines) → ``train`` (logistic regression, grid
search with the dataset as the group) → ``export`` (one portable JSON, parity-checked) →
``scorer`` (NumPy and pyarrow only) → ``predict`` (LOOK rows and the summary). No Ray here; the
runner is :mod:`logad.ray.triage`.
"""

__all__: list[str] = []
