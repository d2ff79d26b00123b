"""``logad ingest-sessions``: DeepLog-style session files straight into a ``sequences`` folder.

Session files (one session a line of integer event keys, or a ``Sequence,label`` CSV) are small
next to raw logs, so this runs on the driver without Ray; the folder it writes is a stage folder
like sessionize's (``sequences/``, ``split.parquet``, ``rejected.parquet``, ``manifest.json``).
"""

from __future__ import annotations

import time
from pathlib import Path, PurePosixPath
from typing import Sequence

import pyarrow.compute as pc

from logad import __version__
from logad.errors import InputError
from logad.io import (as_folder, finished_manifest, looks_remote, output_dir, part_entries,
                      write_manifest, write_parquet)
from logad.sources.files import SourceFile, expand_sources

__all__ = ["run_ingest_sessions"]


def _file_label(sf: SourceFile, file_labels: dict[str, int] | None) -> int | None:
    """The ``--label`` given for this file (by the name given, its path or its base name)."""
    for key, value in (file_labels or {}).items():
        if key in ("*", sf.url, sf.display) or PurePosixPath(sf.url).name == PurePosixPath(key).name:
            return value
    return None


def run_ingest_sessions(sources: Sequence[str], out_dir: str | Path, *, labels: str | None = None,
                        file_labels: dict[str, int] | None = None,
                        split: str = "chronological", fracs: Sequence[float] = (0.7, 0.1, 0.2),
                        seed: int = 0, dedup: bool = False, train_normal_only: bool = False) -> dict:
    """Read DeepLog-style session files straight into a ``sequences`` folder with its split.

    Each file is one session a line of integer keys, or a CSV with a header naming a sequence
    column (logdeep's ``Sequence,label``). A session's label comes from ``file_labels`` (a
    file's name or ``*`` -> 0/1), else ``labels`` (one 0/1 a line, in input order), else the
    CSV's label column, else the file name (:func:`~logad.sources.deeplog.label_from_name`).
    ``dedup`` and ``train_normal_only`` work as in ``logad sessionize``. Session files are small
    next to raw logs, so this runs on the driver without Ray.

    Raises
    ------
    InputError
        No session could be read from any file (the message names the layouts read).

    ``out_dir`` may be an object-storage folder (``s3://...``): the folder is built locally and
    published (:func:`logad.io.output_dir`), its parts under the run's prefix, committed by
    ``manifest.json``; a re-run whose key (the files' names and sizes,
    the labels file, the settings) the committed manifest holds skips (``"skipped": True``).
    """
    if looks_remote(out_dir):
        from logad.settings import stage_key

        settings = {"split": split, "fracs": list(fracs), "seed": seed, "dedup": dedup,
                    "train_normal_only": train_normal_only,
                    "file_labels": dict(sorted((file_labels or {}).items()))}
        url = str(as_folder(out_dir))
        files = expand_sources(list(sources))
        key = stage_key([labels] if labels else [], settings, [[f.display, f.size] for f in files])
        done = finished_manifest(url, key)
        if done is not None:
            return {**done, "skipped": True}
        with output_dir(url) as built:
            manifest = _ingest_sessions(sources, files, built.path, labels, file_labels, split,
                                        fracs, seed, dedup, train_normal_only, key)
        return {**manifest, "run": built.run}
    return _ingest_sessions(sources, expand_sources(list(sources)), Path(out_dir), labels,
                            file_labels, split, fracs, seed, dedup, train_normal_only)


