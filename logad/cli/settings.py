"""How a command turns its flags into the stage's settings object, and starts the local Ray."""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, TypeVar

from logad.settings import Settings, resolve

__all__ = ["stage_settings", "local_ray"]

S = TypeVar("S", bound=Settings)


def stage_settings(model: type[S], config: str | os.PathLike | None, flags: Mapping[str, Any],
                   sets: Iterable[str] | None = None) -> S:
    """``configs/<stage>.yaml`` → ``--config`` → the flags given (dotted keys, None: not given)
    → ``--set KEY=VALUE``: the validated settings (:func:`logad.settings.resolve`)."""
    return resolve(model, config, flags=flags, sets=sets)


def local_ray(num_cpus: int | None) -> None:
    """``--num-cpus``: start the local Ray with that many CPUs now (the runners join it); no-op
    when not given, or when ``RAY_ADDRESS`` names a running cluster (it is joined as it is)."""
    if num_cpus is None or os.environ.get("RAY_ADDRESS"):
        return
    from logad.ray.runtime import ensure_ray

    ensure_ray(num_cpus=num_cpus)
