"""Masking: named RE2 rules applied to whole Arrow arrays, never line by line in Python.

A rule is ``(name, pattern, replace)``: every match of ``pattern`` (RE2 syntax) is replaced by
``replace`` (default ``<*>``, Drain's own wildcard, so a masked token is a parameter of the
template and never a literal). ``replace`` may use RE2 back-references (``\\1``) to keep context
such as the key of ``user=root``.

Rules apply in order. For speed, consecutive rules with the same plain ``replace`` (no
back-reference) run as one pass over the array: their patterns are joined into one
leftmost-first alternation, so at any position the earlier rule wins, and each byte is scanned
once for the whole group instead of once per rule. :func:`compile_passes` does the grouping;
:func:`mask_array` runs the passes with :func:`pyarrow.compute.replace_substring_regex`.

Most lines of a log differ only in their digits, and RE2 costs about 0.1-0.2 µs per row and pass
however short the row, so :func:`mask_array` masks each *digit shape* once when it can: every
digit 2-9 becomes 1 (:func:`canonical_digits`), the shapes are deduplicated, masked, and taken
back onto the lines. This is exact, not a heuristic. When no pattern can tell the digits 1-9
apart (:func:`digit_blind`: no literal digit 1-9 and no class holding some of them but not all),
a line and its shape match every pass at the same places, so their masked texts differ at most
where both hold a digit 1-9; a shape whose masked text holds no digit 1-9 is therefore the masked
text of each of its lines, and lines whose shape keeps a digit are masked one by one. While a batch's
sample has too many distinct shapes (HDFS block ids vary in length, say), its next pass runs line
by line and the shapes are counted again for the passes left (once block ids are masked, HDFS
lines have few shapes). Between passes the masked shapes are deduplicated again: a pass often
makes many of them equal (HDFS addresses), and the later passes run on what is left.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logad.errors import ConfigError

__all__ = ["MASK", "MaskRule", "MaskPass", "rules_from_config", "select_rules", "compile_passes",
           "mask_array", "rules_to_json", "digit_blind", "canonical_digits"]

#: What a masked value becomes: Drain's parameter token.
MASK = "<*>"

_BACKREF = re.compile(r"\\[0-9]")

#: Digit-shape deduplication: rows sampled per batch, and the largest share of distinct shapes
#: in the sample for which it is used (above it the batch is masked line by line).
DEDUPE_SAMPLE = 4096
DEDUPE_MAX_SHARE = 0.5
_MIN_DEDUPE_ROWS = 64


@dataclass(frozen=True)
class MaskRule:
    """One masking rule.

    Parameters
    ----------
    name : str
        Unique name, used by ``--no-mask NAME``.
    pattern : str
        RE2 regular expression (no look-around, no back-references in the pattern).
    replace : str, default "<*>"
        RE2 rewrite string; ``\\1`` .. ``\\9`` insert capture groups.
    """

    name: str
    pattern: str
    replace: str = MASK

    @property
    def fusable(self) -> bool:
        """True when the rule can share a pass with its neighbours (no back-reference)."""
        return not _BACKREF.search(self.replace)


@dataclass(frozen=True)
class MaskPass:
    """One ``replace_substring_regex`` call: a pattern, its rewrite, and the rules it holds."""

    pattern: str
    replace: str
    names: tuple[str, ...]


def _rule(entry: Any, where: str) -> MaskRule:
    if not isinstance(entry, Mapping) or "name" not in entry or "pattern" not in entry:
        raise ConfigError(f"{where}: each masking rule needs 'name' and 'pattern', got {entry!r}")
    unknown = set(entry) - {"name", "pattern", "replace", "doc"}
    if unknown:
        raise ConfigError(f"{where}: rule {entry['name']!r} has unknown key(s) {sorted(unknown)}")
    rule = MaskRule(str(entry["name"]), str(entry["pattern"]), str(entry.get("replace", MASK)))
    _check_pattern(rule, where)
    return rule


def _check_pattern(rule: MaskRule, where: str) -> None:
    try:
        pc.replace_substring_regex(pa.array(["x"], pa.string()), rule.pattern, rule.replace)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ConfigError(f"{where}: masking rule {rule.name!r} is not a valid RE2 pattern "
                          f"({exc}); RE2 has no look-around and no back-references") from None


def _preset_key(presets: Mapping[str, Any], preset: str | None) -> str | None:
    if not preset:
        return None
    for key in presets:
        if str(key).lower() == preset.lower():
            return key
    return None


def rules_from_config(masking_cfg: Mapping[str, Any], preset: str | None = None,
                      preset_rules: Sequence[Any] = ()) -> list[MaskRule]:
    """All rules for one run: the preset's own rules first, then the generic ``rules``.

    Parameters
    ----------
    masking_cfg : mapping
        Parsed ``configs/masking.yaml``: ``rules`` (list) and optional ``presets`` (name -> list).
    preset : str, optional
        Preset name of the input (``manifest.json`` of ingest); matched case-insensitively.
    preset_rules : sequence, optional
        Extra rules from ``configs/presets/<name>.yaml`` (its ``masking:`` key); they run after
        the ``presets`` section of masking.yaml and before the generic rules.

    Returns
    -------
    list of MaskRule
        In the order they apply. Names are unique (a clash raises :class:`ConfigError`).
    """
    presets = masking_cfg.get("presets") or {}
    key = _preset_key(presets, preset)
    out: list[MaskRule] = []
    if key is not None:
        out += [_rule(e, f"masking presets.{key}") for e in presets[key] or []]
    out += [_rule(e, f"preset {preset} masking") for e in preset_rules or []]
    out += [_rule(e, "masking rules") for e in masking_cfg.get("rules") or []]
    seen: set[str] = set()
    for rule in out:
        if rule.name in seen:
            raise ConfigError(f"masking rule name {rule.name!r} is used twice; names must be unique")
        seen.add(rule.name)
    return out


def select_rules(rules: Sequence[MaskRule], disabled: Iterable[str] = ()) -> list[MaskRule]:
    """Drop the rules named in ``disabled`` (``--no-mask``); an unknown name is an error."""
    disabled = list(disabled)
    names = [r.name for r in rules]
    unknown = [d for d in disabled if d not in names]
    if unknown:
        raise ConfigError(f"--no-mask: unknown rule(s) {', '.join(unknown)}; "
                          f"known: {', '.join(names)}")
    return [r for r in rules if r.name not in set(disabled)]


def compile_passes(rules: Sequence[MaskRule]) -> list[MaskPass]:
    """Group consecutive fusable rules with the same ``replace`` into one alternation pass."""
    passes: list[MaskPass] = []
    group: list[MaskRule] = []

    def flush() -> None:
        if group:
            pattern = group[0].pattern if len(group) == 1 else "|".join(
                f"(?:{r.pattern})" for r in group)
            passes.append(MaskPass(pattern, group[0].replace, tuple(r.name for r in group)))
            group.clear()

    for rule in rules:
        if not rule.fusable:
            flush()
            passes.append(MaskPass(rule.pattern, rule.replace, (rule.name,)))
        elif group and group[0].replace == rule.replace:
            group.append(rule)
        else:
            flush()
            group.append(rule)
    flush()
    return passes


def _parse_tree_blind(items: Any, c: Any) -> bool:
    for op, av in items:
        if op in (c.LITERAL, c.NOT_LITERAL):
            if 0x31 <= av <= 0x39:
                return False
        elif op is c.IN:
            for iop, iav in av:
                if iop in (c.LITERAL, c.NOT_LITERAL) and 0x31 <= iav <= 0x39:
                    return False
                if iop is c.RANGE:
                    lo, hi = max(iav[0], 0x31), min(iav[1], 0x39)
                    if lo <= hi and (lo, hi) != (0x31, 0x39):
                        return False
                elif iop not in (c.LITERAL, c.NOT_LITERAL, c.RANGE, c.CATEGORY, c.NEGATE):
                    return False
        elif op is c.BRANCH:
            if not all(_parse_tree_blind(b, c) for b in av[1]):
                return False
        elif op is c.SUBPATTERN:
            if not _parse_tree_blind(av[3], c):
                return False
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
            if not _parse_tree_blind(av[2], c):
                return False
        elif op not in (c.AT, c.ANY, c.CATEGORY):
            return False  # anything else (back-references, look-around, ...): not proven
    return True


@lru_cache(maxsize=64)
def _blind(patterns: tuple[str, ...]) -> bool:
    # the stdlib's own regex parser; RE2 syntax it rejects -> False
    import re._constants as c
    import re._parser as sre

    try:
        return all(_parse_tree_blind(sre.parse(p), c) for p in patterns)
    except Exception:  # noqa: BLE001 - any doubt means "not proven", never an error
        return False


def digit_blind(passes: Sequence[MaskPass]) -> bool:
    """True when no pass can tell the digits 1-9 apart, so digit shapes may be masked once.

    A pattern is blind when it holds no literal digit 1-9 and every character class holds all
    of 1-9 or none (``\\d``, ``\\w``, ``[0-9a-f]`` do; ``[0-5]``, ``7`` do not). Quantifier
    counts such as ``{1,3}`` are not characters. A pattern the check cannot read is not blind.
    """
    return _blind(tuple(p.pattern for p in passes))


def canonical_digits(values: pa.Array) -> pa.Array:
    """``values`` with every digit 2-9 replaced by 1 (same lengths; nulls stay null).

    Works on the UTF-8 bytes at once (an ASCII digit byte never occurs inside a multi-byte
    character).
    """
    data = values.buffers()[2]
    if data is None or len(values) == 0:
        return values
    offsets = np.frombuffer(values.buffers()[1], np.int32)[values.offset:values.offset + len(values) + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    b = np.frombuffer(data, np.uint8)[start:end]  # only this slice's bytes
    d = b - np.uint8(0x32)                        # 2..9 -> 0..7, everything else wraps above 7
    out = b - (d < 8).view(np.uint8) * (d + np.uint8(1))
    validity = pc.is_valid(values).buffers()[1] if values.null_count else None
    return pa.Array.from_buffers(pa.string(), len(values),
                                 [validity, pa.py_buffer(offsets - np.int32(start)),
                                  pa.py_buffer(out)], values.null_count, 0)


def _mask_each(values: pa.Array, passes: Sequence[MaskPass]) -> pa.Array:
    for mp in passes:
        values = pc.replace_substring_regex(values, mp.pattern, mp.replace)
    return values


def _mask_distinct(dictionary: pa.Array, indices: pa.Array, passes: Sequence[MaskPass]
                   ) -> tuple[pa.Array, pa.Array]:
    """Run ``passes`` over distinct values only; ``take(dictionary, indices)`` is the text.

    A pass often makes distinct values equal (16k HDFS shapes are 250 once their addresses are
    masked), so after each pass the values are deduplicated again and the indices composed:
    the later passes, the costly number pass among them, run on far fewer values.
    """
    for mp in passes:
        dictionary = pc.replace_substring_regex(dictionary, mp.pattern, mp.replace)
        if len(dictionary) >= _MIN_DEDUPE_ROWS:
            enc = pc.dictionary_encode(dictionary)
            if len(enc.dictionary) < 0.8 * len(dictionary):
                dictionary, indices = enc.dictionary, pc.take(enc.indices, indices)
    return dictionary, indices


def _mask_by_shape(values: pa.Array, passes: Sequence[MaskPass]) -> pa.Array | None:
    """Mask each digit shape once (see the module docstring); None when it would not pay."""
    k = min(len(values), DEDUPE_SAMPLE)
    if pc.count_distinct(canonical_digits(values.slice(0, k))).as_py() > DEDUPE_MAX_SHARE * k:
        return None
    enc = pc.dictionary_encode(canonical_digits(values))
    masked_shapes, indices = _mask_distinct(enc.dictionary, enc.indices, passes)
    out = pc.take(masked_shapes, indices)
    keeps_digit = pc.match_substring_regex(masked_shapes, "[1-9]")
    if pc.any(keeps_digit).as_py():
        rows = pc.fill_null(pc.take(keeps_digit, indices), False)
        out = pc.replace_with_mask(out, rows, _mask_each(values.filter(rows), passes))
    return out


def mask_array(values: pa.Array | pa.ChunkedArray, passes: Sequence[MaskPass], *,
               dedupe: bool = True) -> pa.Array:
    """Mask a string array; nulls stay null.

    Parameters
    ----------
    values : pa.Array or pa.ChunkedArray
        ``string`` or ``large_string``.
    passes : sequence of MaskPass
        From :func:`compile_passes`.
    dedupe : bool, default True
        Mask each digit shape once where that is exact and pays (see the module docstring);
        the result is the same either way.

    Examples
    --------
    >>> import pyarrow as pa
    >>> p = compile_passes([MaskRule("num", r"\\d+")])
    >>> mask_array(pa.array(["took 12 ms"]), p).to_pylist()
    ['took <*> ms']
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    passes = list(passes)
    for i in range(len(passes)):
        rest = passes[i:]
        if dedupe and len(values) >= _MIN_DEDUPE_ROWS and digit_blind(rest):
            out = _mask_by_shape(values, rest)
            if out is not None:
                return out
        values = _mask_each(values, rest[:1])  # too many shapes yet: one pass line by line
    return values


def rules_to_json(rules: Sequence[MaskRule]) -> list[dict[str, str]]:
    """Plain-JSON form of the rules, as stored in the template state."""
    return [{"name": r.name, "pattern": r.pattern, "replace": r.replace} for r in rules]
