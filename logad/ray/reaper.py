"""Stop a local Ray that logad started when the logad process dies, even by SIGKILL.

``ensure_ray`` starts this module as a separate process (its own session) holding the read end
of a pipe whose write end only the logad process has, and marks the local Ray it starts with an
environment variable (``LOGAD_RAY_OWNER=<token>``, inherited by Ray's processes). While logad
lives, the reaper notes every descendant of it once a second (pid and start time: Ray renames its
agents with setproctitle, which can overwrite what ``/proc/<pid>/environ`` shows, so the mark
alone is not enough). When the pipe closes, for whatever reason, it kills the processes it noted
that still run (same pid, same start time) and every marked one. Ray's own clean-up leaves its
dashboard and runtime-env agents running after a SIGKILL of the driver; this does not. Standard
library only, so it starts in milliseconds.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

__all__ = ["ENV", "marked_processes", "descendants", "main"]

ENV = "LOGAD_RAY_OWNER"


def _stat(pid: str) -> tuple[int, int] | None:
    """``(ppid, start time)`` of a process, from ``/proc/<pid>/stat``; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return int(fields[1]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def descendants(root: int) -> dict[int, int]:
    """Every descendant of ``root`` now, as ``pid -> start time``."""
    children: dict[int, list[tuple[int, int]]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (st := _stat(name)) is not None:
            children.setdefault(st[0], []).append((int(name), st[1]))
    found, todo = {}, [root]
    while todo:
        for pid, start in children.get(todo.pop(), []):
            if pid not in found:
                found[pid] = start
                todo.append(pid)
    return found


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


def _alive(noted: dict[int, int], token: str, spare: tuple[int, ...]) -> list[int]:
    """Noted processes still running as themselves, and the marked ones."""
    same = [pid for pid, start in noted.items() if (st := _stat(str(pid))) and st[1] == start]
    return sorted((set(same) | set(marked_processes(token, spare))) - set(spare) - {os.getpid()})


def main(argv: list[str] | None = None) -> int:
    """``python -m logad.ray.reaper TOKEN PID``: note PID's descendants until stdin closes,
    then kill them and the marked processes (never PID itself, should it still be alive)."""
    args = argv if argv is not None else sys.argv[1:]
    token, owner = args[0], int(args[1])
    spare = (owner,)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for logad; this only waits
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    noted: dict[int, int] = {}
    stdin = sys.stdin.buffer
    while True:
        ready, _, _ = select.select([stdin], [], [], 1.0)
        if ready and not os.read(stdin.fileno(), 1 << 16):
            break
        noted.update(descendants(owner))
    # TERM first, KILL what is still there 2 s later; keep looking until none has been seen for
    # 1.5 s (a dying raylet can still start a process), at most 60 s
    first_seen: dict[int, float] = {}
    start = quiet = time.monotonic()
    while time.monotonic() - quiet < 1.5 and time.monotonic() - start < 60:
        now = time.monotonic()
        pids = _alive(noted, token, spare)
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
