"""One light-oauth2 service log of one LO2 test case: normal traffic, noise errors, injected errors.

Line shape (``lo2_sample/README.md``)::

    16:29:40.221 [XNIO-1 task-4]  XgY8YVqfRTGjmhawhHeKOw DEBUG c.n.openapi.ApiNormalisedPath <init> - path = /oauth2/token, base path is set to: null
    16:29:40.792 [hz._hzInstance_1_dev.partition-operation.thread-1]   DEBUG c.n.oauth.cache.RefreshTokenMapStore store - Store:0745...

Stack traces follow their ERROR line as lines without a timestamp (``\\tat ...``, ``Caused by: ...``).
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field

from logad.synth.common import QuotaDraw, b64_token, uuid4
from logad.synth.lo2_templates import FLOWS, HANDLER_CHAIN, INIT_LINES, ErrorCase, Flow, abbrev

__all__ = ["ServiceLog", "service_log", "format_lo2_line", "time_of_day"]

_HZ = "hz._hzInstance_1_dev.partition-operation.thread-{}"
_CACHE = "com.networknt.oauth.cache."
_VALIDATOR = abbrev("com.networknt.schema.TypeValidator")
_NORMPATH = abbrev("com.networknt.openapi.ApiNormalisedPath")
_CONFIG = "com.networknt.config.Config"
_TOKEN = abbrev("com.networknt.oauth.token.handler.Oauth2TokenPostHandler")


def time_of_day(ms: int) -> str:
    """``HH:MM:SS.mmm`` (UTC) of an epoch time in milliseconds."""
    s, milli = divmod(int(ms), 1000)
    return f"{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{milli:03d}"


def format_lo2_line(ms: int, thread: str, cid: str, level: str, logger: str, method: str, msg: str) -> str:
    """One LO2 line: two spaces after the thread, the level padded to five characters."""
    return f"{time_of_day(ms)} [{thread}]  {cid} {level:<5} {logger} {method} - {msg}"


@dataclass
class ServiceLog:
    """The text of one service log and what is in it."""

    text: str
    lines: int
    requests: list[int] = field(default_factory=list)      # start times (epoch ms)
    errors: list[int] = field(default_factory=list)        # times of ERROR lines
    injected: int = 0                                       # requests that carry the test case's error
    end_ms: int = 0


def _line_no(name: str) -> int:
    return 40 + zlib.crc32(name.encode()) % 260


def _api_trace(handler: str, status: str) -> tuple[str, ...]:
    cls = handler.rsplit(".", 1)[1]
    return (f"com.networknt.exception.ApiException: {status}",
            f"\tat {handler}.handleRequest({cls}.java:{_line_no(handler)})",
            *(f"\tat {c}.{m}({f}:{n})" for c, m, f, n in HANDLER_CHAIN))


def _db_trace(store: str, exc: str, omitted: int) -> tuple[str, ...]:
    cls = store.rsplit(".", 1)[1]
    return (f"com.hazelcast.core.HazelcastException: java.sql.{exc}",
            f"\tat {store}.store({cls}.java:{_line_no(store)})",
            "\tat com.hazelcast.map.impl.mapstore.writethrough.WriteThroughStore.add(WriteThroughStore.java:56)",
            "\tat com.hazelcast.map.impl.recordstore.DefaultRecordStore.putInternal(DefaultRecordStore.java:745)",
            "\tat com.hazelcast.map.impl.operation.PutOperation.run(PutOperation.java:38)",
            f"Caused by: java.sql.{exc}",
            "\tat com.mysql.cj.jdbc.exceptions.SQLError.createSQLException(SQLError.java:117)",
            "\tat com.mysql.cj.jdbc.ClientPreparedStatement.executeUpdate(ClientPreparedStatement.java:1061)",
            "\tat com.zaxxer.hikari.pool.HikariProxyPreparedStatement.executeUpdate(HikariProxyPreparedStatement.java)",
            f"\t... {omitted} common frames omitted")


def _status(code: int, err: str, message: str, description: str) -> str:
    return (f'{{"statusCode":{code},"code":"{err}","message":"{message}",'
            f'"description":"{description}","severity":"ERROR"}}')


class _Writer:
    """Accumulates timestamped entries (with trailing trace lines) for one file."""

    def __init__(self, rng: random.Random, basics: list[str]) -> None:
        self.rng, self.basics = rng, basics
        self.entries: list[tuple[int, int, str, tuple[str, ...]]] = []
        self.n_lines = 0
        self.out = ServiceLog("", 0)

    def add(self, t: int, thread: str, cid: str, level: str, fqcn: str, method: str, msg: str,
            trace: tuple[str, ...] = ()) -> None:
        self.entries.append((t, len(self.entries),
                             format_lo2_line(t, thread, cid, level, abbrev(fqcn), method, msg), trace))
        self.n_lines += 1 + len(trace)
        if level == "ERROR":
            self.out.errors.append(t)

    def values(self) -> dict[str, str]:
        r = self.rng
        return {"uuid": uuid4(r), "uuid2": uuid4(r), "code": b64_token(r), "hex8": f"{r.getrandbits(32):08x}",
                "basic": r.choice(self.basics), "page": str(r.randint(1, 5)), "keyid": str(r.choice((100, 101))),
                "bearer": "Bearer eyJraWQiOiIxMDAiLCJhbGciOiJSUzI1NiJ9." + b64_token(r, 24)}

    def prologue(self, t: int, thread: str, cid: str, path: str) -> int:
        r = self.rng
        msgs = ([f"normalised = {path}"] * 3 if r.random() < 0.5 else
                [f"path = {path}, base path is set to: null", f"path ={path}",
                 f"path = {path}, base path is set to: null"])
        for msg in msgs:
            self.add(t, thread, cid, "DEBUG", _NORMPATH, "<init>", msg)
            t += r.randint(0, 2)
        return t

    def request(self, t: int, flow: Flow, noise: bool) -> int:
        r, v = self.rng, self.values()
        thread, cid = f"XNIO-1 task-{r.randint(1, 8)}", b64_token(r)
        t = self.prologue(t, thread, cid, flow.path.format(**v))
        arg = flow.validate[0].format(**v)
        self.add(t, thread, cid, "DEBUG", _VALIDATOR, "debug", f'validate( "{arg}", "{arg}", {flow.validate[1]})')
        for level, fqcn, method, msg in flow.lines:
            t += r.randint(0, 6)
            self.add(t, thread, cid, level, fqcn, method, msg.format(**v))
        for store, op, key in flow.stores:
            self.add(t + r.randint(1, 40), _HZ.format(r.randint(0, 15)), "", "DEBUG", _CACHE + store, op,
                     f"{op.capitalize()}:{key.format(**v)}")
        if noise:  # the benign errors of the real `correct` runs
            if flow.jwt and r.random() < 0.7:
                t += r.randint(1, 5)
                self.add(t, thread, cid, "ERROR", _TOKEN, "handleRequest", "ApiException",
                         _api_trace("com.networknt.oauth.token.handler.Oauth2TokenPostHandler",
                                    _status(400, "ERR12003", "INVALID_AUTH_CODE", f"Invalid authorization code {v['code']}."))
                         if r.random() < 0.7 else ())
                return t
            store = _CACHE + "ClientMapStore"
            self.add(t + r.randint(1, 40), _HZ.format(r.randint(0, 15)), "", "ERROR", store, "delete", "Exception:",
                     _db_trace(store, "SQLIntegrityConstraintViolationException: Cannot delete or update a parent row: "
                               "a foreign key constraint fails", r.randint(12, 16)) if r.random() < 0.6 else ())
        if flow.jwt:
            t += r.randint(2, 20)
            self.add(t, thread, cid, "DEBUG", "com.networknt.security.JwtIssuer", "getPrivateKey",
                     "filename = primary.jks key = selfsigned")
            t += r.randint(5, 20)
            self.add(t, thread, cid, "INFO", _CONFIG, "getConfigStream",
                     "Config loaded from externalized folder for primary.jks in /config")
        return t

    def failing(self, t: int, case: ErrorCase) -> int:
        r, v = self.rng, self.values()
        thread, cid = f"XNIO-1 task-{r.randint(1, 8)}", b64_token(r)
        t = self.prologue(t, thread, cid, case.path.format(**v))
        status = _status(case.status, case.code, case.message, case.description.format(**v))
        if case.style == "validation":
            self.add(t + r.randint(0, 3), thread, cid, "ERROR", case.handler, "handleRequest", f"Status = {status}")
            return t
        self.add(t, thread, cid, "DEBUG", _VALIDATOR, "debug",
                 f'validate( "{v["basic"]}", "{v["basic"]}", authorization)')
        if case.style == "db":
            store = _CACHE + "UserMapStore"
            self.add(t + r.randint(1, 10), _HZ.format(r.randint(0, 15)), "", "ERROR", store, "store", "Exception:",
                     _db_trace(store, f"SQLIntegrityConstraintViolationException: Duplicate entry '{v['hex8']}' "
                               "for key 'PRIMARY'", r.randint(12, 16)))
        t += r.randint(1, 12)
        self.add(t, thread, cid, "ERROR", case.handler, "handleRequest", "ApiException", _api_trace(case.handler, status))
        return t

    def init(self, t: int) -> int:
        r = self.rng
        ip, port = f"172.18.0.{r.randint(2, 20)}", r.choice((6881, 6882, 6883, 6884, 6885, 6886, 6887))
        for level, fqcn, method, msg in INIT_LINES:
            self.add(t, "main", "", level, fqcn, method, msg.format(ip=ip, port=port))
            t += r.randint(1, 120)
        return t

    def finish(self) -> ServiceLog:
        self.entries.sort(key=lambda e: (e[0], e[1]))
        parts = []
        for _, _, line, trace in self.entries:
            parts.append(line)
            parts.extend(trace)
        self.out.text = "\n".join(parts) + "\n"
        self.out.lines = self.n_lines
        self.out.end_ms = self.entries[-1][0]
        return self.out


def service_log(rng: random.Random, service: str, *, start_ms: int, duration_ms: int, target_lines: int,
                case: ErrorCase | None, error_share: float, noise_rate: float, basics: list[str]) -> ServiceLog:
    """Generate one service log of about ``target_lines`` lines (stack-trace lines included).

    Parameters
    ----------
    rng : random.Random
    service : str
        One of :data:`logad.synth.lo2_templates.SERVICES`.
    start_ms, duration_ms : int
        Epoch milliseconds of the first request and the span the requests are spread over.
    target_lines : int
        Stop adding requests once the file has at least this many lines.
    case : ErrorCase or None
        The test case's error when this service is the one it breaks, else None.
    error_share : float
        Share of requests that carry ``case``'s error (at least one does).
    noise_rate : float
        Share of requests with a benign ERROR, as in the real ``correct`` runs.
    basics : list of str
        ``Basic ...`` authorization headers of the run's clients.
    """
    w = _Writer(rng, basics)
    w.init(start_ms - rng.randint(3000, 6000))
    flows = FLOWS[service]
    weights = [f.weight for f in flows]
    gap = max(1.0, duration_ms / max(1.0, target_lines / 8))
    draw, force_at = QuotaDraw(error_share, rng), rng.randint(0, 5)
    t, i = start_ms, 0
    while w.n_lines < target_lines:
        w.out.requests.append(t)
        if case is not None and (draw() or i == force_at):
            w.failing(t, case)
            w.out.injected += 1
        else:
            w.request(t, rng.choices(flows, weights)[0], noise=rng.random() < noise_rate)
        t += int(rng.expovariate(1.0 / gap)) + 1
        i += 1
    return w.finish()
