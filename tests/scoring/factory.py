"""Small labelled ``sequences`` folders for the train / score / evaluate tests."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from logad.io import part_entries, write_json

from logad.sessions.schema import SEQUENCES_SCHEMA

__all__ = ["make_sequences", "write_sequences", "trained_models"]

NORMAL = ["open", "auth", "read", "write", "close"]


def make_sequences(n: int = 300, *, seed: int = 0, anomaly_rate: float = 0.15, unseen: str | None = None,
                   fracs=(0.6, 0.2, 0.2)) -> pa.Table:
    """Sessions in time order; anomalies repeat ``auth`` failures and skip ``close``."""
    rng = random.Random(seed)
    rows = {name: [] for name in SEQUENCES_SCHEMA.names}
    n_train, n_val = int(n * fracs[0]), int(n * fracs[1])
    for i in range(n):
        anomalous = rng.random() < anomaly_rate
        events = list(NORMAL) * rng.randint(1, 3)
        if anomalous:
            events = events[:3] + ["auth_fail"] * rng.randint(2, 5) + events[3:-1]
        if unseen and rng.random() < 0.5:
            events.insert(1, unseen)
        msgs = [f"{e} user {rng.randint(1, 9)}" for e in events]
        rows["session_id"].append(f"s{i:05d}")
        rows["source"].append("T")
        rows["label"].append(int(anomalous))
        rows["event_ids"].append(events)
        rows["timestamps"].append([])
        rows["start_time"].append(None)
        rows["duration_sec"].append(float(len(events)))
        rows["seq_len"].append(len(events))
        rows["n_distinct"].append(len(set(events)))
        rows["levels"].append(["INFO"] * len(events))
        rows["n_error"].append(events.count("auth_fail"))
        rows["messages"].append(msgs)
        rows["refs"].append([{"path": "t.log", "line_no": i * 100 + j} for j in range(len(events))])
        rows["first_order"].append(i)
        rows["split"].append("train" if i < n_train else "val" if i < n_train + n_val else "test")
    return pa.table(rows, schema=SEQUENCES_SCHEMA)


def write_sequences(table: pa.Table, folder: Path, parts: int = 3) -> Path:
    (folder / "sequences").mkdir(parents=True, exist_ok=True)
    step = -(-table.num_rows // parts)
    for k in range(parts):
        pq.write_table(table.slice(k * step, step), folder / "sequences" / f"part-{k:05d}.parquet")
    # a finished sessionize output: the manifest names its parts (stages read nothing else)
    write_json({"stage": "sessionize", "status": "complete",
                "parts": part_entries(folder, sorted((folder / "sequences").glob("*.parquet")))},
               folder / "manifest.json")
    return folder


def trained_models(root: Path, models: tuple[str, ...], *, n: int, seed: int, parts: int
                   ) -> tuple[Path, list[str]]:
    """A sequences folder of ``n`` sessions in ``parts`` parts and each of ``models`` trained on
    it (under ``root``): ``(sequences, model folders)``."""
    from logad.ray.train import run_train

    seq = write_sequences(make_sequences(n, seed=seed), root / "seq", parts=parts)
    for m in models:
        run_train(m, seq, root / m)
    return seq, [str(root / m) for m in models]
