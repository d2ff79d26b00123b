"""Read one work unit into batches of log entries, with line numbers and honest counts.

A unit is a byte range of a file (or a whole compressed file). The reader:

* skips the partial line at the start of a range (it belongs to the range before) and finishes the
  last line past the end of the range;
* for multi-line formats (``entry_start`` regex, e.g. Java stack traces under an LO2 line) joins
  continuation lines to the entry above them, reading past the range end for the trailing ones and
  skipping leading ones that belong to the previous range;
* decodes UTF-8 with replacement and counts the lines that needed it;
* for formats without continuation lines, splits, trims and checks the lines of each block as one
  Arrow array (only rejected lines are looked at one by one in Python);
* stops on a truncated ``.gz`` or other read error after yielding what it read, and reports the
  error with the file name and the line it reached; a remote source that sends nothing for
  ``read_timeout_s`` ends the same way (``stats.stalled``), so one stalled file never holds up
  the others.
"""

from __future__ import annotations

import bz2
import gzip
import io
import re
import zlib
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logad.sources.files import ReadStalled, WorkUnit, open_binary

__all__ = ["EntryBatch", "UnitStats", "iter_entries", "decode_lines", "decode_lines_array"]

_READ_BLOCK = 1 << 22
_NUL_REASON = "NUL byte in the line (binary data in a text file)"


@dataclass
class EntryBatch:
    """Entries of one batch: ``raw[i]`` starts on physical line ``line_no[i]`` and spans ``n_lines[i]``."""

    raw: pa.Array
    line_no: Sequence[int]  # list or int64 NumPy array
    n_lines: Sequence[int]


@dataclass
class UnitStats:
    lines_read: int = 0        # physical lines owned by the unit
    lines_in_entries: int = 0  # physical lines that became (part of) an entry
    rejected: int = 0          # physical lines rejected (blank, too long)
    bad_utf8: int = 0          # lines decoded with replacement characters
    bytes: int = 0
    error: str | None = None
    stalled: bool = False      # the source sent nothing for the read timeout (worth a re-run)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # (line_no, reason, raw)


def decode_lines(chunk: bytes) -> tuple[list[str], int]:
    """Split ``chunk`` into lines and decode them as UTF-8 (CRLF or LF endings).

    Returns the lines and how many needed replacement characters.
    """
    try:
        lines = chunk.decode("utf-8").split("\n")
        bad = 0
    except UnicodeDecodeError:
        lines, bad = [], 0
        for part in chunk.split(b"\n"):
            try:
                lines.append(part.decode("utf-8"))
            except UnicodeDecodeError:
                bad += 1
                lines.append(part.decode("utf-8", errors="replace"))
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines], bad


def decode_lines_array(chunk: bytes) -> tuple[pa.Array, int]:
    """:func:`decode_lines` as one Arrow ``string`` array, split and trimmed in C++ when the
    chunk is valid UTF-8 (nearly always); otherwise through :func:`decode_lines`."""
    try:
        whole = pa.array([chunk], pa.binary()).cast(pa.string())  # validates UTF-8
    except pa.ArrowInvalid:
        lines, bad = decode_lines(chunk)
        return pa.array(lines, pa.string()), bad
    lines = pc.list_flatten(pc.split_pattern(whole, "\n"))
    if b"\r" in chunk:
        cr = pc.ends_with(lines, "\r")
        lines = pc.if_else(cr, pc.utf8_slice_codeunits(lines, 0, -1), lines)
    return lines, 0


