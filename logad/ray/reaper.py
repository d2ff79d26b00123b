"""Stop a local Ray that logad started when the logad process dies, even by SIGKILL.

``ensure_ray`` marks the processes of a local Ray it starts with an environment variable
(``LOGAD_RAY_OWNER=<token>``: Ray's head processes, agents and workers all inherit it) and starts
this module as a separate process holding the read end of a pipe whose write end only the logad
process has. When that process ends, for whatever reason, the read returns; the reaper then kills
every process of this user that carries the token. Ray's own clean-up leaves its dashboard and
runtime-env agents running after a SIGKILL of the driver; this does not. Standard library only,
so it starts in milliseconds.
"""

from __future__ import annotations

import os
import signal
import sys
import time

__all__ = ["ENV", "marked_processes", "main"]

ENV = "LOGAD_RAY_OWNER"


def marked_processes(token: str, spare: tuple[int, ...] = ()) -> list[int]:
    """Pids of this user's processes whose environment holds ``LOGAD_RAY_OWNER=<token>``
    (never this process nor ``spare``)."""
    mark = f"{ENV}={token}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid() or int(name) in spare:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                if mark in fh.read().split(b"\0"):
                    found.append(int(name))
        except OSError:  # gone, or another user's
            continue
    return found


def main(argv: list[str] | None = None) -> int:
    """``python -m logad.ray.reaper TOKEN PID``: wait for stdin to close, then kill the marked
    processes (never PID, the logad process, should it still be alive)."""
    args = argv if argv is not None else sys.argv[1:]
    token, spare = args[0], (int(args[1]),)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for logad; this only waits
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    while sys.stdin.buffer.read(1 << 16):
        pass
    # TERM first, KILL what is still there 2 s later; keep looking until none has been seen for
    # 1.5 s (a dying raylet can still start a process), at most 60 s
    first_seen: dict[int, float] = {}
    start = quiet = time.monotonic()
    while time.monotonic() - quiet < 1.5 and time.monotonic() - start < 60:
        now = time.monotonic()
        pids = marked_processes(token, spare)
        if pids:
            quiet = now
        for pid in pids:
            since = first_seen.setdefault(pid, now)
            try:
                os.kill(pid, signal.SIGKILL if now - since > 2 else signal.SIGTERM)
            except OSError:
                pass
        time.sleep(0.25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
