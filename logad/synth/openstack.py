"""Synthetic OpenStack control-plane logs in the loghub OpenStack format, labelled per instance.

Every line has the shape of loghub's ``OpenStack_2k.log``::

    <Logrecord> <Date> <Time> <Pid> <Level> <Component> [<ADDR>] <Content>
    nova-compute.log.1.2017-05-16_13:55:31 2017-05-16 00:00:04.500 2931 INFO nova.compute.manager [req-... - - - - -] [instance: b900...] VM Started (Lifecycle Event)

One file per service (``nova-api.log``, ``nova-compute.log``, ``neutron-server.log``, ...), lines
in time order. Instances go through boot, scheduling, claims, image and network set-up, spawn,
metadata, optional volume attach and pause/stop, and delete (:mod:`logad.synth.openstack_flow`);
background lines (periodic tasks, API polling, keystone, benign AMQP and auth errors) fill the
rest of the line budget. ``anomaly_labels.txt`` lists the anomalous instance ids one a line (the
loghub convention); ``instances.csv`` lists every instance with its anomaly kind.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from logad.errors import ConfigError
from logad.synth.common import (QuotaDraw, check_positive, check_ratio, hex_token, ms_to_datetime,
                                sub_rng, uuid4, write_csv, write_lines)
from logad.synth.openstack_emitter import Emitter
from logad.synth.openstack_flow import ANOMALY_KINDS, Instance

__all__ = ["SERVICES", "ANOMALY_KINDS", "generate_openstack", "format_line"]

log = logging.getLogger(__name__)

#: Service name -> number of worker processes (each gets a pid).
SERVICES = {"nova-api": 2, "nova-scheduler": 1, "nova-conductor": 1, "nova-compute": 0,
            "neutron-server": 2, "cinder-api": 1, "cinder-volume": 1, "keystone": 2, "glance-api": 1}

_BACKGROUND_WEIGHTS = (("servers_detail", 30.0), ("keystone", 10.0), ("neutron", 6.0), ("imagecache", 5.0),
                       ("resource_tracker", 2.0), ("glance", 2.0), ("cinder", 3.0), ("scheduler_sync", 1.0),
                       ("auth_failed", 0.6), ("amqp", 0.4), ("power_sync", 0.3))


def format_line(logrecord: str, t: datetime, pid: int, level: str, component: str, addr: str,
                content: str) -> str:
    """One loghub-OpenStack line; ``t`` is printed with milliseconds."""
    return (f"{logrecord} {t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d} {pid} {level} {component} "
            f"[{addr}] {content}")


def _emitter(rng: random.Random, start: datetime, n_hosts: int) -> Emitter:
    hosts = [f"cp-{i + 1}.slowvm1.tcloud-pg0.utah.cloudlab.us" for i in range(n_hosts)]
    pids = {svc: [rng.randint(1000, 32000) for _ in range(n or n_hosts)] for svc, n in SERVICES.items()}
    projects = [(hex_token(rng), hex_token(rng)) for _ in range(3)]
    em = Emitter(rng=rng, hosts=hosts, pids=pids, projects=projects,
                 service_project=(hex_token(rng), hex_token(rng)),
                 images=[uuid4(rng) for _ in range(3)],
                 clf_time=lambda ms: f"{ms_to_datetime(start, ms):%d/%b/%Y %H:%M:%S}")
    em.lifecycle_req = {h: em.req() for h in hosts}
    return em


def _background(em: Emitter, n_lines: int, t_end: int, periodic: dict[str, str]) -> None:
    """Emit exactly ``n_lines`` lines not tied to an instance, spread over ``[0, t_end]``."""
    rng = em.rng
    names = [n for n, _ in _BACKGROUND_WEIGHTS]
    weights = [w for _, w in _BACKGROUND_WEIGHTS]
    admin = em.projects[0]
    base_files = {img: f"{rng.getrandbits(160):040x}" for img in em.images}
    before = len(em.events)
    while len(em.events) - before < n_lines:
        kind = rng.choices(names, weights)[0]
        t = rng.randint(0, max(t_end, 1))
        host = rng.choice(em.hosts)
        cpid = em.pids["nova-compute"][em.hosts.index(host)]
        group: list[tuple] = []  # (dt, service, level, component, addr, content, pid)
        if kind == "servers_detail":
            group.append((0, "nova-api", "INFO", "nova.osapi_compute.wsgi.server", em.req(admin),
                          f'10.11.10.1 "GET /v2/{admin[1]}/servers/detail HTTP/1.1" status: 200 len: '
                          f"{rng.choice((1583, 1893, 2203))} time: {rng.uniform(0.2, 0.45):.7f}", None))
        elif kind == "keystone":
            verb = rng.choice(("POST http://controller:5000", "GET http://controller:35357"))
            group.append((0, "keystone", "INFO", "keystone.common.wsgi", em.req(), f"{verb}/v3/auth/tokens", None))
        elif kind == "neutron":
            path = rng.choice(("/v2.0/networks.json", "/v2.0/security-groups.json",
                               "/v2.0/ports.json?device_owner=network%3Adhcp", "/v2.0/floatingips.json"))
            group.append((0, "neutron-server", "INFO", "neutron.wsgi", em.req(em.service_project),
                          f'10.11.10.1 "GET {path} HTTP/1.1" status: 200  len: {rng.randint(180, 4000)} '
                          f"time: {rng.uniform(0.02, 0.2):.7f}", None))
        elif kind == "imagecache":
            img = rng.choice(em.images)
            path = f"/var/lib/nova/instances/_base/{base_files[img]}"
            addr = periodic[host]
            group += [(0, "nova-compute", "INFO", "nova.virt.libvirt.imagecache", addr,
                       f"image {img} at ({path}): checking", cpid),
                      (1, "nova-compute", "INFO", "nova.virt.libvirt.imagecache", addr,
                       f"image {img} at ({path}): in use: on this node {rng.randint(0, 2)} local, "
                       "0 on other nodes sharing this instance storage", cpid),
                      (rng.randint(150, 250), "nova-compute", "INFO", "nova.virt.libvirt.imagecache", addr,
                       f"Active base files: {path}", cpid)]
            if rng.random() < 0.3:
                group += [(rng.randint(250, 400), "nova-compute", "WARNING", "nova.virt.libvirt.imagecache", addr,
                           f"Unknown base file: {path}", cpid),
                          (rng.randint(401, 405), "nova-compute", "INFO", "nova.virt.libvirt.imagecache", addr,
                           f"Removable base files: {path}", cpid),
                          (rng.randint(406, 410), "nova-compute", "INFO", "nova.virt.libvirt.imagecache", addr,
                           f"Base or swap file too young to remove: {path}" if rng.random() < 0.5
                           else f"Removing base or swap file: {path}", cpid)]
        elif kind == "resource_tracker":
            addr, used = periodic[host], rng.randint(0, 6)
            group += [(0, "nova-compute", "INFO", "nova.compute.resource_tracker", addr,
                       f"Auditing locally available compute resources for node {host}", cpid),
                      (rng.randint(400, 700), "nova-compute", "INFO", "nova.compute.resource_tracker", addr,
                       f"Total usable vcpus: 16, total allocated vcpus: {used}", cpid),
                      (rng.randint(701, 703), "nova-compute", "INFO", "nova.compute.resource_tracker", addr,
                       f"Final resource view: name={host} phys_ram=64172MB used_ram={512 + 2048 * used}MB "
                       f"phys_disk=15GB used_disk={20 * used}GB total_vcpus=16 used_vcpus={used} pci_stats=[]", cpid),
                      (rng.randint(750, 800), "nova-compute", "INFO", "nova.compute.resource_tracker", addr,
                       f"Compute_service record updated for {host}:{host}", cpid)]
        elif kind == "glance":
            em.glance(t, em.req(admin), "/v2/images?limit=20", 200, rng.randint(900, 3000))
        elif kind == "cinder":
            if rng.random() < 0.7:
                group.append((0, "cinder-api", "INFO", "cinder.api.openstack.wsgi", em.req(admin),
                              f"GET http://controller:8776/v2/{admin[1]}/volumes/detail", None))
            else:
                group.append((0, "cinder-volume", "INFO", "cinder.manager", periodic["cinder"],
                              "Notifying Schedulers of capabilities ...", None))
        elif kind == "scheduler_sync":
            msg = (f"Successfully synced instances from host '{host}'." if rng.random() < 0.9 else
                   f"The instance sync for host '{host}' did not match. Re-created its InstanceList.")
            group.append((0, "nova-scheduler", "INFO", "nova.scheduler.host_manager", em.req(), msg, None))
        elif kind == "auth_failed":
            group.append((0, "keystone", "WARNING", "keystone.common.wsgi", em.req(),
                          "Authorization failed. The request you have made requires authentication. "
                          "from 10.11.10.1", None))
        elif kind == "amqp":
            svc = rng.choice(("nova-conductor", "nova-scheduler", "cinder-volume", "neutron-server"))
            group += [(0, svc, "ERROR", "oslo.messaging._drivers.impl_rabbit", "-",
                       "AMQP server on controller:5672 is unreachable: timed out. Trying again in 1 seconds. "
                       "Client port: None", None),
                      (rng.randint(1000, 1100), svc, "INFO", "oslo.messaging._drivers.impl_rabbit", "-",
                       f"Reconnected to AMQP server on controller:5672 via [amqp] client with port "
                       f"{rng.randint(40000, 60000)}.", None)]
        else:  # power_sync
            group.append((0, "nova-compute", "WARNING", "nova.compute.manager", periodic[host],
                          f"While synchronizing instance power states, found {rng.randint(1, 4)} instances in "
                          "the database and 0 instances on the hypervisor.", cpid))
        left = n_lines - (len(em.events) - before)
        for dt, svc, level, comp, addr, content, pid in group[:left]:
            em.emit(t + dt, svc, level, comp, addr, content, pid)
    del em.events[before + n_lines:]


def _check(lines: int, anomaly_ratio: float, kinds: Sequence[str], compute_hosts: int,
           instance_share: float, mean_gap_s: float) -> None:
    check_positive("lines", lines, minimum=200)
    check_positive("mean_gap_s", mean_gap_s, minimum=0.01)
    check_ratio("anomaly_ratio", anomaly_ratio)
    check_positive("compute_hosts", compute_hosts, minimum=1)
    check_ratio("instance_share", instance_share)
    bad = [k for k in kinds if k not in ANOMALY_KINDS]
    if bad or not kinds:
        raise ConfigError(f"anomaly_kinds: unknown or empty {list(kinds)!r}; choose from {', '.join(ANOMALY_KINDS)}")


def generate_openstack(out_dir: str | Path, *, seed: int, lines: int = 50_000, anomaly_ratio: float = 0.15,
                       anomaly_kinds: Sequence[str] = ANOMALY_KINDS, start: str = "2017-05-16 00:00:00",
                       compute_hosts: int = 2, instance_share: float = 0.55,
                       mean_gap_s: float = 20.0, combined: bool = False) -> dict[str, Any]:
    """Write an OpenStack corpus (one log per service plus labels) into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Folder to write into (created).
    seed : int
        Same seed, same bytes.
    lines : int, default 50000
        Total log lines over all service files (exact).
    anomaly_ratio : float, default 0.15
        Share of instances that are anomalous (kept within one instance of ``ratio * n``).
    anomaly_kinds : sequence of str, default all of :data:`ANOMALY_KINDS`
        Failure patterns to draw from, uniformly.
    start : str, default "2017-05-16 00:00:00"
        Time of the first line.
    compute_hosts : int, default 2
        Compute nodes (all log to ``nova-compute.log``, each with its own pid).
    instance_share : float, default 0.55
        Share of the lines that belong to instance lifecycles; background lines fill the rest.
    mean_gap_s : float, default 20
        Mean seconds between two boot requests (instances overlap).
    combined : bool, default False
        Also write ``openstack_combined.log``: all services merged in time order.

    Returns
    -------
    dict
        ``files`` (names), ``lines``, ``instances``, ``anomalies``, ``anomaly_kinds`` (counts).

    Examples
    --------
    >>> import tempfile
    >>> generate_openstack(tempfile.mkdtemp(), seed=1, lines=500)["lines"]
    500
    """
    _check(lines, anomaly_ratio, anomaly_kinds, compute_hosts, instance_share, mean_gap_s)
    try:
        t0 = datetime.strptime(start, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ConfigError(f"start must look like '2017-05-16 00:00:00', got {start!r}") from None
    out = Path(out_dir)
    rng = sub_rng(seed, "openstack")
    em = _emitter(rng, t0, int(compute_hosts))
    draw = QuotaDraw(anomaly_ratio, sub_rng(seed, "openstack", "labels"))
    instances: list[tuple[str, int, str]] = []
    t, t_end, budget = 0, 0, int(lines * instance_share)
    while len(em.events) < budget or not instances:
        kind = rng.choice(list(anomaly_kinds)) if draw() else None
        inst = Instance(em, t + rng.randint(0, 999), kind)
        t_end = max(t_end, inst.run())
        instances.append((inst.uuid, int(kind is not None), kind or ""))
        t += int(rng.expovariate(1.0 / (mean_gap_s * 1000)))
    if len(em.events) > lines:
        raise ConfigError(f"lines={lines} is too small for one instance life ({len(em.events)} lines); raise it")
    periodic = {h: em.req() for h in em.hosts} | {"cinder": em.req()}
    _background(em, lines - len(em.events), t_end, periodic)

    stamp = ms_to_datetime(t0, t_end + 3_600_000)
    logrec = {svc: f"{svc}.log.1.{stamp:%Y-%m-%d}_{ms_to_datetime(stamp, rng.randint(0, 300_000)):%H:%M:%S}"
              for svc in SERVICES}
    em.events.sort(key=lambda e: (e[0], e[1]))
    per_file: dict[str, list[str]] = {svc: [] for svc in SERVICES}
    merged: list[str] = []
    for tm, _, svc, pid, level, comp, addr, content in em.events:
        line = format_line(logrec[svc], ms_to_datetime(t0, tm), pid, level, comp, addr, content)
        per_file[svc].append(line)
        if combined:
            merged.append(line)
    files = []
    for svc, body in per_file.items():
        write_lines(out / f"{svc}.log", body)
        files.append(f"{svc}.log")
    if combined:
        write_lines(out / "openstack_combined.log", merged)
        files.append("openstack_combined.log")
    write_lines(out / "anomaly_labels.txt", [u for u, lab, _ in instances if lab])
    write_csv(out / "instances.csv", ("instance_id", "label", "anomaly_kind"), instances)
    files += ["anomaly_labels.txt", "instances.csv"]
    counts = {k: sum(1 for *_, kk in instances if kk == k) for k in anomaly_kinds}
    n_anom = sum(lab for _, lab, _ in instances)
    log.info("openstack: %d lines, %d instances, %d anomalous", len(em.events), len(instances), n_anom)
    return {"kind": "openstack", "out": str(out), "files": files, "lines": len(em.events),
            "instances": len(instances), "anomalies": n_anom, "anomaly_kinds": counts}