class _RangeReader:
    """Byte blocks of a unit from its start (after the previous byte) until the end of the file
    (of the member, for a ``.tar`` member: never past the bytes its header declares)."""

    def __init__(self, unit: WorkUnit, timeout_s: float | None = None) -> None:
        self.unit = unit
        self.timeout_s = timeout_s
        self.sf = unit.file
        self.splittable = unit.file.compression is None
        self.starts_clean = True

    def _stream(self):
        sf = self.sf
        raw = open_binary(sf, self.timeout_s)
        if self.splittable:
            return raw
        if sf.member is not None:  # a compressed tar member: its bytes, then decompress
            raw.seek(sf.offset)
            data = raw.read(sf.size)
            raw.close()
            raw = io.BytesIO(data)
        if sf.compression == "gzip":
            return gzip.GzipFile(fileobj=raw, mode="rb")
        if sf.compression == "bz2":
            return bz2.BZ2File(raw, mode="rb")
        return raw

    def blocks(self) -> Iterator[bytes]:
        u, sf = self.unit, self.sf
        fh = self._stream()
        try:
            if self.splittable:
                left = sf.size - u.start if sf.member is not None else None  # a member's end
                if u.start > 0:
                    fh.seek(sf.offset + u.start - 1)
                    self.starts_clean = fh.read(1) == b"\n"
                elif sf.offset:
                    fh.seek(sf.offset)
                while left is None or left > 0:
                    buf = fh.read(_READ_BLOCK if left is None else min(_READ_BLOCK, left))
                    if not buf:
                        break
                    if left is not None:
                        left -= len(buf)
                    yield buf
                return
            # compressed: gather read1 pieces so a truncation error only costs what is undecoded
            pieces: list[bytes] = []
            size = 0
            try:
                while piece := fh.read1(1 << 16):
                    pieces.append(piece)
                    size += len(piece)
                    if size >= _READ_BLOCK:
                        yield b"".join(pieces)
                        pieces, size = [], 0
            except Exception:
                if pieces:
                    yield b"".join(pieces)
                raise
            if pieces:
                yield b"".join(pieces)
        finally:
            fh.close()


