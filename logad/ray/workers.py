"""One worker class, run either as a pool of Ray actors or as one object in this process.

A stage's work lives in a plain class (no Ray import) whose methods each take one item of work
(a group of input units, a bucket). :class:`Workers` starts that class as ``n`` Ray actors
(one CPU each) and hands items out with :func:`logad.ray.pool.ordered_map`, or, below a stage's
size threshold, builds one instance here and calls the same methods in order: the same
functions on the same items, so both give the same results, and a small input never pays for
Ray's start-up (Ray is not even imported).
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Iterator

__all__ = ["Workers", "in_process"]

log = logging.getLogger(__name__)


def in_process(n_items: int, threshold: int | None) -> bool:
    """Whether a stage of ``n_items`` (lines, sessions) runs in this process: below
    ``threshold`` (None or 0: never)."""
    return bool(threshold) and n_items < int(threshold)


class Workers:
    """``n`` instances of ``cls(*args)``: Ray actors, or one local object when ``local``.

    Parameters
    ----------
    cls : type
        The worker class; its methods take one item and return a result.
    args : tuple
        Constructor arguments (sent once to each actor).
    n : int
        Actors to start (ignored when ``local``).
    local : bool
        Run in this process instead of on Ray.
    options : dict, optional
        Ray actor options over the default one CPU each (e.g. ``{"num_gpus": 1}``).
    """

    def __init__(self, cls: type, args: tuple = (), *, n: int = 1, local: bool = False,
                 options: dict | None = None) -> None:
        self.local = local
        if local:
            self.actors = [cls(*args)]
            return
        import ray

        from logad.ray.runtime import ensure_ray

        ensure_ray()
        remote = ray.remote(**{"num_cpus": 1, "max_restarts": 1, "max_task_retries": 1,
                               **(options or {})})(cls)
        self.actors = [remote.remote(*args) for _ in range(max(1, int(n)))]

    @property
    def size(self) -> int:
        return len(self.actors)

    def map(self, method: str, items: Iterable[Any], *, progress: str | None = None) -> Iterator[Any]:
        """``method(item)`` for every item, results in the order of ``items``."""
        if self.local:
            fn = getattr(self.actors[0], method)
            for item in items:
                yield fn(item)
            return
        from logad.ray.pool import ordered_map

        yield from ordered_map(self.actors, lambda a, it: getattr(a, method).remote(it), list(items),
                               progress=progress)

    def each(self, method: str, *args: Any) -> list[Any]:
        """``method(*args)`` once on every worker (e.g. to hand it a table); large arguments go
        to the object store once."""
        if self.local:
            return [getattr(a, method)(*args) for a in self.actors]
        import ray

        refs = [ray.put(a) for a in args]
        return ray.get([getattr(a, method).remote(*refs) for a in self.actors])

    def scatter(self, method: str, items: list[Any]) -> list[Any]:
        """``method(items[i])`` on worker ``i`` (one item per worker): work whose result the
        worker keeps for later calls, so it must not go to whichever worker is free."""
        if len(items) != len(self.actors):
            raise ValueError(f"scatter needs one item per worker ({len(self.actors)}), got {len(items)}")
        if self.local:
            return [getattr(a, method)(it) for a, it in zip(self.actors, items)]
        import ray

        return ray.get([getattr(a, method).remote(it) for a, it in zip(self.actors, items)])

    def close(self) -> None:
        if not self.local:
            import ray

            for a in self.actors:
                ray.kill(a)
        self.actors = []

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
