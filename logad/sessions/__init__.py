"""Sessions: group parsed events into ``sequences`` (by id, file, line or time windows) and split them.

Pure functions over ``pyarrow.Table``; :mod:`logad.sessions.worker` is what one sessionize
worker does (key, bucket, build, write; no Ray); the Ray runner is :mod:`logad.ray.sessionize`.
"""

from logad.sessions.build import (SESSION_COL, apply_session_labels, build_sequences, key_rows,
                                  sessions_by_key)
from logad.sessions.schema import ERROR_LEVELS, SEQUENCES_SCHEMA, SPLIT_SCHEMA, SPLITS
from logad.sessions.split import (assign_split, attach_split, dedup_sessions, drop_train_anomalies,
                                  make_split, sequence_hash, session_order)
from logad.sessions.store import read_sequences
from logad.sessions.windows import fixed_windows, parse_duration, sliding_windows, time_windows

__all__ = ["SESSION_COL", "SEQUENCES_SCHEMA", "SPLIT_SCHEMA", "SPLITS", "ERROR_LEVELS",
           "key_rows", "build_sequences", "apply_session_labels", "sessions_by_key",
           "fixed_windows", "sliding_windows", "time_windows", "parse_duration",
           "session_order", "sequence_hash", "dedup_sessions", "assign_split",
           "drop_train_anomalies", "make_split", "attach_split", "read_sequences"]
