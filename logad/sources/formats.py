"""Log-format strings and regexes compiled for RE2, and the vectorised helpers that apply them.

A *format* is a loghub/logparser-style string such as ``<Date> <Time> <Pid> <Level> <Component>:
<Content>``: each ``<Field>`` becomes a lazy named group ``(?P<Field>.*?)``, the text between the
placeholders is a regex fragment (``\\[`` is a literal bracket) in which every run of spaces
matches ``\\s+``, and the pattern is anchored with ``^...$`` and applied to the line with leading
and trailing whitespace stripped: exactly logparser's ``generate_logformat_regex`` applied to
``line.strip()``. A last placeholder at the very end is greedy, which on a stripped line is the
same match and about twice as fast in RE2. Capturing groups written in the literal parts
(``( \\(<Address>\\))?``) become non-capturing: :func:`pyarrow.compute.extract_regex` accepts
named groups only.

Everything here works on whole Arrow arrays with :mod:`pyarrow.compute` (RE2) and NumPy; there is
no loop over lines in Python.

Most formats are fields separated by whitespace, some with a literal before it (``<Component>:
<Content>``). For those, :func:`split_fields` splits the line on whitespace runs instead of
running the regex (a fifth of the cost): the lazy fields of the regex end at the first whitespace
where the rest can match, so when the split finds every field, each with its literal, the regex
finds the same ones. Lines the split cannot take (too few fields, a missing literal, a vertical
tab, which ASCII splitting treats as whitespace and RE2's ``\\s`` does not) go to the regex.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logad.errors import ConfigError

__all__ = [
    "LinePattern",
    "compile_format",
    "compile_regex",
    "check_re2",
    "clean_lines",
    "has_byte",
    "split_fields",
    "fields_without_content",
    "parse_timestamp",
    "epoch_to_timestamp",
    "extract_first",
    "extract_all",
    "split_fraction_format",
]

_PLACEHOLDER = re.compile(r"(<[^<>]+>)")
_UNIT_US = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}
_SEP = "\x1f"  # unit separator: marks the matches of extract_all before the split


@dataclass(frozen=True)
class LinePattern:
    """A compiled line pattern.

    Attributes
    ----------
    regex : str
        RE2 pattern with one named group per field and no unnamed groups.
    fields : tuple of str
        Field names as written in the format (``"Date"``, ``"PID"``), in pattern order.
    groups : tuple of str
        The RE2 group name of each field (the field name with non-word characters as ``_``).
    content_field : str or None
        The field named ``Content`` (any case), which holds the whole line when it does not match.
    strip : bool
        Match against the line with surrounding whitespace stripped (formats: True, as
        logparser does; regexes: False, they see the line as it is).
    source : str
        The format string or regex the pattern was compiled from.
    suffixes : tuple of str, optional
        For a format of whitespace-separated fields ending in its content field: the literal
        between each other field and the whitespace after it (``""`` or e.g. ``":"``). Lines are
        then split on whitespace (see the module docstring). None: the regex does all lines.
    """

    regex: str
    fields: tuple[str, ...]
    groups: tuple[str, ...]
    content_field: str | None
    strip: bool
    source: str
    suffixes: tuple[str, ...] | None = None


def _sanitize(name: str) -> str:
    group = re.sub(r"\W", "_", name.strip(), flags=re.ASCII)
    if not group or group[0].isdigit():
        group = "_" + group
    return group


def _open_parens(rx: str) -> list[tuple[int, str | None]]:
    """Positions of the capturing ``(`` of a regex and their group names (None when unnamed).

    Escaped parentheses and parentheses inside character classes are skipped.
    """
    out: list[tuple[int, str | None]] = []
    i, in_class = 0, False
    while i < len(rx):
        ch = rx[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            i += 2 if rx[i + 1:i + 2] == "^" else 1
            if rx[i:i + 1] == "]":  # a leading ']' is a literal inside a class
                i += 1
            continue
        elif ch == "(":
            named = re.match(r"\(\?P?<([^>=!]+)>", rx[i:])
            if named:
                out.append((i, named.group(1)))
            elif rx[i + 1:i + 2] != "?":
                out.append((i, None))
        i += 1
    return out


def _noncapturing(rx: str) -> str:
    """Turn every unnamed capturing ``(`` of ``rx`` into ``(?:`` (named groups stay)."""
    for pos, name in reversed(_open_parens(rx)):
        if name is None:
            rx = rx[:pos] + "(?:" + rx[pos + 1:]
    return rx


def check_re2(regex: str, what: str) -> None:
    """Raise :class:`ConfigError` naming ``what`` when RE2 cannot compile ``regex``."""
    try:
        pc.match_substring_regex(pa.array([""], pa.string()), regex)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ConfigError(f"{what}: {regex!r} is not a valid RE2 regex ({exc}); RE2 has no "
                          "backreferences or lookarounds") from None


def _finish(regex: str, fields: list[str], groups: list[str], strip: bool, source: str,
            what: str, suffixes: tuple[str, ...] | None = None) -> LinePattern:
    lowered = [g.lower() for g in groups]
    dupes = sorted({g for g in lowered if lowered.count(g) > 1})
    if dupes:
        raise ConfigError(f"{what} {source!r}: field names must be unique ignoring case and "
                          f"punctuation; repeated: {', '.join(dupes)}")
    check_re2(regex, f"{what} {source!r}")
    content = next((f for f in fields if f.lower() == "content"), None)
    return LinePattern(regex, tuple(fields), tuple(groups), content, strip, source, suffixes)


#: A literal part between fields that whitespace splitting can check: plain characters (no regex
#: syntax, no whitespace), then one or more spaces.
_SPLIT_SEPARATOR = re.compile(r"([A-Za-z0-9:;,=#@%&!~_/-]*) +")


def _split_suffixes(parts: list[str]) -> tuple[str, ...] | None:
    """The literal before the whitespace after each field but the last, or None when the
    format is not whitespace-separated fields ending in its content field."""
    if parts[0] or parts[-1] or parts[-2][1:-1].strip().lower() != "content":
        return None
    seps = parts[2:-1:2]  # the text between consecutive placeholders
    found = [_SPLIT_SEPARATOR.fullmatch(sep) for sep in seps]
    if not all(found):
        return None
    return tuple(m.group(1) for m in found)


def compile_format(fmt: str) -> LinePattern:
    r"""Compile a logparser-style format string into an RE2 :class:`LinePattern`.

    Parameters
    ----------
    fmt : str
        For example ``"<Date> <Time> <Pid> <Level> <Component>: <Content>"``; the text between
        placeholders is regex (escape ``[``, ``|``, ``(`` to mean them literally).

    Returns
    -------
    LinePattern

    Examples
    --------
    >>> compile_format(r"\[<Time>\] <Program> - <Content>").fields
    ('Time', 'Program', 'Content')
    """
    if not isinstance(fmt, str) or not _PLACEHOLDER.search(fmt):
        raise ConfigError(f"format {fmt!r} has no <Field> placeholder; write e.g. "
                          "'<Date> <Time> <Level> <Content>'")
    parts = _PLACEHOLDER.split(fmt)
    regex, fields, groups = [], [], []
    for k, part in enumerate(parts):
        if k % 2 == 0:
            regex.append(re.sub(" +", r"\\s+", _noncapturing(part)))
            continue
        name = part[1:-1].strip()
        fields.append(name)
        groups.append(_sanitize(name))
        last = k == len(parts) - 2 and parts[-1] == ""
        regex.append(f"(?P<{groups[-1]}>.*)" if last else f"(?P<{groups[-1]}>.*?)")
    return _finish("(?s)^" + "".join(regex) + "$", fields, groups, True, fmt, "format",
                   _split_suffixes(parts))


def compile_regex(rx: str) -> LinePattern:
    r"""Compile a regex with named groups (``(?P<Level>...)``) into a :class:`LinePattern`.

    The regex sees the line as it is (not stripped) and is searched, not anchored, unless it
    says ``^...$``. Unnamed groups become non-capturing; group names must be word characters.

    >>> compile_regex(r"^(?P<Level>\w+): (?P<Content>.*)$").content_field
    'Content'
    """
    if not isinstance(rx, str) or not rx:
        raise ConfigError(f"regex {rx!r}: expected a non-empty regex with named groups")
    names = [name for _, name in _open_parens(rx) if name is not None]
    if not names:
        raise ConfigError(f"regex {rx!r} has no named group; write e.g. "
                          r"'^(?P<Level>\w+) (?P<Content>.*)$'")
    bad = [n for n in names if _sanitize(n) != n]
    if bad:
        raise ConfigError(f"regex {rx!r}: group names must be word characters, got {bad}")
    return _finish(_noncapturing(rx), names, list(names), False, rx, "regex")


def has_byte(values: pa.Array | pa.ChunkedArray, char: str) -> bool:
    """Whether any string of ``values`` holds the ASCII character ``char``: one scan of the data
    buffer (``pc.match_substring`` costs about 0.2 µs a string even for one character)."""
    if isinstance(values, pa.ChunkedArray):
        return any(has_byte(c, char) for c in values.chunks)
    data = values.buffers()[2]
    if len(values) == 0 or data is None:
        return False
    width = 8 if pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type) else 4
    offsets = np.frombuffer(values.buffers()[1], np.int64 if width == 8 else np.int32)
    start, end = int(offsets[values.offset]), int(offsets[values.offset + len(values)])
    return bool((np.frombuffer(data, np.uint8)[start:end] == ord(char)).any())


def clean_lines(lines: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    r"""Lines as ``string`` with trailing ``\r``/``\n`` dropped and inner CRLF turned into LF."""
    if not pa.types.is_string(lines.type):
        lines = pc.cast(lines, pa.string())
    if has_byte(lines, "\r"):
        lines = pc.replace_substring(lines, "\r\n", "\n")
    return pc.ascii_rtrim(lines, "\r\n")  # bytes, so UTF-8 safe for these ASCII characters


def split_fields(lines: pa.Array | pa.ChunkedArray, pattern: LinePattern) -> pa.Table:
    r"""Split every line into the pattern's fields: on whitespace where the format allows it (see
    the module docstring), else in one RE2 pass over the batch.

    Parameters
    ----------
    lines : pyarrow.Array or ChunkedArray of string
        Raw lines; trailing ``\r``/``\n`` are dropped first (see :func:`clean_lines`).
    pattern : LinePattern

    Returns
    -------
    pyarrow.Table
        Row-aligned with ``lines``: one string column per field (named as in
        ``pattern.fields``) and ``matched`` (bool). A line that does not match has
        ``matched=False``, the content field holding the whole (cleaned) line and the other
        fields null. A field in an optional part that did not take part is ``""``.

    Examples
    --------
    >>> p = compile_format("<Level>: <Content>")
    >>> split_fields(pa.array(["INFO: up", "garbage"]), p).to_pylist()[1]
    {'Level': None, 'Content': 'garbage', 'matched': False}
    """
    lines = clean_lines(lines)
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks() if lines.num_chunks != 1 else lines.chunk(0)
    target = pc.utf8_trim_whitespace(lines) if pattern.strip else lines
    split = _split_on_whitespace(target, pattern) if pattern.suffixes is not None else None
    if split is None:
        columns, matched = _extract(target, pattern)
    else:
        columns, ok = split
        rest = pc.invert(ok)
        matched = ok
        if pc.any(rest).as_py():  # what the split could not take goes through the regex
            slow, slow_matched = _extract(target.filter(rest), pattern)
            columns = [pc.replace_with_mask(c, rest, s.cast(c.type)) for c, s in zip(columns, slow)]
            matched = pc.replace_with_mask(ok, rest, slow_matched)
    out = {}
    for field, col in zip(pattern.fields, columns):
        out[field] = pc.if_else(matched, col, lines) if field == pattern.content_field else col
    out["matched"] = matched
    return pa.table(out)


def fields_without_content(lines: pa.Array | pa.ChunkedArray, split: pa.Table,
                           pattern: LinePattern) -> pa.Table:
    """``split`` (from :func:`split_fields`) where unmatched lines that hold every field but the
    content (a BGL line with its label, epoch, node... and no message) keep those fields. They
    stay unmatched, their content the whole line. Formats that are not whitespace-separated
    fields (``pattern.suffixes`` None) are returned as they are.
    """
    matched = split.column("matched")
    if pattern.suffixes is None or split.num_rows == 0 or pc.all(matched).as_py():
        return split
    missed = np.flatnonzero(~matched.to_numpy())
    target = clean_lines(pc.take(lines, pa.array(missed)))
    tokens = pc.ascii_split_whitespace(target)
    ok = pc.fill_null(pc.equal(pc.list_value_length(tokens), len(pattern.fields) - 1), False)
    if not pc.any(ok).as_py():
        return split
    tokens = tokens.filter(ok)
    rows = missed[np.asarray(ok.to_numpy(zero_copy_only=False), bool)]
    good = np.ones(len(rows), bool)
    values = []
    for i, suffix in enumerate(pattern.suffixes):
        value = pc.list_element(tokens, i)
        if suffix:
            good &= np.asarray(pc.fill_null(pc.ends_with(value, suffix), False)
                               .to_numpy(zero_copy_only=False), bool)
            value = pc.utf8_slice_codeunits(value, 0, -len(suffix))
        values.append(value)
    if not good.any():
        return split
    where = np.zeros(split.num_rows, bool)
    where[rows[good]] = True
    keep, mask = pa.array(good), pa.array(where)
    for i, value in enumerate(values):
        name = pattern.fields[i]
        col = split.column(name).combine_chunks()
        split = split.set_column(i, name, pc.replace_with_mask(col, mask, value.filter(keep)
                                                              .cast(col.type)))
    return split


def _extract(target: pa.Array, pattern: LinePattern) -> tuple[list[pa.Array], pa.Array]:
    """Fields of every line by the pattern's regex, and whether it matched."""
    parts = pc.extract_regex(target, pattern.regex)
    matched = pc.fill_null(pc.is_valid(parts), False)
    return [pc.struct_field(parts, [i]) for i in range(len(pattern.fields))], matched


def _split_on_whitespace(target: pa.Array, pattern: LinePattern
                         ) -> tuple[list[pa.Array], pa.Array] | None:
    """Fields by splitting on whitespace runs, and which lines that gave (the others go to the
    regex and their fields here are placeholders); None when most lines could not be split."""
    k, n = len(pattern.fields), len(target)
    tokens = pc.ascii_split_whitespace(target, max_splits=k - 1)
    split = pc.fill_null(pc.equal(pc.list_value_length(tokens), k), False)
    if has_byte(target, "\v"):
        split = pc.and_(split, pc.invert(pc.fill_null(pc.match_substring(target, "\v"), False)))
    n_split = pc.sum(split).as_py() or 0
    if n_split * 2 < n:
        return None
    sub = tokens if n_split == n else tokens.filter(split)
    columns = [pc.list_element(sub, i) for i in range(k)]
    with_suffix = None
    for i, suffix in enumerate(pattern.suffixes or ()):
        if suffix:
            has = pc.ends_with(columns[i], suffix)
            with_suffix = has if with_suffix is None else pc.and_(with_suffix, has)
            columns[i] = pc.utf8_slice_codeunits(columns[i], 0, -len(suffix))
    ok = split
    if with_suffix is not None and not pc.all(with_suffix).as_py():
        ok = pc.replace_with_mask(split, split, with_suffix)
    if n_split < n:
        empty = pa.nulls(n, pa.string())
        columns = [pc.replace_with_mask(empty, split, c) for c in columns]
    return columns, ok


def _fraction_us(frac: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Fractional-second digits (``"978"``, ``"675872"``) as a duration in microseconds."""
    six = pc.utf8_slice_codeunits(pc.utf8_rpad(frac, width=6, padding="0"), 0, 6)
    return pc.cast(pc.cast(six, pa.int64()), pa.duration("us"))


def split_fraction_format(fmt: str) -> tuple[str, str]:
    """``"%H:%M:%S,%f"`` -> ``("%H:%M:%S", ",")``; ConfigError unless ``%f`` ends the format."""
    m = re.fullmatch(r"(?s)(.*%.)([^%]+)%f", fmt)
    if m is None or "%f" in m.group(1):
        raise ConfigError(f"timestamp format {fmt!r}: %f must appear once, at the end, after a "
                          "separator such as '.' or ','")
    return m.group(1), m.group(2)


def parse_timestamp(strings: pa.Array | pa.ChunkedArray, fmt: str) -> pa.Array | pa.ChunkedArray:
    """Parse strings with a strptime format into ``timestamp[us]``; failures become null.

    ``%f`` (fractional seconds, 1 to 9 digits, truncated to microseconds) may appear once, at
    the very end of ``fmt`` after a literal separator (``"%H:%M:%S,%f"``): Arrow's strptime has
    no ``%f``, so the fraction is split off with RE2 and added as a duration.

    >>> parse_timestamp(pa.array(["2015-10-18 18:01:47,978", "bad"]), "%Y-%m-%d %H:%M:%S,%f")[0]
    <pyarrow.TimestampScalar: '2015-10-18T18:01:47.978000'>
    """
    if "%f" not in fmt:
        return pc.strptime(strings, format=fmt, unit="us", error_is_null=True)
    main_fmt, sep = split_fraction_format(fmt)
    parts = pc.extract_regex(strings, r"(?s)^(?P<main>.*)" + re.escape(sep) + r"(?P<frac>\d{1,9})$")
    base = pc.strptime(pc.struct_field(parts, [0]), format=main_fmt, unit="us", error_is_null=True)
    return pc.add(base, _fraction_us(pc.struct_field(parts, [1])))


def epoch_to_timestamp(strings: pa.Array | pa.ChunkedArray, unit: str = "s") -> pa.Array | pa.ChunkedArray:
    """Integer epoch strings (``"1117838570"``) in ``unit`` as ``timestamp[us]``; others null.

    >>> epoch_to_timestamp(pa.array(["1117838570", "x"]), "s").to_pylist()[1] is None
    True
    """
    if unit not in _UNIT_US:
        raise ConfigError(f"timestamp epoch unit {unit!r}: expected one of {', '.join(_UNIT_US)}")
    ok = pc.fill_null(pc.match_substring_regex(strings, r"^-?\d{1,18}$"), False)
    ints = pc.cast(pc.if_else(ok, strings, pa.scalar(None, pa.string())), pa.int64())
    ints = pc.divide(ints, 1000) if unit == "ns" else pc.multiply(ints, _UNIT_US[unit])
    return pc.cast(ints, pa.timestamp("us"))


def _value_group(regex: str) -> tuple[int, str | None] | None:
    """The one capturing group of an extract regex (position, name), or None when it has none."""
    groups = _open_parens(regex)
    if len(groups) > 1:
        raise ConfigError(f"extract regex {regex!r}: at most one capturing group, got {len(groups)}")
    return groups[0] if groups else None


def extract_first(strings: pa.Array | pa.ChunkedArray, regex: str) -> pa.Array | pa.ChunkedArray:
    r"""First match of ``regex`` in each string (its one group if it has one), else null.

    >>> extract_first(pa.array(["a [instance: 1f] b", "c"]), r"\[instance: ([0-9a-f-]+)\]").to_pylist()
    ['1f', None]
    """
    group = _value_group(regex)
    if group is None:
        named = f"(?P<value>{regex})"
    elif group[1] is None:
        named = regex[:group[0]] + "(?P<value>" + regex[group[0] + 1:]
    else:
        named = regex
    parts = pc.extract_regex(strings, named)
    return pc.struct_field(parts, [0])


def _odd_items(lists: pa.ListArray, valid: pa.Array) -> pa.ListArray:
    """Keep items 1, 3, 5, ... of each list (the matches between the separators)."""
    offsets = lists.offsets.to_numpy()
    lengths = np.diff(offsets)
    position = np.arange(len(lists.values)) - np.repeat(offsets[:-1], lengths)
    values = lists.values.filter(pa.array(position % 2 == 1))
    counts = np.maximum((lengths - 1) // 2, 0)
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(new_offsets), values, mask=pc.invert(valid))


def extract_all(strings: pa.Array | pa.ChunkedArray, regex: str) -> pa.Array | pa.ChunkedArray:
    r"""Every non-overlapping match of ``regex`` in each string, as ``list<string>``.

    The value of a match is its one group if the regex has one, else the whole match; a string
    without a match gives an empty list and a null string gives null. Each match is wrapped in
    ``\x1f`` separators by one RE2 replace, the strings are split on them, and the odd items
    are kept.

    >>> extract_all(pa.array(["blk_1 to blk_-2", "none"]), r"blk_-?\d+").to_pylist()
    [['blk_1', 'blk_-2'], []]
    """
    if isinstance(strings, pa.ChunkedArray):
        return pa.chunked_array([extract_all(c, regex) for c in strings.chunks],
                                pa.list_(pa.string()))
    ref = r"\1" if _value_group(regex) else r"\0"  # \0: the whole match, no group to capture
    clean = pc.replace_substring(strings, _SEP, "") if has_byte(strings, _SEP) else strings
    marked = pc.replace_substring_regex(clean, regex, _SEP + ref + _SEP)
    lists = pc.split_pattern(marked, _SEP)
    return _odd_items(lists, pc.is_valid(strings))
