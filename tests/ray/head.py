"""A real Ray head started with ``ray start --head`` for one test module, stopped by its own PIDs.

Every port is picked free and the temp dir is private, so the head never meets the suite's local
Ray session (tests/conftest.py) nor another user's Ray on the machine; stopping it kills only the
processes whose command line names that temp dir, and their children (never ``ray stop``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterator

import psutil

__all__ = ["ray_head", "free_port"]

BIN = Path(sys.executable).parent


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ours(temp: str) -> list[psutil.Process]:
    procs = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(temp in arg for arg in p.info["cmdline"] or []):
                procs.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    for p in list(procs):
        try:
            procs.extend(p.children(recursive=True))
        except psutil.NoSuchProcess:
            continue
    return list({p.pid: p for p in procs}.values())


def _stop(temp: str) -> None:
    procs = _ours(temp)
    for p in procs:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=10)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


@contextmanager
def ray_head(num_cpus: int = 2, timeout_s: float = 120) -> Iterator[dict]:
    """Yield ``{"address": dashboard URL, "gcs": host:port, "temp": dir, "env": environment}``."""
    temp = tempfile.mkdtemp(prefix="lgh", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    # Token auth off: the head listens on 127.0.0.1 only, and a token in ~/.ray (made by any local
    # ray.init on this machine) would otherwise switch it on for this head but not for its clients.
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", RAY_USAGE_STATS_ENABLED="0",
               RAY_AUTH_MODE="disabled")
    gcs, dash = free_port(), free_port()
    cmd = [str(BIN / "ray"), "start", "--head", "--port", str(gcs), "--node-ip-address", "127.0.0.1",
           "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash), "--include-dashboard", "true",
           "--num-cpus", str(num_cpus), "--num-gpus", "0", "--temp-dir", temp,
           "--object-store-memory", str(200 << 20), "--disable-usage-stats"]
    for flag in ("--ray-client-server-port", "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                 "--metrics-export-port", "--runtime-env-agent-port", "--node-manager-port",
                 "--object-manager-port"):
        cmd += [flag, str(free_port())]
    address = f"http://127.0.0.1:{dash}"
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
        if res.returncode != 0:
            raise RuntimeError(f"ray start failed ({res.returncode}): {res.stderr[-3000:]}")
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{address}/api/version", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard at {address} did not answer within {timeout_s} s")
            time.sleep(1)
        yield {"address": address, "gcs": f"127.0.0.1:{gcs}", "temp": temp, "env": env}
    finally:
        _stop(temp)
        shutil.rmtree(temp, ignore_errors=True)
