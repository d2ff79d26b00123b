"""Helpers shared by the synthetic corpora: seeded ids, quotas, timestamps, atomic writes.

Everything random comes from a :class:`random.Random` seeded with a string built from the user's
seed and a fixed name (``sub_rng(seed, "openstack")``). String seeds are hashed with SHA-512 by
the standard library, so the stream does not depend on ``PYTHONHASHSEED``, the clock or the
machine: the same seed writes the same bytes.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import random
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable, Sequence

from logad.errors import ConfigError
from logad.io import atomic_path

__all__ = ["sub_rng", "uuid4", "hex_token", "b64_token", "QuotaDraw", "ms_to_datetime",
           "write_text", "write_lines", "write_csv", "check_ratio", "check_positive"]


def sub_rng(seed: int, *names: str) -> random.Random:
    """A generator for one part of a corpus, independent of the other parts.

    Parameters
    ----------
    seed : int
        The user's seed.
    *names : str
        What the stream is for (``"openstack"``, ``"run-3"``); different names give
        independent streams, so adding a part does not shift the others.

    Returns
    -------
    random.Random

    Examples
    --------
    >>> sub_rng(1, "a").random() == sub_rng(1, "a").random()
    True
    """
    return random.Random("logad-synth:" + ":".join([str(int(seed)), *names]))


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID string drawn from ``rng`` (never from the OS)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def hex_token(rng: random.Random, nbytes: int = 16) -> str:
    """``2 * nbytes`` lowercase hex digits (keystone user and project ids are 16 bytes)."""
    return f"{rng.getrandbits(nbytes * 8):0{nbytes * 2}x}"


def b64_token(rng: random.Random, nbytes: int = 16) -> str:
    """URL-safe base64 of ``nbytes`` random bytes without padding (22 characters for 16 bytes)."""
    raw = rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class QuotaDraw:
    """Draw yes/no with probability ``ratio`` while keeping the running count near ``ratio * n``.

    Each call is random, but the chance is raised when the count of yeses lags behind
    ``ratio * n`` and lowered when it runs ahead, so after ``n`` draws the count is within one of
    ``ratio * n`` (a plain Bernoulli draw drifts by about ``sqrt(n)``).

    Parameters
    ----------
    ratio : float
        Wanted share of yeses, in [0, 1].
    rng : random.Random

    Examples
    --------
    >>> draw = QuotaDraw(0.25, random.Random(0))
    >>> abs(sum(draw() for _ in range(400)) - 100) <= 1
    True
    """

    def __init__(self, ratio: float, rng: random.Random) -> None:
        self.ratio = ratio
        self.rng = rng
        self.n = 0
        self.k = 0

    def __call__(self) -> bool:
        due = self.ratio * (self.n + 1) - self.k
        hit = self.rng.random() < due
        self.n += 1
        self.k += int(hit)
        return hit


def ms_to_datetime(start: datetime, ms: int) -> datetime:
    """``start`` plus ``ms`` milliseconds."""
    return start + timedelta(milliseconds=ms)


def write_text(path: str | os.PathLike, text: str | bytes) -> Path:
    """Write ``text`` (str as UTF-8, or bytes as given) atomically; returns the final path."""
    final = Path(path)
    with atomic_path(final) as tmp:
        tmp.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return final


def write_lines(path: str | os.PathLike, lines: Iterable[str]) -> Path:
    """Write one line per item (each ended by ``\\n``), atomically."""
    return write_text(path, "".join(f"{line}\n" for line in lines))


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """Write a CSV with ``\\n`` line ends, atomically."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return write_text(path, buf.getvalue())


def check_ratio(name: str, value: float, *, upper: float = 1.0) -> float:
    """Return ``value`` as float if ``0 <= value < upper``, else raise :class:`ConfigError`."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not 0.0 <= v < upper:
        raise ConfigError(f"{name} must be in [0, {upper}), got {value!r}")
    return v


def check_positive(name: str, value: int | float, *, minimum: float = 1) -> int | float:
    """Return ``value`` if it is a number ``>= minimum``, else raise :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigError(f"{name} must be a number >= {minimum}, got {value!r}")
    return value
