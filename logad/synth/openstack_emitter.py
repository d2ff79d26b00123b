"""The shared actors of a synthetic OpenStack corpus and the event list every line goes into.

An event is ``(time_ms, seq, service, pid, level, component, addr, content)``; ``seq`` keeps the
emission order among lines with the same millisecond, so sorting by ``(time_ms, seq)`` is stable
and the output does not depend on anything but the seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

from logad.synth.common import uuid4

__all__ = ["Emitter"]


@dataclass
class Emitter:
    """Collects events and knows the shared actors (hosts, projects, pids, request ids)."""

    rng: random.Random
    hosts: list[str]
    pids: dict[str, list[int]]
    projects: list[tuple[str, str]]
    service_project: tuple[str, str]
    images: list[str]
    clf_time: Callable[[int], str]
    events: list[tuple] = field(default_factory=list)
    lifecycle_req: dict[str, str] = field(default_factory=dict)

    def emit(self, t: int, service: str, level: str, component: str, addr: str, content: str,
             pid: int | None = None) -> None:
        """Add one line; ``pid`` defaults to one of the service's worker pids."""
        if pid is None:
            pids = self.pids[service]
            pid = pids[0] if len(pids) == 1 else self.rng.choice(pids)
        self.events.append((int(t), len(self.events), service, pid, level, component, addr, content))

    def req(self, project: tuple[str, str] | None = None) -> str:
        """A request context: ``req-<uuid> <user> <project> - - -`` or ``req-<uuid> - - - - -``."""
        rid = uuid4(self.rng)
        return f"req-{rid} {project[0]} {project[1]} - - -" if project else f"req-{rid} - - - - -"

    def wsgi(self, t: int, service: str, addr: str, method: str, path: str, status: int,
             length: int, secs: float) -> None:
        """A nova/neutron style access line (neutron writes two spaces before ``len``)."""
        gap = "  " if service == "neutron-server" else " "
        comp = "neutron.wsgi" if service == "neutron-server" else "nova.osapi_compute.wsgi.server"
        self.emit(t, service, "INFO", comp, addr,
                  f'10.11.10.1 "{method} {path} HTTP/1.1" status: {status}{gap}len: {length} time: {secs:.7f}')

    def glance(self, t: int, addr: str, path: str, status: int, length: int) -> None:
        self.emit(t, "glance-api", "INFO", "eventlet.wsgi.server", addr,
                  f'10.11.10.1 - - [{self.clf_time(t)}] "GET {path} HTTP/1.1" {status} {length} '
                  f"{self.rng.uniform(0.01, 0.2):.6f}")

    def keystone(self, t: int, validate: bool) -> None:
        verb = "GET http://controller:35357" if validate else "POST http://controller:5000"
        self.emit(t, "keystone", "INFO", "keystone.common.wsgi", self.req(), f"{verb}/v3/auth/tokens")