class _EntryBuilder:
    """Turns decoded physical lines into entries and keeps the unit's counts."""

    def __init__(self, unit: WorkUnit, stats: UnitStats, entry_start: str | None,
                 max_line_bytes: int) -> None:
        self.rx = re.compile(entry_start) if entry_start else None
        self.stats = stats
        self.max_line_bytes = max_line_bytes
        self.line_no = unit.first_line_no
        # leading continuation lines of a later range belong to the previous range's last entry
        self.skip_continuations = unit.start > 0 and self.rx is not None
        self.entries: list[str] = []
        self.entry_line: list[int] = []
        self.entry_n: list[int] = []
        self.chunks: list[pa.Array] = []         # entry_start None: entries as Arrow arrays
        self.chunk_numbers: list[np.ndarray] = []
        self.n_chunked = 0
        self.done = False

    @property
    def n_entries(self) -> int:
        return len(self.entries) + self.n_chunked

    def _is_start(self, text: str) -> bool:
        return self.rx is None or bool(self.rx.match(text))

    def add(self, lines: list[str], in_range: bool) -> None:
        if self.rx is None:
            self.add_array(pa.array(lines, pa.string()), len(lines) if in_range else 0)
            return
        st = self.stats
        for text in lines:
            if self.done:
                return
            is_start = self._is_start(text)
            if not in_range:
                if is_start or not self.entries:
                    self.done = True  # the next entry belongs to the next range
                    return
                self._continue(text)
                st.lines_read += 1
                self.line_no += 1
                continue
            if self.skip_continuations and not is_start:
                self.line_no += 1
                continue
            self.skip_continuations = False
            st.lines_read += 1
            if _longer_than(text, self.max_line_bytes):
                st.rejected += 1
                st.rejects.append((self.line_no, f"line longer than max_line_bytes={self.max_line_bytes}",
                                   text[:1024]))
            elif "\x00" in text:
                st.rejected += 1
                st.rejects.append((self.line_no, _NUL_REASON, text[:1024]))
            elif not is_start and self.entries:
                self._continue(text)
            elif text.strip("\r \t") == "":
                st.rejected += 1
                st.rejects.append((self.line_no, "blank line", text))
            else:
                self.entries.append(text)
                self.entry_line.append(self.line_no)
                self.entry_n.append(1)
                st.lines_in_entries += 1
            self.line_no += 1

    def add_array(self, lines: pa.Array, n_in: int, has_nul: bool = True) -> None:
        """Formats without continuation lines (``entry_start`` None): the first ``n_in`` lines
        are the range's, each an entry unless blank or too long (checked on the whole array);
        a line after them ends the range. ``has_nul`` False (the bytes hold no NUL, a memchr
        on them) skips the search for lines with a NUL byte."""
        if self.done:
            return
        if n_in < len(lines):
            self.done = True
        lines = lines.slice(0, n_in)
        st, first, n = self.stats, self.line_no, len(lines)
        numbers = np.arange(first, first + n, dtype=np.int64)
        too_long = pc.greater(pc.binary_length(lines), self.max_line_bytes)
        bad = pc.or_(too_long, pc.match_substring_regex(lines, r"^[\r \t]*$"))
        if has_nul:
            bad = pc.or_(bad, pc.match_substring(lines, "\x00"))
        if pc.any(bad).as_py():
            bad_rows = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
            longer = too_long.to_numpy(zero_copy_only=False)
            for i in bad_rows.tolist():
                text = lines[i].as_py()
                st.rejects.append((first + i, f"line longer than max_line_bytes={self.max_line_bytes}",
                                   text[:1024]) if longer[i] else
                                  (first + i, _NUL_REASON, text[:1024]) if "\x00" in text else
                                  (first + i, "blank line", text))
            keep = pc.invert(bad)
            lines, numbers = lines.filter(keep), numbers[keep.to_numpy(zero_copy_only=False)]
            st.rejected += len(bad_rows)
        self.chunks.append(lines)
        self.chunk_numbers.append(numbers)
        self.n_chunked += len(lines)
        st.lines_read += n
        st.lines_in_entries += len(lines)
        self.line_no += n

    def _continue(self, text: str) -> None:
        self.entries[-1] += "\n" + text
        self.entry_n[-1] += 1
        self.stats.lines_in_entries += 1

    def take_batch(self, keep_last: bool) -> EntryBatch | None:
        """Hand out the entries so far; ``keep_last`` keeps the open entry for continuations."""
        if self.chunks:
            raw = pa.concat_arrays(self.chunks)
            numbers = np.concatenate(self.chunk_numbers)
            self.chunks, self.chunk_numbers, self.n_chunked = [], [], 0
            return EntryBatch(raw, numbers, np.ones(len(numbers), np.int64)) if len(raw) else None
        keep = 1 if keep_last and self.rx is not None else 0
        n = len(self.entries) - keep
        if n <= 0:
            return None
        arr = pa.array(self.entries[:n], pa.string())
        batch = EntryBatch(arr, self.entry_line[:n], self.entry_n[:n])
        del self.entries[:n], self.entry_line[:n], self.entry_n[:n]
        return batch


def _longer_than(text: str, max_bytes: int) -> bool:
    """Whether ``text`` is over ``max_bytes`` in UTF-8 (a character is 1 to 4 bytes, so most lines
    are decided without encoding them)."""
    n = len(text)
    return n > max_bytes or (4 * n > max_bytes and len(text.encode("utf-8", "surrogatepass")) > max_bytes)


#: C0 control bytes that text does not hold (tab, LF, VT, FF, CR and ESC are left out).
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\v\f\r\x1b")
_SAMPLE = 1 << 16


def _looks_binary(head: bytes) -> bool:
    """Whether the first 64 KiB of a file are binary: over 1 % NUL bytes or over 5 % control
    bytes. Text with a few stray NULs is not; its lines that hold one are rejected instead."""
    sample = head[:_SAMPLE]
    control = len(sample) - len(sample.translate(None, _CONTROL))
    return sample.count(b"\x00") > 0.01 * len(sample) or control > 0.05 * len(sample)


