"""Line features of the triage model: 17 handcrafted numbers, and the two texts the TF-IDF parts read.

* the **masked** line (logad's masking rules, :mod:`logad.parsing.masking`, generic rules only:
  triage runs on systems it has never seen, so no preset) feeds the word TF-IDF (1-3-grams);
* the **raw** line feeds the character TF-IDF (3-6-grams);
* :func:`handcrafted` gives the 17 numbers of :data:`HANDCRAFTED`, counts through ``log1p``.

Everything here works on whole Arrow arrays with RE2 (``pyarrow.compute``), is used unchanged by
training and by the NumPy scorer (:mod:`logad.triage.scorer`), and never imports scikit-learn.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logad.parsing.masking import MaskPass, compile_passes, mask_array, rules_from_config

__all__ = ["HANDCRAFTED", "WORD_TOKEN_PATTERN", "handcrafted", "mask_passes", "masked_lines",
           "as_string_array"]

#: Word tokens of the masked line: the mask itself, or a run of word characters (lower-cased).
WORD_TOKEN_PATTERN = r"<\*>|\w+"

_LEVEL = r"(?i)(ERROR|FATAL|CRITICAL|WARN|EXCEPTION|FAIL)"
_STACK = r"Traceback \(most recent|^\s*at [\w$.<>]+\(|\bat [a-z][\w$]*\.[\w$.]+\(|Caused by:"
_NEGATIVE = (r"(?i)\b(unable|cannot|can't|could not|couldn't|timeout|timed out|denied|refused|"
             r"panic|oom|out of memory|abort|aborted|killed|not found|invalid|unreachable|lost|"
             r"corrupt\w*|broken|unexpected|bad|illegal|reject\w*|missing|no such|fatal|"
             r"segfault|overflow|exceeded|unavailable|dropped|died|crash\w*)\b")
_PATH = r"(?:/[\w.@~+%-]+){2,}|\b[A-Za-z]:\\"
_HEX = r"\b(?:0[xX][0-9a-fA-F]+|[0-9a-fA-F]{8,})\b"
_REPEATED_PUNCT = r"[!?.*#=~+\-]{3,}"
_KV = r"[\w.-]+=[^\s=]"
_STRUCT = r"[\[\]{}()<>\"'=:;,|]"
_WORD = r"\S+"
_ALLCAPS = r"\b[A-Z][A-Z0-9_]+\b"
_EMPHASIS = r"!|\*\*+|##+"

#: Names of the handcrafted features, in column order.
HANDCRAFTED = ("has_level", "has_stack", "has_negative", "n_negative", "has_path", "n_hex",
               "has_repeated_punct", "n_kv", "uppercase_ratio", "digit_ratio", "struct_punct",
               "word_count", "n_allcaps", "unique_ratio", "leading_ws", "n_emphasis", "length")


def as_string_array(lines: Any) -> pa.Array:
    """``lines`` (list of str, Arrow array or chunked array) as one ``string`` array."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks() if lines.num_chunks != 1 else lines.chunk(0)
    if not isinstance(lines, pa.Array):
        lines = pa.array(list(lines), pa.string())
    if pa.types.is_large_string(lines.type):
        lines = lines.cast(pa.string())
    return pc.fill_null(lines, "")


def mask_passes(masking_cfg: Mapping[str, Any]) -> list[MaskPass]:
    """The masking passes triage uses: the generic ``rules`` of ``configs/masking.yaml``."""
    return compile_passes(rules_from_config({"rules": masking_cfg.get("rules") or []}))


def masked_lines(lines: Any, passes: Sequence[MaskPass]) -> pa.Array:
    """Lines with logad's masking rules applied (the text of the word TF-IDF)."""
    return mask_array(as_string_array(lines), passes)


def _count(values: pa.Array, pattern: str) -> np.ndarray:
    return pc.count_substring_regex(values, pattern).to_numpy(zero_copy_only=False).astype(np.float64)


def _unique_ratio(values: pa.Array) -> np.ndarray:
    words = pc.split_pattern_regex(values, r"\s+")
    out = np.empty(len(values), np.float64)
    for i, ws in enumerate(words.to_pylist()):
        ws = [w for w in ws if w]
        out[i] = len(set(ws)) / len(ws) if ws else 0.0
    return out


def handcrafted(lines: Any) -> np.ndarray:
    """The 17 handcrafted features of every line, float64 of shape ``(n, 17)``.

    Counts and lengths go through ``log1p`` (a 2,000-character line is not 100 times a
    20-character one); ratios stay in [0, 1]; ``has_*`` are 0/1.

    Examples
    --------
    >>> x = handcrafted(["ERROR: cannot open /var/log/a.log", "all good"])
    >>> float(x[0, HANDCRAFTED.index("has_level")]), float(x[1, HANDCRAFTED.index("has_negative")])
    (1.0, 0.0)
    """
    v = as_string_array(lines)
    n = len(v)
    if n == 0:
        return np.zeros((0, len(HANDCRAFTED)), np.float64)
    length = pc.utf8_length(v).to_numpy(zero_copy_only=False).astype(np.float64)
    safe = np.maximum(length, 1.0)
    n_negative = _count(v, _NEGATIVE)
    lead = length - pc.utf8_length(pc.utf8_ltrim_whitespace(v)).to_numpy(
        zero_copy_only=False).astype(np.float64)
    cols = {
        "has_level": (_count(v, _LEVEL) > 0),
        "has_stack": (_count(v, _STACK) > 0),
        "has_negative": n_negative > 0,
        "n_negative": np.log1p(n_negative),
        "has_path": (_count(v, _PATH) > 0),
        "n_hex": np.log1p(_count(v, _HEX)),
        "has_repeated_punct": (_count(v, _REPEATED_PUNCT) > 0),
        "n_kv": np.log1p(_count(v, _KV)),
        "uppercase_ratio": _count(v, r"[A-Z]") / safe,
        "digit_ratio": _count(v, r"[0-9]") / safe,
        "struct_punct": np.log1p(_count(v, _STRUCT)),
        "word_count": np.log1p(_count(v, _WORD)),
        "n_allcaps": np.log1p(_count(v, _ALLCAPS)),
        "unique_ratio": _unique_ratio(v),
        "leading_ws": np.log1p(lead),
        "n_emphasis": np.log1p(_count(v, _EMPHASIS)),
        "length": np.log1p(length),
    }
    return np.column_stack([np.asarray(cols[k], np.float64) for k in HANDCRAFTED])
