"""One worker class, run either as a pool of Ray actors or as one object in this process.

A stage's work lives in a plain class (no Ray import) whose methods each take one item of work
(a group of input units, a bucket). :class:`Workers` starts that class as ``n`` Ray actors
(one CPU each) and hands items out with :func:`logad.ray.pool.ordered_map`, or, below a stage's
size threshold, builds one instance here and calls the same methods in order: the same
functions on the same items, so both give the same results, and a small input never pays for
Ray's start-up (Ray is not even imported).

Every runner's pool is one of these (ingest and triage through
:func:`map_unit_groups`); :mod:`logad.ray.pool` holds the Ray mechanics under it
(ordered hand-out with retries, answers from every actor, shutdown).
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Iterator, Sequence

__all__ = ["Workers", "in_process", "map_unit_groups"]

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
    """

    def __init__(self, cls: type, args: tuple = (), *, n: int = 1, local: bool = False) -> None:
        self.local = local
        if local:
            self.actors = [cls(*args)]
            return
        import ray

        from logad.ray.runtime import ensure_ray

        ensure_ray()
        remote = ray.remote(num_cpus=1, max_restarts=1, max_task_retries=1)(cls)
        self.actors = [remote.remote(*args) for _ in range(max(1, int(n)))]

    @property
    def size(self) -> int:
        return len(self.actors)

    def map(self, method: str, items: Iterable[Any], *, progress: str | None = None,
            prepare: tuple[str, tuple] | None = None) -> Iterator[Any]:
        """``method(item)`` for every item, results in the order of ``items``.

        ``prepare``: ``(method, args)`` that puts a worker back into the state ``method`` needs
        (e.g. ``("set_mapping", (ref, path))``), called before an item is redone on a worker
        whose actor was lost (see :func:`logad.ray.pool.ordered_map`).
        """
        if self.local:
            fn = getattr(self.actors[0], method)
            for item in items:
                yield fn(item)
            return
        from logad.ray.pool import ordered_map

        again = None
        if prepare is not None:
            name, args = prepare
            again = lambda a: getattr(a, name).remote(*args)  # noqa: E731
        yield from ordered_map(self.actors, lambda a, it: getattr(a, method).remote(it), list(items),
                               progress=progress, prepare=again)

    def put(self, value: Any) -> Any:
        """``value`` in the object store once (itself when local), to pass to many calls."""
        if self.local:
            return value
        import ray

        return ray.put(value)

    def each(self, method: str, *args: Any, drop_lost: bool = False) -> list[Any]:
        """``method(*args)`` once on every worker (e.g. to hand it a table); large arguments go
        to the object store once.

        ``drop_lost``: a worker whose actor was lost (its node died) leaves the pool instead of
        failing the call, and the answers are those of the workers left; only for workers that
        keep nothing a later call needs but what ``map``'s ``prepare`` gives back.
        """
        if self.local:
            return [getattr(a, method)(*args) for a in self.actors]
        import ray

        refs = [a if isinstance(a, ray.ObjectRef) else ray.put(a) for a in args]
        if drop_lost:
            from logad.ray.pool import broadcast

            self.actors, answers = broadcast(self.actors, lambda a: getattr(a, method).remote(*refs))
            return answers
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
        """Kill the actors (:func:`logad.ray.pool.release_actors`); safe to call twice."""
        if not self.local:
            from logad.ray.pool import release_actors

            release_actors(self.actors)
        self.actors = []

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def map_unit_groups(worker_cls: type, args: Sequence[Any], todo: Sequence[Any],
                    workers: int | None, progress: str) -> list[Any]:
    """Run ``worker_cls(*args).process(group)`` over guided groups of ``todo`` on a pool of
    one-CPU actors (:class:`logad.ray.workers.Workers`; ``workers``, else one per CPU); the
    rows of every group, in input order.

    The actors are killed at the end, also on error.
    """
    from logad.ray.pool import guided_groups, pool_size

    if not todo:
        return []
    n = pool_size(workers)
    groups = guided_groups(list(todo), n)
    rows: list[Any] = []
    with Workers(worker_cls, tuple(args), n=max(1, min(n, len(groups)))) as pool:
        for group_rows in pool.map("process", groups, progress=progress):
            rows += group_rows
    return rows
