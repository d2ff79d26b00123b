"""The LO2 dump as it is published: per-run archives, unpacked resumably in chunks."""

from logad.lo2.archives import RunArchive, UnsafeMember, chunk_of, find_archives, select_runs
from logad.lo2.extract import DiskFull, extract_archives, extract_run, plan_runs

__all__ = ["RunArchive", "UnsafeMember", "DiskFull", "chunk_of", "find_archives", "select_runs",
           "plan_runs", "extract_run", "extract_archives"]
