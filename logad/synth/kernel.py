"""Synthetic syslog in the loghub Linux format, with anomalous episodes labelled per line.

Lines look like loghub's ``Linux_2k.log`` (``<Month> <Date> <Time> <Level> <Component>([<PID>])?:
<Content>``, where "Level" is the host name)::

    Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4

Normal traffic mixes cron, su, sshd logins, ftpd connections, logrotate, systemd sessions, kernel
link/USB chatter, the odd single failed login and a short NFS hiccup now and then, so the storms
and timeouts stand out by their count and rate, not by their words. Anomalies are contiguous episodes:
disk I/O error bursts, the OOM killer, segfault storms, NFS server timeouts and SSH brute-force
storms. ``kernel_labels.csv`` has ``line_no,label`` for every line (1-based);
``kernel_episodes.csv`` lists the episodes for people.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from logad.errors import ConfigError
from logad.synth.common import check_positive, check_ratio, sub_rng, write_csv, write_lines

__all__ = ["EPISODE_KINDS", "generate_kernel", "format_syslog"]

log = logging.getLogger(__name__)

EPISODE_KINDS = ("io_error", "oom_killer", "segfault", "nfs_timeout", "auth_storm")
_USERS = ("root", "cyrus", "news", "test", "admin", "guest", "oracle")
_DAEMONS = ("httpd", "mysqld", "java", "named", "sendmail", "python")


def format_syslog(t: datetime, host: str, component: str, pid: int | None, content: str) -> str:
    """One syslog line: ``Jun  1 00:21:28 combo sshd(pam_unix)[19630]: ...`` (day padded to two)."""
    tag = f"{component}[{pid}]" if pid is not None else component
    return f"{t:%b} {t.day:2d} {t:%H:%M:%S} {host} {tag}: {content}"


def _ip(rng: random.Random) -> str:
    return f"{rng.randint(24, 222)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


Line = tuple[str, Optional[int], str]  # component, pid, content


def _normal(rng: random.Random, pid: Callable[[], int]) -> list[Line]:
    """One normal event (one or a few lines)."""
    k = rng.choices(range(12), (14, 10, 12, 8, 4, 6, 5, 3, 2, 2, 1, 1))[0]
    if k == 0:
        p, user = pid(), rng.choice(("root", "root", "news", "cyrus"))
        return [("crond(pam_unix)", p, f"session opened for user {user} by (uid=0)"),
                ("CROND", pid(), f"({user}) CMD (run-parts /etc/cron.hourly)"),
                ("crond(pam_unix)", p, f"session closed for user {user}")]
    if k == 1:
        p, user = pid(), rng.choice(_USERS[:3])
        return [("su(pam_unix)", p, f"session opened for user {user} by (uid=0)"),
                ("su(pam_unix)", p, f"session closed for user {user}")]
    if k == 2:
        ip = _ip(rng)
        return [("ftpd", pid(), f"connection from {ip} ({ip.replace('.', '-')}.dsl.example.net) at {rng.choice(('Mon', 'Tue', 'Wed', 'Thu', 'Fri'))} "
                 f"{rng.choice(('Jun', 'Jul'))} {rng.randint(1, 28)} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
                 f"{rng.randint(0, 59):02d} 2005 ") for _ in range(rng.randint(1, 3))]
    if k == 3:
        p, user, ip = pid(), rng.choice(_USERS), _ip(rng)
        return [("sshd", p, f"Accepted password for {user} from {ip} port {rng.randint(1024, 65000)} ssh2"),
                ("sshd(pam_unix)", p, f"session opened for user {user} by (uid=0)"),
                ("systemd-logind", rng.randint(400, 900), f"New session {rng.randint(1, 9999)} of user {user}.")]
    if k == 4:  # the background noise of a host on the internet: one failed login, not a storm
        p, ip = pid(), _ip(rng)
        if rng.random() < 0.5:
            return [("sshd(pam_unix)", p, "check pass; user unknown"),
                    ("sshd(pam_unix)", p, f"authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost={ip} ")]
        user = rng.choice(("root", "admin", "test", "guest"))
        return [("sshd(pam_unix)", p, f"authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost={ip}  user={user}"),
                ("sshd", p, f"Failed password for {user} from {ip} port {rng.randint(1024, 65000)} ssh2")]
    if k == 11:  # a short NFS hiccup that recovers at once
        server = rng.choice(("fileserver", "nas01", "home-nfs"))
        return [("kernel", None, f"nfs: server {server} not responding, still trying"),
                ("kernel", None, f"nfs: server {server} OK")]
    if k == 5:
        return [("kernel", None, rng.choice((
            "eth0: link up, 100Mbps, full-duplex, lpa 0x45E1",
            f"usb 1-1: new full speed USB device using uhci_hcd and address {rng.randint(2, 9)}",
            "device eth0 entered promiscuous mode", "device eth0 left promiscuous mode",
            f"audit({rng.randint(1117000000, 1122000000)}.{rng.randint(100, 999)}:{rng.randint(1, 99)}): initialized",
            "NET: Registered protocol family 10")))]
    if k == 6:
        return [("systemd", 1, rng.choice(("Starting Cleanup of Temporary Directories...",
                                          "Started Cleanup of Temporary Directories.",
                                          f"Started Session {rng.randint(1, 9999)} of user root.",
                                          "Reloading.")))]
    if k == 7:
        return [("logrotate", None, "ALERT exited abnormally with [1]")] if rng.random() < 0.3 else \
            [("syslogd 1.4.1", None, "restart.")]
    if k == 8:
        return [("named", pid(), "notify question section contains no SOA")]
    if k == 9:
        return [("xinetd", pid(), f"START: ftp pid={rng.randint(2000, 32000)} from={_ip(rng)}")]
    return [("snmpd", pid(), f"Received SNMP packet(s) from {_ip(rng)}")]


def _episode(kind: str, rng: random.Random, pid: Callable[[], int], n: int) -> list[Line]:
    """About ``n`` lines of one anomalous episode."""
    out: list[Line] = []
    if kind == "io_error":
        dev = rng.choice(("sda", "sdb", "hda"))
        while len(out) < n:
            sector = rng.randint(10_000, 90_000_000)
            out += [("kernel", None, f"end_request: I/O error, dev {dev}, sector {sector}"),
                    ("kernel", None, f"Buffer I/O error on device {dev}1, logical block {sector // 8}")]
            if rng.random() < 0.3:
                out += [("kernel", None, "ata1.00: exception Emask 0x0 SAct 0x0 SErr 0x0 action 0x0"),
                        ("kernel", None, "ata1.00: failed command: READ DMA")]
            if rng.random() < 0.2:
                out.append(("kernel", None, f"EXT3-fs error (device {dev}1): ext3_find_entry: reading directory "
                            f"#{rng.randint(2, 99999)} offset 0"))
    elif kind == "oom_killer":
        while len(out) < n:
            victim, vpid = rng.choice(_DAEMONS), pid()
            out += [("kernel", None, f"{victim} invoked oom-killer: gfp_mask=0x201d2, order=0, oomkilladj=0"),
                    ("kernel", None, "Mem-info:"),
                    ("kernel", None, f"DMA per-cpu: cpu 0 hot: high 0, batch 1 used:{rng.randint(0, 9)}"),
                    ("kernel", None, f"Free pages: {rng.randint(900, 5000)}kB (0kB HighMem)"),
                    ("kernel", None, f"Out of memory: Killed process {vpid} ({victim}).")]
    elif kind == "segfault":
        while len(out) < n:
            proc = rng.choice(_DAEMONS)
            out.append(("kernel", None, f"{proc}[{pid()}]: segfault at {rng.getrandbits(32):08x} ip "
                        f"{rng.getrandbits(32):08x} sp {rng.getrandbits(32):08x} error {rng.choice((4, 6, 14))}"))
    elif kind == "nfs_timeout":
        server = rng.choice(("fileserver", "nas01", "home-nfs"))
        while len(out) < n - 1:
            out.append(("kernel", None, f"nfs: server {server} not responding, still trying"))
            if rng.random() < 0.3:
                out.append(("kernel", None, f"INFO: task {rng.choice(_DAEMONS)}:{pid()} blocked for more than "
                            "120 seconds."))
        out.append(("kernel", None, f"nfs: server {server} OK"))
    else:  # auth_storm
        ip, user = _ip(rng), rng.choice(("root", "admin", "test", "guest", "oracle"))
        while len(out) < n:
            p = pid()
            out += [("sshd(pam_unix)", p, f"authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= "
                     f"rhost={ip}  user={user}"),
                    ("sshd", p, f"Failed password for {'invalid user ' if rng.random() < 0.5 else ''}{user} from {ip} "
                     f"port {rng.randint(1024, 65000)} ssh2")]
    return out[:n] if kind != "nfs_timeout" else out


def generate_kernel(out_dir: str | Path, *, seed: int, lines: int = 20_000, anomaly_ratio: float = 0.05,
                    episode_kinds: Sequence[str] = EPISODE_KINDS, episode_lines: tuple[int, int] = (6, 60),
                    host: str = "combo", start: str = "2005-06-14 15:16:01") -> dict[str, Any]:
    """Write ``kernel.log``, ``kernel_labels.csv`` and ``kernel_episodes.csv`` into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Folder to write into (created).
    seed : int
        Same seed, same bytes.
    lines : int, default 20000
        Lines of ``kernel.log`` (exact).
    anomaly_ratio : float, default 0.05
        Share of lines inside anomalous episodes (kept close by placing episodes on a quota).
    episode_kinds : sequence of str, default all of :data:`EPISODE_KINDS`
    episode_lines : (int, int), default (6, 60)
        Smallest and largest episode, in lines.
    host : str, default "combo"
        The host name column (loghub calls it "Level").
    start : str, default "2005-06-14 15:16:01"
        Time of the first line; the year is not printed (syslog has none).

    Returns
    -------
    dict
        ``files``, ``lines``, ``anomalous_lines``, ``episodes`` (count per kind).

    Examples
    --------
    >>> import tempfile
    >>> generate_kernel(tempfile.mkdtemp(), seed=1, lines=300)["lines"]
    300
    """
    check_positive("lines", lines, minimum=10)
    ratio = check_ratio("anomaly_ratio", anomaly_ratio)
    bad = [k for k in episode_kinds if k not in EPISODE_KINDS]
    if bad or not episode_kinds:
        raise ConfigError(f"episode_kinds: unknown or empty {list(episode_kinds)!r}; choose from {', '.join(EPISODE_KINDS)}")
    lo, hi = (int(x) for x in episode_lines)
    if not 1 <= lo <= hi:
        raise ConfigError(f"episode_lines must be two integers 1 <= min <= max, got {episode_lines!r}")
    try:
        t = datetime.strptime(start, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ConfigError(f"start must look like '2005-06-14 15:16:01', got {start!r}") from None
    rng = sub_rng(seed, "kernel")
    pid_state = [rng.randint(2000, 9000)]

    def pid() -> int:
        pid_state[0] = 300 + (pid_state[0] + rng.randint(1, 40) - 300) % 32000
        return pid_state[0]

    out: list[str] = []
    labels: list[int] = []
    episodes: list[tuple[int, int, str]] = []
    n_anom = 0
    while len(out) < lines:
        # Start an episode when the anomalous share lags behind the quota (with some randomness).
        due = ratio * (len(out) + (lo + hi) / 2) - n_anom
        if ratio > 0 and due >= lo and rng.random() < 0.2:
            kind = rng.choice(list(episode_kinds))
            chunk = _episode(kind, rng, pid, min(rng.randint(lo, hi), lines - len(out)))[:lines - len(out)]
            first = len(out) + 1
            for comp, p, content in chunk:
                t += timedelta(seconds=rng.choice((0, 0, 0, 1, 1, 2)))
                out.append(format_syslog(t, host, comp, p, content))
                labels.append(1)
            n_anom += len(chunk)
            episodes.append((first, len(out), kind))
            continue
        t += timedelta(seconds=int(rng.expovariate(1 / 60.0)))
        for comp, p, content in _normal(rng, pid)[:lines - len(out)]:
            out.append(format_syslog(t, host, comp, p, content))
            labels.append(0)
            t += timedelta(seconds=rng.choice((0, 0, 1)))
    base = Path(out_dir)
    write_lines(base / "kernel.log", out)
    write_csv(base / "kernel_labels.csv", ("line_no", "label"), ((i, lab) for i, lab in enumerate(labels, start=1)))
    write_csv(base / "kernel_episodes.csv", ("first_line", "last_line", "kind"), episodes)
    counts = {k: sum(1 for *_, kk in episodes if kk == k) for k in episode_kinds}
    log.info("kernel: %d lines, %d anomalous in %d episodes", len(out), n_anom, len(episodes))
    return {"kind": "kernel", "out": str(base), "files": ["kernel.log", "kernel_labels.csv", "kernel_episodes.csv"],
            "lines": len(out), "anomalous_lines": n_anom, "episodes": counts}
