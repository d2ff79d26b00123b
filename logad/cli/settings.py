"""How a command turns its flags into the stage's settings object, and sizes the local Ray."""

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
    """``--num-cpus``: the size of the local Ray a runner starts when it first needs one (the
    CLI starts nothing); no effect when ``RAY_ADDRESS`` names a running cluster (it is joined
    as it is)."""
    if os.environ.get("RAY_ADDRESS"):
        return
    from logad.ray.runtime import size_local_ray

    size_local_ray(num_cpus)
