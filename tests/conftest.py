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


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        msg = f"{module} not installed (pip install -e '.[dev]' brings moto[server] and s3fs)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3-protocol server (moto's) on 127.0.0.1 with the bucket ``logad-test``; fsspec
    (this process: its config; subprocesses and their Ray workers: ``env``) points at it, and
    folders fetched from it are cached under the run's temporary folder (``LOGAD_CACHE``), not
    the user's ``~/.cache``. Yields ``{"fs", "env", "endpoint"}``."""
    import json
    import socket
    from contextlib import closing

    _need("s3fs")
    server_mod = _need("moto.server")
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
           "FSSPEC_S3": json.dumps({"endpoint_url": endpoint}),
           "LOGAD_CACHE": str(tmp_path_factory.mktemp("logad-cache"))}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import fsspec
    import fsspec.config

    saved = dict(fsspec.config.conf)
    fsspec.config.conf["s3"] = {"endpoint_url": endpoint}
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir("logad-test")
    try:
        yield {"fs": fs, "env": {**os.environ, **env}, "endpoint": endpoint}
    finally:
        fsspec.config.conf.clear()
        fsspec.config.conf.update(saved)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()
