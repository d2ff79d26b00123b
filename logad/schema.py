"""Column contracts between stages, and the one check every stage runs on its input."""

from __future__ import annotations

from typing import Iterable

import pyarrow as pa

from logad.errors import InputError

__all__ = ["EVENTS_SCHEMA", "REJECTED_SCHEMA", "ORDER_FILE_SHIFT", "order_key", "require_columns"]

# Global input order of a line: file index (sorted input list) times 2**40 plus its line number.
# It does not depend on how files are split into byte ranges or on the number of workers, so it
# is the key for "first occurrence" everywhere downstream.
ORDER_FILE_SHIFT = 40

#: The ``events`` table written by ingest: one row a log line (or a multi-line entry, e.g. a Java
#: stack trace kept with the line above it). Preset-specific columns (``block_ids``,
#: ``instance_id``, ``run``/``test_case``/``service``, ...) follow these.
EVENTS_SCHEMA = pa.schema([
    ("source", pa.string()),        # preset name, e.g. "HDFS", "lo2", "generic"
    ("path", pa.string()),          # file the line came from (URL or local path, archive!member)
    ("line_no", pa.int64()),        # 1-based line number of the entry's first line in that file
    ("order", pa.int64()),          # global input order, see ORDER_FILE_SHIFT
    ("timestamp", pa.timestamp("us")),  # parsed time when the format carries one, else null
    ("level", pa.string()),
    ("component", pa.string()),
    ("content", pa.string()),       # the message part; the whole line when the format did not match
    ("raw", pa.string()),           # the line as read (continuation lines joined with "\n")
    ("matched", pa.bool_()),        # False when the line did not fit the preset's format
    ("label", pa.int8()),           # 1 anomalous, 0 normal, null unknown
])

#: Lines that could not become events at all (unreadable ranges, corrupt members), with a reason.
REJECTED_SCHEMA = pa.schema([
    ("path", pa.string()),
    ("line_no", pa.int64()),
    ("reason", pa.string()),
    ("raw", pa.string()),
])


def order_key(file_index: int, line_no: int) -> int:
    return (file_index << ORDER_FILE_SHIFT) + line_no


def require_columns(table_or_schema: pa.Table | pa.Schema, required: Iterable[str], what: str) -> None:
    """Raise one :class:`InputError` listing every missing column of ``what``."""
    schema = table_or_schema.schema if isinstance(table_or_schema, pa.Table) else table_or_schema
    missing = [c for c in required if c not in schema.names]
    if missing:
        raise InputError(f"{what}: missing column(s) {', '.join(missing)}; "
                         f"has {', '.join(schema.names)}. Was it written by the previous logad stage?")

#: Length of template ids: hex digits of a BLAKE2b digest of the final template text.
TEMPLATE_ID_HEX = 16
#: Template id given to lines that ``--match-only`` could not match to any known template.
UNKNOWN_TEMPLATE_ID = "0" * TEMPLATE_ID_HEX
__all__ += ["TEMPLATE_ID_HEX", "UNKNOWN_TEMPLATE_ID"]