def _ingest_sessions(sources: Sequence[str], files: list[SourceFile], out: Path,
                     labels: str | None, file_labels: dict[str, int] | None, split: str,
                     fracs: Sequence[float], seed: int, dedup: bool, train_normal_only: bool,
                     key: str | None = None) -> dict:
    """:func:`run_ingest_sessions` into the local folder ``out``."""
    import fsspec
    import pyarrow as pa

    from logad.sessions.split import attach_split, make_split
    from logad.sources.deeplog import (csv_layout, label_from_name, parse_session_csv,
                                       parse_session_lines)

    t0 = time.perf_counter()
    label_lines = None
    if labels:
        with fsspec.open(labels, "rt") as fh:
            label_lines = [int(x) for x in fh.read().split()]
    tables, file_rows, rejects = [], [], []
    for fi, sf in enumerate(files):
        if sf.error:
            file_rows.append({"path": sf.display, "lines_read": 0, "parsed": 0, "rejected": 0,
                              "layout": None, "errors": [f"{sf.display}: {sf.error}"]})
            continue
        with fsspec.open(sf.url, "rt", compression=sf.compression, encoding="utf-8",
                         errors="replace") as fh:
            lines = fh.read().splitlines()
        given = _file_label(sf, file_labels)
        if lines and csv_layout(lines[0]) is not None:
            layout = "csv"
            table, rej = parse_session_csv(lines, path=sf.display, file_index=fi, label=given)
            n_lines = len(lines) - 1  # the header is no session
        else:
            layout = "lines"
            if given is not None or label_lines is None:
                lab = [given if given is not None else label_from_name(sf.url)] * len(lines)
            else:
                lab = label_lines[:len(lines)]
                label_lines = label_lines[len(lines):]
            table, rej = parse_session_lines(lines, path=sf.display, file_index=fi, labels=lab)
            n_lines = len(lines)
        tables.append(table)
        rejects += [(sf.display, *r) for r in rej]
        file_rows.append({"path": sf.display, "layout": layout, "lines_read": n_lines,
                          "parsed": table.num_rows, "rejected": len(rej),
                          "errors": [f"{sf.display}:{r[0]}: {r[1]}" for r in rej[:20]]})
    if label_lines:
        raise InputError(f"{labels}: {len(label_lines)} labels left over after all session lines")
    seqs = pa.concat_tables(tables) if tables else None
    if seqs is None or seqs.num_rows == 0:
        first = next((e for f in file_rows for e in f["errors"]), "no lines")
        raise InputError(f"no session read from {len(files)} file(s) (first problem: {first}); "
                         "ingest-sessions reads one session a line of integer event keys "
                         "(DeepLog's hdfs_train) or a CSV whose header names a Sequence column "
                         "(logdeep's Sequence,label)")
    split_table, stats = make_split(seqs.select(["session_id", "start_time", "first_order", "label",
                                                 "event_ids"]), how=split, fracs=fracs, seed=seed,
                                    dedup=dedup, train_normal_only=train_normal_only)
    write_parquet(attach_split(seqs, split_table), out / "sequences" / "part-000000.parquet")
    write_parquet(split_table, out / "split.parquet")
    if rejects:
        write_parquet(pa.table({"path": [r[0] for r in rejects], "line_no": [r[1] for r in rejects],
                                "reason": [r[2] for r in rejects], "raw": [r[3] for r in rejects]}),
                      out / "rejected.parquet")
    lab = seqs.column("label")
    totals = {k: sum(f[k] for f in file_rows) for k in ("lines_read", "parsed", "rejected")}
    manifest = {"stage": "ingest-sessions", "status": "complete", "logad_version": __version__,
                **({"run_key": key} if key is not None else {}),
                "inputs": [str(s) for s in sources],
                "counts": {"read": totals["lines_read"], "processed": totals["parsed"],
                           "rejected": totals["rejected"]},
                "files": file_rows, "totals": totals,
                "labels": {"normal": int(pc.sum(pc.equal(lab, 0)).as_py() or 0),
                           "anomalous": int(pc.sum(pc.equal(lab, 1)).as_py() or 0),
                           "unlabelled": lab.null_count},
                "split": stats, "settings": {"split": split, "fracs": list(fracs), "seed": seed,
                                             "dedup": dedup, "train_normal_only": train_normal_only},
                "parts": part_entries(out, ["sequences/part-000000.parquet"]),
                "seconds": round(time.perf_counter() - t0, 3)}
    return write_manifest(manifest, out / "manifest.json")
