"""The ``sequences`` table: one row a session, written by ``logad sessionize``.

Columns (in this order):

=============  ==============================================  ====================================
column         type                                            meaning
=============  ==============================================  ====================================
session_id     string                                          stable, content-derived id (below)
source         string                                          preset of the session's first line
label          int8, nullable                                  1 anomalous, 0 normal, null unknown
event_ids      list<string>                                    template ids in session order
timestamps     list<timestamp[us]>                             line times (items may be null)
start_time     timestamp[us], nullable                         earliest line time
duration_sec   float64                                         last - first time (0.0 if < 2 times)
seq_len        int64                                           number of lines
n_distinct     int64                                           distinct template ids
levels         list<string>                                    line levels (items may be null)
n_error        int64                                           levels in ``error_levels``
messages       list<string>                                    line ``content`` (empty list if off)
refs           list<struct<path: string, line_no: int64>>      where each line came from
first_order    int64                                           smallest global ``order`` in it
split          string                                          "train", "val" or "test"
=============  ==============================================  ====================================

Session ids: the key itself for id sessions (``blk_-123``, an OpenStack instance uuid, the file
path); ``<source>:w<first_order>`` for line-count windows (fixed, sliding); ``<source>:t<start>``
for time windows, ``<start>`` being the window's aligned start as ISO 8601 (``BGL:t2005-06-03T15:42:00``).
Lines inside a session are ordered by timestamp (nulls last), then line number, then ``order``.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["SEQUENCES_SCHEMA", "SPLIT_SCHEMA", "REF_TYPE", "SPLITS", "ERROR_LEVELS",
           "EVENT_COLUMNS"]

#: One raw line reference: enough to show the original line later.
REF_TYPE = pa.struct([("path", pa.string()), ("line_no", pa.int64())])

SEQUENCES_SCHEMA = pa.schema([
    ("session_id", pa.string()),
    ("source", pa.string()),
    ("label", pa.int8()),
    ("event_ids", pa.list_(pa.string())),
    ("timestamps", pa.list_(pa.timestamp("us"))),
    ("start_time", pa.timestamp("us")),
    ("duration_sec", pa.float64()),
    ("seq_len", pa.int64()),
    ("n_distinct", pa.int64()),
    ("levels", pa.list_(pa.string())),
    ("n_error", pa.int64()),
    ("messages", pa.list_(pa.string())),
    ("refs", pa.list_(REF_TYPE)),
    ("first_order", pa.int64()),
    ("split", pa.string()),
])

#: ``split.parquet``: the split every model of a run shares.
SPLIT_SCHEMA = pa.schema([("session_id", pa.string()), ("split", pa.string())])

SPLITS = ("train", "val", "test")

#: Levels counted by ``n_error`` (compared upper-cased).
ERROR_LEVELS = ("ERROR", "FATAL", "SEVERE", "CRITICAL")

#: Event columns every session builder reads (plus the session key column).
EVENT_COLUMNS = ("source", "path", "line_no", "order", "timestamp", "level", "content", "label",
                 "template_id")
