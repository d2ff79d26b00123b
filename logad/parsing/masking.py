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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from logad.errors import ConfigError

__all__ = ["MASK", "MaskRule", "MaskPass", "rules_from_config", "select_rules", "compile_passes",
           "mask_array", "rules_to_json"]

#: What a masked value becomes: Drain's parameter token.
MASK = "<*>"

_BACKREF = re.compile(r"\\[0-9]")


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


def mask_array(values: pa.Array | pa.ChunkedArray, passes: Sequence[MaskPass]) -> pa.Array:
    """Mask a string array; nulls stay null.

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
    for mp in passes:
        values = pc.replace_substring_regex(values, mp.pattern, mp.replace)
    return values


def rules_to_json(rules: Sequence[MaskRule]) -> list[dict[str, str]]:
    """Plain-JSON form of the rules, as stored in the template state."""
    return [{"name": r.name, "pattern": r.pattern, "replace": r.replace} for r in rules]
