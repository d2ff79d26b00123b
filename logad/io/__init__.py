"""logad.io: how stages write their outputs and read each other's.

* :mod:`logad.io.atomic`: atomic writes (temporary name, then rename), JSON/YAML, the run key,
  the phase timer, the ``--out`` lock;
* :mod:`logad.io.manifest`: the declared schema of ``manifest.json``, checked on write and read;
* :mod:`logad.io.stage`: stage folders on :mod:`pyarrow.dataset` (a finished stage's parts,
  columns with a filter, row counts, row groups as work units);
* :mod:`logad.io.store`: stage folders on object storage (``s3://``...), committed by their
  manifest;
* :mod:`logad.io.publish`: whole local folders (models, evaluations) published to object
  storage through that same commit, and fetched back to a local cache.

Every name of the five is importable from here (``from logad.io import atomic_dir``).
"""

from __future__ import annotations

from logad.io.atomic import (TEXT_COLUMNS, ParquetSettings, Timer, atomic_dir, atomic_path,
                             local_only, read_json, remove_leftovers, remove_stale, run_key, run_lock, write_json,
                             write_parquet, write_yaml)
from logad.io.manifest import (Counts, Manifest, ManifestError, PartEntry, ScoredModel,
                               check_manifest, commit, parse_manifest, read_manifest,
                               write_manifest)
from logad.io.stage import (SEQUENCES_STAGES, Part, StageFolder, finished_input,
                            finished_input_parts,
                            finished_manifest, finished_parts, mark_running, open_stage,
                            part_entries, read_part, sequences_files, sequences_folder,
                            sequences_parts, dataset_of)
from logad.io.publish import (Building, committed, fetch_dir, key_file, local_dir, output_dir,
                             prune_cache, publish_dir, read_published)
from logad.io.store import (RUNS, Store, as_folder, is_remote, join, local_path, looks_remote,
                            new_run, open_parquet, read_table, store_or_none)

__all__ = ["atomic_path", "atomic_dir", "write_parquet", "TEXT_COLUMNS", "ParquetSettings",
           "write_json", "write_yaml", "read_json", "run_key", "finished_manifest", "Timer",
           "part_entries", "mark_running", "finished_input", "finished_input_parts",
           "finished_parts", "run_lock",
           "remove_leftovers", "remove_stale", "Manifest", "Counts", "PartEntry", "ScoredModel", "ManifestError",
           "parse_manifest", "read_manifest", "write_manifest", "Part", "StageFolder",
           "open_stage", "sequences_folder", "sequences_files", "sequences_parts", "read_part",
           "SEQUENCES_STAGES", "check_manifest", "RUNS", "Store", "commit", "is_remote",
           "local_path", "new_run", "store_or_none", "as_folder", "looks_remote", "read_table",
           "open_parquet", "join", "local_only", "publish_dir", "fetch_dir", "prune_cache", "read_published",
           "committed", "local_dir", "key_file", "output_dir", "Building", "dataset_of"]
