"""Shared fixtures: the real data folder and one small Ray session per test run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("LOGAD_SHARED_DATA", ROOT.parent / "shared" / "data"))


def require_shared(*parts: str) -> Path:
    """Path under the shared data folder; skip (or fail when CI=true) if it is absent."""
    path = shared_data_dir().joinpath(*parts)
    if not path.exists():
        msg = f"shared data not found: {path} (set LOGAD_SHARED_DATA)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require_shared()


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole run (2 CPUs, a small object store)."""
    import ray

    from logad.ray.runtime import ensure_ray

    os.environ.setdefault("LOGAD_PROGRESS", "0")
    ensure_ray(num_cpus=2, object_store_memory=300 * 1024 * 1024)
    yield ray
    ray.shutdown()
