"""Source presets: how the lines of one log system split into fields, times, labels and ids.

A preset is data, one YAML file under ``configs/presets/``::

    name: HDFS
    format: "<Date> <Time> <Pid> <Level> <Component>: <Content>"   # or  regex: '(?P<...>...)'
    fields: {level: Level, component: Component, content: Content}
    timestamp: {fields: [Date, Time], format: "%y%m%d %H%M%S"}      # or {field: X, epoch: s}
    label: {field: Label, normal: "-"}                             # BGL, Thunderbird
    extract: {block_ids: {regex: 'blk_-?\\d+', all: true}}
    masking: []                                                    # extra rules for parse
    entry_start: '^\\d{2}:\\d{2}'                                   # multi-line entries (LO2)

:func:`load_preset` checks the file and builds a frozen :class:`Preset`; :func:`structure_lines`
turns a batch of raw lines into the canonical columns with :mod:`pyarrow.compute` only.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from logad.config import CONFIG_DIR, parse_yaml
from logad.errors import ConfigError
from logad.sources.formats import (LinePattern, check_re2, compile_format, compile_regex,
                                   clean_lines, epoch_to_timestamp, extract_all, extract_first,
                                   fields_without_content,
                                   parse_timestamp, split_fields, split_fraction_format)

__all__ = ["PRESET_DIR", "DEFAULT_YEAR", "TimestampSpec", "LabelSpec", "ExtractSpec", "Preset",
           "list_presets", "load_preset", "preset_from_format", "preset_from_regex",
           "structure_lines"]

PRESET_DIR = CONFIG_DIR / "presets"
#: Year given to timestamps whose format has none (syslog style), so that they stay ordered.
DEFAULT_YEAR = 1970

_TOP_KEYS = {"name", "description", "format", "regex", "fields", "timestamp", "label", "extract",
             "masking", "entry_start"}
_CANONICAL = ("level", "component", "content")
_RESERVED = {"source", "path", "line_no", "order", "timestamp", "level", "component", "content",
             "raw", "matched", "label"}
_YEAR_DIRECTIVES = ("%Y", "%y", "%G", "%C")
_DAY_DIRECTIVES = ("%d", "%e", "%j", "%m", "%b", "%B", "%h", "%U", "%W")


@dataclass(frozen=True)
class TimestampSpec:
    """How to build ``timestamp``: join ``fields`` with ``sep`` and parse with ``format``, or read
    the single field as an integer epoch in ``epoch`` units (``s``, ``ms``, ``us``, ``ns``).
    ``default_year`` fills formats without a year; formats without a date get Jan 1st of it."""

    fields: tuple[str, ...]
    format: str | None = None
    epoch: str | None = None
    sep: str = " "
    default_year: int = DEFAULT_YEAR


@dataclass(frozen=True)
class LabelSpec:
    """``label`` is 0 where ``field`` is one of ``normal``, 1 otherwise, null when unmatched."""

    field: str
    normal: tuple[str, ...]


@dataclass(frozen=True)
class ExtractSpec:
    """A column taken from the content: first match (string) or all matches (list<string>)."""

    name: str
    regex: str
    all: bool = False


@dataclass(frozen=True)
class Preset:
    """A validated source preset; see the module docstring for the YAML it comes from."""

    name: str
    pattern: LinePattern
    fields: Mapping[str, str | None]
    timestamp: TimestampSpec | None = None
    label: LabelSpec | None = None
    extract: tuple[ExtractSpec, ...] = ()
    masking: tuple[Any, ...] = ()
    entry_start: str | None = None
    description: str = ""
    path: str | None = field(default=None, compare=False)

    @property
    def columns(self) -> tuple[str, ...]:
        """Names of the ``f_<field>`` columns :func:`structure_lines` adds."""
        return tuple(_field_column(f) for f in self.pattern.fields)


def _field_column(name: str) -> str:
    return "f_" + re.sub(r"\W", "_", name.strip(), flags=re.ASCII).lower()


def list_presets() -> list[str]:
    """Names of the presets under ``configs/presets`` (file stems, sorted case-insensitively)."""
    if not PRESET_DIR.is_dir():
        return []
    return sorted((p.stem for p in PRESET_DIR.glob("*.yaml")), key=str.lower)


def _find(name_or_path: str | os.PathLike) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"preset file {path} not found")
        return path
    wanted = str(name_or_path).lower()
    for stem in list_presets():
        if stem.lower() == wanted:
            return PRESET_DIR / f"{stem}.yaml"
    raise ConfigError(f"unknown preset {str(name_or_path)!r}; available presets: "
                      f"{', '.join(list_presets())} (or give a path to a preset YAML)")


def load_preset(name_or_path: str | os.PathLike, *, default_year: int | None = None) -> Preset:
    """Load and validate a preset by name (case-insensitive) or path to its YAML.

    Parameters
    ----------
    name_or_path : str or path
        ``"HDFS"``, ``"lo2"``, ``"generic"``, ... (see :func:`list_presets`) or a YAML file.
    default_year : int, optional
        Overrides ``timestamp.default_year`` (1970 unless the file says otherwise).

    Raises
    ------
    ConfigError
        Unknown name (the message lists the presets) or a key/value that does not validate.

    Examples
    --------
    >>> load_preset("hdfs").fields["level"]
    'Level'
    """
    path = _find(name_or_path)
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"preset {path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"preset {path}: expected a mapping at the top level")
    data.setdefault("name", path.stem)
    preset = _build(data, where=f"preset {path}")
    preset = dataclasses.replace(preset, path=str(path))
    return _with_year(preset, default_year)


def preset_from_format(fmt: str, *, name: str = "custom", timestamp_format: str | None = None,
                       default_year: int | None = None) -> Preset:
    """A preset for a user-supplied logparser-style format string.

    Fields called ``Level``, ``Component`` and ``Content`` (any case) fill the canonical columns;
    without a ``Content`` field the content is the whole line. With ``timestamp_format`` the
    fields ``Date`` and ``Time`` (those present, in that order) are parsed as the timestamp.

    >>> preset_from_format("<Time> <Level> <Content>").fields["level"]
    'Level'
    """
    return _from_pattern(compile_format(fmt), name, timestamp_format, default_year)


def preset_from_regex(rx: str, *, name: str = "custom", timestamp_format: str | None = None,
                      default_year: int | None = None) -> Preset:
    """Like :func:`preset_from_format`, for a regex with named groups."""
    return _from_pattern(compile_regex(rx), name, timestamp_format, default_year)


def _from_pattern(pattern: LinePattern, name: str, timestamp_format: str | None,
                  default_year: int | None) -> Preset:
    by_lower = {f.lower(): f for f in pattern.fields}
    fields = {c: by_lower.get(c) for c in _CANONICAL}
    ts = None
    if timestamp_format:
        used = tuple(by_lower[k] for k in ("date", "time", "timestamp") if k in by_lower)
        if not used:
            raise ConfigError(f"timestamp_format {timestamp_format!r} given but the pattern has no "
                              f"Date, Time or Timestamp field (fields: {', '.join(pattern.fields)})")
        if "%f" in timestamp_format:
            split_fraction_format(timestamp_format)
        ts = TimestampSpec(fields=used, format=timestamp_format)
    preset = Preset(name=name, pattern=pattern, fields=fields, timestamp=ts)
    return _with_year(preset, default_year)


def _with_year(preset: Preset, year: int | None) -> Preset:
    if year is None or preset.timestamp is None:
        return preset
    if not isinstance(year, int) or isinstance(year, bool):
        raise ConfigError(f"default_year: expected an integer year, got {year!r}")
    return dataclasses.replace(preset, timestamp=dataclasses.replace(preset.timestamp,
                                                                     default_year=year))


# --- validation --------------------------------------------------------------------------------

def _fail(where: str, key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{where}: {key} = {value!r}: {expected}")


def _field_ref(where: str, key: str, value: Any, pattern: LinePattern) -> str:
    if not isinstance(value, str) or value not in pattern.fields:
        raise _fail(where, key, value, f"expected one of the format's fields "
                                       f"({', '.join(pattern.fields)})")
    return value


def _build(data: dict[str, Any], where: str) -> Preset:
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(sorted(_TOP_KEYS))}")
    name = data["name"]
    if not isinstance(name, str) or not name:
        raise _fail(where, "name", name, "expected a non-empty string")
    if ("format" in data) == ("regex" in data):
        raise ConfigError(f"{where}: give exactly one of 'format' or 'regex'")
    key = "format" if "format" in data else "regex"
    try:
        pattern = compile_format(data[key]) if key == "format" else compile_regex(data[key])
    except ConfigError as exc:
        raise ConfigError(f"{where}: {key}: {exc}") from None

    raw_fields = data.get("fields") or {}
    if not isinstance(raw_fields, dict):
        raise _fail(where, "fields", raw_fields, "expected a mapping like {level: Level}")
    fields: dict[str, str | None] = {}
    for canon, ref in raw_fields.items():
        if canon not in _CANONICAL:
            raise _fail(where, f"fields.{canon}", ref, f"unknown canonical column; "
                                                        f"expected one of {', '.join(_CANONICAL)}")
        fields[canon] = None if ref is None else _field_ref(where, f"fields.{canon}", ref, pattern)
    for canon in _CANONICAL:
        fields.setdefault(canon, None)
    if fields["content"] is None and pattern.content_field is not None:
        fields["content"] = pattern.content_field

    extract = _build_extract(data.get("extract"), where)
    masking = data.get("masking") or []
    if not isinstance(masking, list) or not all(isinstance(m, (str, dict)) for m in masking):
        raise _fail(where, "masking", masking, "expected a list of rule names or mappings")
    entry_start = data.get("entry_start")
    if entry_start is not None:
        if not isinstance(entry_start, str) or not entry_start:
            raise _fail(where, "entry_start", entry_start, "expected a regex string")
        check_re2(entry_start, f"{where}: entry_start")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise _fail(where, "description", description, "expected a string")
    return Preset(
        name=name, pattern=pattern, fields=fields,
        timestamp=_build_timestamp(data.get("timestamp"), where, pattern),
        label=_build_label(data.get("label"), where, pattern), extract=extract,
        masking=tuple(masking), entry_start=entry_start, description=description)


def _build_timestamp(spec: Any, where: str, pattern: LinePattern) -> TimestampSpec | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise _fail(where, "timestamp", spec, "expected a mapping with fields/format or field/epoch")
    allowed = {"fields", "field", "format", "epoch", "sep", "default_year"}
    extra = sorted(set(spec) - allowed)
    if extra:
        raise _fail(where, f"timestamp.{extra[0]}", spec[extra[0]],
                    f"unknown key; allowed: {', '.join(sorted(allowed))}")
    refs = spec.get("fields", spec.get("field"))
    refs = [refs] if isinstance(refs, str) else refs
    if not isinstance(refs, list) or not refs:
        raise _fail(where, "timestamp.fields", refs, "expected a field name or a list of them")
    refs = [_field_ref(where, "timestamp.fields", r, pattern) for r in refs]
    fmt, epoch = spec.get("format"), spec.get("epoch")
    if (fmt is None) == (epoch is None):
        raise _fail(where, "timestamp", spec, "give exactly one of 'format' (strptime) or "
                                              "'epoch' (s, ms, us, ns)")
    if fmt is not None:
        if not isinstance(fmt, str) or "%" not in fmt:
            raise _fail(where, "timestamp.format", fmt, "expected a strptime format like "
                                                         "'%Y-%m-%d %H:%M:%S'")
        if "%f" in fmt:
            try:
                split_fraction_format(fmt)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
    if epoch is not None:
        if epoch not in ("s", "ms", "us", "ns") or len(refs) != 1:
            raise _fail(where, "timestamp.epoch", epoch, "expected one of s, ms, us, ns with "
                                                         "exactly one field")
    sep = spec.get("sep", " ")
    if not isinstance(sep, str):
        raise _fail(where, "timestamp.sep", sep, "expected a string")
    year = spec.get("default_year", DEFAULT_YEAR)
    if not isinstance(year, int) or isinstance(year, bool) or not 1 <= year <= 9999:
        raise _fail(where, "timestamp.default_year", year, "expected a year such as 1970")
    return TimestampSpec(fields=tuple(refs), format=fmt, epoch=epoch, sep=sep, default_year=year)


def _build_label(spec: Any, where: str, pattern: LinePattern) -> LabelSpec | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or set(spec) - {"field", "normal"}:
        raise _fail(where, "label", spec, "expected {field: <Field>, normal: <value or list>}")
    ref = _field_ref(where, "label.field", spec.get("field"), pattern)
    normal = spec.get("normal", "-")
    normal = [normal] if isinstance(normal, str) else normal
    if not isinstance(normal, list) or not normal or not all(isinstance(v, str) for v in normal):
        raise _fail(where, "label.normal", spec.get("normal"), "expected a string or list of them")
    return LabelSpec(field=ref, normal=tuple(normal))


def _build_extract(spec: Any, where: str) -> tuple[ExtractSpec, ...]:
    if not spec:
        return ()
    if not isinstance(spec, dict):
        raise _fail(where, "extract", spec, "expected a mapping name -> {regex, all}")
    out = []
    for name, item in spec.items():
        key = f"extract.{name}"
        if not isinstance(name, str) or not name.isidentifier() or name in _RESERVED \
                or name.startswith("f_"):
            raise _fail(where, "extract", name, "column names must be identifiers, not start "
                                                "with f_, and not be an events column")
        item = {"regex": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or set(item) - {"regex", "all"} or "regex" not in item:
            raise _fail(where, key, item, "expected a regex or {regex: ..., all: true|false}")
        rx, every = item["regex"], item.get("all", False)
        if not isinstance(rx, str) or not rx:
            raise _fail(where, f"{key}.regex", rx, "expected a regex string")
        if not isinstance(every, bool):
            raise _fail(where, f"{key}.all", every, "expected true or false")
        check_re2(rx, f"{where}: {key}.regex")
        if pc.match_substring_regex(pa.array([""]), rx)[0].as_py():
            raise _fail(where, f"{key}.regex", rx, "must not match the empty string")
        try:
            (extract_all if every else extract_first)(pa.array(["x"]), rx)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {key}: {exc}") from None
        out.append(ExtractSpec(name=name, regex=rx, all=every))
    return tuple(out)


# --- structuring ---------------------------------------------------------------------------------

def _timestamps(split: pa.Table, spec: TimestampSpec) -> pa.Array | pa.ChunkedArray:
    cols = [split.column(f) for f in spec.fields]
    if spec.epoch is not None:
        return epoch_to_timestamp(cols[0], spec.epoch)
    fmt = spec.format
    if not any(d in fmt for d in _YEAR_DIRECTIVES):
        if any(d in fmt for d in _DAY_DIRECTIVES):
            cols, fmt = [pa.scalar(str(spec.default_year))] + cols, "%Y" + spec.sep + fmt
        else:
            cols, fmt = [pa.scalar(f"{spec.default_year:04d}-01-01")] + cols, "%Y-%m-%d" + spec.sep + fmt
    joined = cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, spec.sep)
    return parse_timestamp(joined, fmt)


def structure_lines(raw: pa.Array | pa.ChunkedArray, preset: Preset) -> pa.Table:
    """Split a batch of raw lines into the canonical event columns of ``preset``.

    Parameters
    ----------
    raw : pyarrow.Array or ChunkedArray of string
        Lines (or joined multi-line entries) as read; trailing ``\\r`` is dropped.
    preset : Preset

    Returns
    -------
    pyarrow.Table
        Row-aligned with ``raw``: ``timestamp`` (timestamp[us], null when absent or not
        parseable), ``level``, ``component``, ``content`` (string; content is the whole line when
        it did not match), ``matched`` (bool), ``label`` (int8; 1 anomalous, 0 normal, null when
        the preset has no label), one ``f_<field>`` string column per format field, then the
        preset's extract columns (``list<string>`` for ``all: true``, else string).

    Examples
    --------
    >>> t = structure_lines(pa.array(["081109 203615 148 INFO dfs.DataNode: x blk_1"]),
    ...                     load_preset("HDFS"))
    >>> t.column("block_ids").to_pylist(), str(t.column("timestamp")[0])
    ([['blk_1']], '2008-11-09 20:36:15')
    """
    split = fields_without_content(raw, split_fields(raw, preset.pattern), preset.pattern)
    n = split.num_rows
    matched = split.column("matched")
    null_str = pa.nulls(n, pa.string())
    cols: dict[str, Any] = {}
    if preset.timestamp is not None and n:
        # an unmatched line keeps the fields it still has (see split_fields), its time too
        cols["timestamp"] = _timestamps(split, preset.timestamp)
    else:
        cols["timestamp"] = pa.nulls(n, pa.timestamp("us"))
    for canon in _CANONICAL:
        ref = preset.fields.get(canon)
        cols[canon] = split.column(ref) if ref else null_str
    if preset.fields.get("content") is None:
        cols["content"] = clean_lines(raw)
    cols["matched"] = matched
    if preset.label is not None:
        value = split.column(preset.label.field)
        normal = pc.is_in(value, value_set=pa.array(preset.label.normal, pa.string()))
        cols["label"] = pc.cast(pc.if_else(pc.is_valid(value), pc.invert(normal), None), pa.int8())
    else:
        cols["label"] = pa.nulls(n, pa.int8())
    for f in preset.pattern.fields:
        cols[_field_column(f)] = split.column(f)
    content = cols["content"]
    for ex in preset.extract:
        if n == 0:
            cols[ex.name] = pa.array([], pa.list_(pa.string()) if ex.all else pa.string())
        else:
            cols[ex.name] = (extract_all if ex.all else extract_first)(content, ex.regex)
    return pa.table(cols)
