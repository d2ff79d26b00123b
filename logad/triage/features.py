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


def _has(values: pa.Array, pattern: str) -> np.ndarray:
    return pc.match_substring_regex(values, pattern).to_numpy(zero_copy_only=False)


# Single-character classes are counted on the bytes (RE2 matched them one by one, slowly): each is
# ASCII, and no byte of a multi-byte UTF-8 character is ASCII, so byte counts are match counts.
_UPPER, _DIGIT, _STRUCT_BIT, _SPACE = 1, 2, 4, 8
_CLASS = np.zeros(256, np.uint8)
_CLASS[ord("A"):ord("Z") + 1] |= _UPPER
_CLASS[ord("0"):ord("9") + 1] |= _DIGIT
_CLASS[[ord(c) for c in "[]{}()<>\"'=:;,|"]] |= _STRUCT_BIT
_CLASS[[9, 10, 12, 13, 32]] |= _SPACE  # RE2's \s: [\t\n\f\r ]


def _per_line(mask: np.ndarray, offs: np.ndarray) -> np.ndarray:
    """How many bytes of each line (``offs``: byte offsets, ``n + 1``) have ``mask`` set."""
    c = np.zeros(len(mask) + 1, np.int64)
    np.cumsum(mask, out=c[1:])
    return (c[offs[1:]] - c[offs[:-1]]).astype(np.float64)


def _bytes(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes, offsets from 0) of a ``string`` array."""
    n = len(values)
    offs = np.frombuffer(values.buffers()[1], np.int32)[values.offset:values.offset + n + 1].astype(np.int64)
    buf = values.buffers()[2]
    data = np.frombuffer(buf, np.uint8)[offs[0]:offs[-1]] if buf is not None else np.zeros(0, np.uint8)
    return data, offs - offs[0]


def _words(data: np.ndarray, offs: np.ndarray, space: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(word count, share of distinct words) of every line; words: runs of bytes not in ``\\s``."""
    n = len(offs) - 1
    prev = np.ones(len(space), bool)  # a line's first byte follows "whitespace"
    prev[1:] = space[:-1]
    prev[offs[:-1][offs[:-1] < len(space)]] = True
    start = ~space & prev
    count = _per_line(start, offs)
    if not start.any():
        return count, np.zeros(n)
    # the words laid end to end (whitespace dropped) are an Arrow string array: equal words get
    # equal dictionary ids (byte-exact, as Python's set of the split words)
    keep = ~space
    pos = np.zeros(len(space) + 1, np.int64)
    np.cumsum(keep, out=pos[1:])
    word_offs = np.append(pos[np.flatnonzero(start)], pos[-1]).astype(np.int32)
    words = pa.StringArray.from_buffers(len(word_offs) - 1, pa.py_buffer(word_offs),
                                        pa.py_buffer(np.ascontiguousarray(data[keep])))
    ids = pc.dictionary_encode(words).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    line = np.repeat(np.arange(n), count.astype(np.int64))
    pairs = np.sort(line << 32 | ids)  # (np.unique hashes: far slower here)
    first = np.concatenate(([True], pairs[1:] != pairs[:-1]))
    distinct = np.bincount(pairs[first] >> 32, minlength=n)
    return count, np.divide(distinct, count, out=np.zeros(n), where=count > 0)


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
    data, offs = _bytes(v)
    cls = _CLASS[data]
    word_count, unique_ratio = _words(data, offs, (cls & _SPACE) > 0)
    cols = {
        "has_level": _has(v, _LEVEL),
        "has_stack": _has(v, _STACK),
        "has_negative": n_negative > 0,
        "n_negative": np.log1p(n_negative),
        "has_path": _has(v, _PATH),
        "n_hex": np.log1p(_count(v, _HEX)),
        "has_repeated_punct": _has(v, _REPEATED_PUNCT),
        "n_kv": np.log1p(_count(v, _KV)),
        "uppercase_ratio": _per_line((cls & _UPPER) > 0, offs) / safe,
        "digit_ratio": _per_line((cls & _DIGIT) > 0, offs) / safe,
        "struct_punct": np.log1p(_per_line((cls & _STRUCT_BIT) > 0, offs)),
        "word_count": np.log1p(word_count),
        "n_allcaps": np.log1p(_count(v, _ALLCAPS)),
        "unique_ratio": unique_ratio,
        "leading_ws": np.log1p(lead),
        "n_emphasis": np.log1p(_count(v, _EMPHASIS)),
        "length": np.log1p(length),
    }
    return np.column_stack([np.asarray(cols[k], np.float64) for k in HANDCRAFTED])