def _lines_in_range(complete: bytes, room: int | None) -> int | None:
    """How many of the lines in ``complete`` start before ``room`` bytes (None: all of them,
    without counting; the range's end is past this block)."""
    if room is None or room > len(complete):
        return None
    if room <= 0:
        return 0
    return min(complete.count(b"\n") + 1, 1 + complete.count(b"\n", 0, room - 1))


def iter_entries(unit: WorkUnit, stats: UnitStats, *, entry_start: str | None = None,
                 max_line_bytes: int = 1 << 20, batch_lines: int = 200_000,
                 read_timeout_s: float | None = None) -> Iterator[EntryBatch]:
    """Yield :class:`EntryBatch` es for ``unit`` and fill ``stats`` as it goes.

    Read errors (truncated gzip, corrupt data, binary files) end the iteration early and are set
    on ``stats.error`` with the file and the last line reached; entries read before stay yielded.
    ``read_timeout_s`` bounds each wait on a remote source (opening it, each read): one that
    sends nothing for that long ends the unit the same way, with ``stats.stalled`` set.
    Blank lines and lines over ``max_line_bytes`` are rejected with a reason, so
    ``stats.lines_read == stats.lines_in_entries + stats.rejected``.
    """
    reader = _RangeReader(unit, read_timeout_s)
    builder = _EntryBuilder(unit, stats, entry_start, max_line_bytes)
    room = (unit.end - unit.start) if reader.splittable else None  # bytes left in the range
    stats.bytes = unit.end - unit.start
    pending = b""
    first = True
    skip_partial = False
    try:
        for block in reader.blocks():
            if first:
                first = False
                if unit.start == 0 and _looks_binary(block):
                    stats.error = (f"{unit.file.display}: binary file (NUL or control bytes in "
                                   "its first 64 KiB); skipped")
                    return
                skip_partial = not reader.starts_clean
            data = pending + block
            pending = b""
            if skip_partial:
                nl = data.find(b"\n")
                if nl < 0:
                    if room is not None:
                        room -= len(data)
                    continue
                if room is not None:
                    room -= nl + 1
                data = data[nl + 1:]
                builder.line_no += 1
                skip_partial = False
            cut = data.rfind(b"\n")
            if cut < 0:
                pending = data
                continue
            complete, pending = data[:cut], data[cut + 1:]
            n_in = _lines_in_range(complete, room)
            if builder.rx is None:
                arr, bad = decode_lines_array(complete)
                builder.add_array(arr, len(arr) if n_in is None else n_in, b"\x00" in complete)
            else:
                lines, bad = decode_lines(complete)
                n_in = len(lines) if n_in is None else n_in
                builder.add(lines[:n_in], True)
                builder.add(lines[n_in:], False)
            stats.bad_utf8 += bad
            if room is not None:
                room -= cut + 1
            if builder.done:
                pending = b""
                break
            if builder.n_entries >= batch_lines:
                batch = builder.take_batch(keep_last=True)
                if batch is not None:
                    yield batch
        if pending and not skip_partial:
            lines, bad = decode_lines(pending)
            stats.bad_utf8 += bad
            builder.add(lines, room is None or room > 0)
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError, ValueError) as exc:
        if pending:
            lines, bad = decode_lines(pending)
            stats.bad_utf8 += bad
            builder.add(lines, True)
        if isinstance(exc, ReadStalled):
            stats.stalled = True
            stats.error = (f"{unit.file.display}: stalled after line {builder.line_no - 1}: {exc}; "
                           "the rest of it was not read (re-run to retry it)")
        else:
            stats.error = (f"{unit.file.display}: read error after line {builder.line_no - 1}: "
                           f"{type(exc).__name__}: {exc}")
    batch = builder.take_batch(keep_last=False)
    if batch is not None:
        yield batch
    if stats.lines_read == 0 and stats.error is None and unit.n_chunks == 1:
        stats.error = f"{unit.file.display}: empty file (no lines)"
