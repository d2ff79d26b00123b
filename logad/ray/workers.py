"""One worker class, run either as a pool of Ray actors or as one object in this process.

A stage's work lives in a plain class (no Ray import) whose methods each take one item of work
(a group of input units, a bucket). :class:`Workers` starts that class as ``n`` Ray actors
(one CPU each) and hands items out with :func:`logad.ray.pool.ordered_map`, or, below a stage's
size threshold, builds one instance here and calls the same methods in order: the same
functions on the same items, so both give the same results, and a small input never pays for
Ray's start-up (Ray is not even imported).

A worker that dies (its process killed, its node lost) is restarted once by Ray, and it comes
back with only its constructor's state. So Ray does not retry its tasks by itself: the pool
redoes each lost item (:func:`~logad.ray.pool.ordered_map`), first handing the worker it goes
to everything :meth:`Workers.each` gave the pool so far, and a restarted worker gets the same
before it is used again. :attr:`Workers.retried` counts the redone items (stages record it in
their manifest). A worker that cannot come back leaves the pool; when none is left, or the
lost worker held data of its own (:meth:`Workers.scatter`), the stage fails with
:class:`~logad.errors.WorkerLost`.

Every runner's pool is one of these (ingest and triage through :func:`map_unit_groups`);
:mod:`logad.ray.pool` holds the Ray mechanics under it (ordered hand-out with retries, answers
from every actor, shutdown).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterable, Iterator, Sequence

from logad.errors import WorkerLost

__all__ = ["Workers", "in_process", "map_unit_groups"]

log = logging.getLogger(__name__)


def in_process(n_items: int, threshold: int | None) -> bool:
    """Whether a stage of ``n_items`` (lines, sessions) runs in this process: below
    ``threshold`` (None or 0: never)."""
    return bool(threshold) and n_items < int(threshold)


#: Ray passes constructor arguments up to this size (pickled) inline; larger ones go to the
#: object store, and an actor whose constructor arguments are there cannot be restarted safely
#: (Ray warns of it on stderr). Such a pool's workers get their arguments through a call
#: instead, which the pool replays on a restarted worker like every other piece of state.
INLINE_ARGS_BYTES = 100 * 1024


def _built_by_call(cls: type) -> type:
    """``cls`` whose constructor takes nothing; ``_logad_init(*args)`` runs ``cls.__init__``."""

    class Deferred(cls):
        def __init__(self) -> None:  # the state comes with _logad_init
            pass

        def _logad_init(self, *args: Any) -> bool:
            cls.__init__(self, *args)
            return True

    # the actor's class name in Ray's state and dashboard; cloudpickle still sends the class by
    # value (it finds no such attribute in this module)
    Deferred.__name__, Deferred.__qualname__ = cls.__name__, cls.__qualname__
    return Deferred


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
        self.retried = 0           # items redone after their worker was lost
        self._given: list[tuple[str, list[Any]]] = []  # every each() call, to give a new worker
        self._stale: list[Any] = []  # workers lost in a map: they get their state back first
        self._scattered = False
        if local:
            self.actors = [cls(*args)]
            return
        import ray

        from logad.ray.runtime import ensure_ray

        ensure_ray()
        # no task retries by Ray: a restarted actor would run them without the state each() gave
        options = {"num_cpus": 1, "max_restarts": 1, "max_task_retries": 0, **(options or {})}
        if args and len(ray.cloudpickle.dumps(args)) > INLINE_ARGS_BYTES:
            remote = ray.remote(**options)(_built_by_call(cls))
            self.actors = [remote.remote() for _ in range(max(1, int(n)))]
            self.each("_logad_init", *args, drop_lost=False)
            return
        remote = ray.remote(**options)(cls)
        self.actors = [remote.remote(*args) for _ in range(max(1, int(n)))]

    @property
    def size(self) -> int:
        return len(self.actors)

    def map(self, method: str, items: Iterable[Any], *, progress: str | None = None,
            prepare: tuple[str, tuple] | None = None) -> Iterator[Any]:
        """``method(item)`` for every item, results in the order of ``items``.

        A worker an item is redone on first gets everything :meth:`each` gave the pool, then
        ``prepare`` (``(method, args)``) when given.
        """
        if self.local:
            fn = getattr(self.actors[0], method)
            for item in items:
                yield fn(item)
            return
        from ray.exceptions import RayActorError

        from logad.ray.pool import ordered_map

        self._refresh()
        try:
            yield from ordered_map(self.actors, lambda a, it: getattr(a, method).remote(it),
                                   list(items), progress=progress,
                                   prepare=lambda a: self._restore(a, prepare),
                                   on_redo=self._lost)
        except RayActorError as exc:
            raise WorkerLost(f"every worker of this stage died ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0]}); re-run the same command") from None

    def put(self, value: Any) -> Any:
        """``value`` in the object store once (itself when local), to pass to many calls."""
        if self.local:
            return value
        import ray

        return ray.put(value)

    def each(self, method: str, *args: Any, drop_lost: bool = True) -> list[Any]:
        """``method(*args)`` once on every worker (e.g. to hand it a table); large arguments go
        to the object store once. A worker that does not answer gets everything again once it
        is back, or leaves the pool; the answers are those of the workers that answered
        (``drop_lost=False``: a lost worker is an error instead)."""
        if self.local:
            return [getattr(a, method)(*args) for a in self.actors]
        import ray
        from ray.exceptions import RayActorError

        self._refresh()
        refs = [a if isinstance(a, ray.ObjectRef) else ray.put(a) for a in args]
        self._given.append((method, refs))
        calls = [(a, getattr(a, method).remote(*refs)) for a in self.actors]
        answers, lost = [], []
        for actor, ref in calls:
            try:
                answers.append(ray.get(ref))
            except RayActorError:
                lost.append(actor)
        if lost and not drop_lost:
            raise WorkerLost(f"a worker died during {method}; re-run the same command")
        if lost:  # they get this call with the rest of their state, or leave the pool
            self._stale.extend(lost)
            self._refresh()
        return answers

    def scatter(self, method: str, items: list[Any]) -> list[Any]:
        """``method(items[i])`` on worker ``i`` (one item per worker): work whose result the
        worker keeps for later calls, so it must not go to whichever worker is free."""
        if len(items) != len(self.actors):
            raise ValueError(f"scatter needs one item per worker ({len(self.actors)}), got {len(items)}")
        if self.local:
            return [getattr(a, method)(it) for a, it in zip(self.actors, items)]
        import ray
        from ray.exceptions import RayActorError

        self._refresh()
        self._scattered = True
        try:
            return ray.get([getattr(a, method).remote(it) for a, it in zip(self.actors, items)])
        except RayActorError as exc:
            raise WorkerLost(f"a worker died holding its share of the data ({type(exc).__name__}); "
                             "re-run the same command") from None

    # -- a lost worker ---------------------------------------------------------------------------
    def _lost(self, actor: Any) -> None:
        """ordered_map redoes an item of ``actor``: count it; the actor needs its state back."""
        if self._scattered:
            raise WorkerLost("a worker died holding its share of the data; re-run the same "
                             "command")
        self.retried += 1
        if actor not in self._stale:
            self._stale.append(actor)

    def _restore(self, actor: Any, prepare: tuple[str, tuple] | None = None) -> Any:
        """Hand ``actor`` everything :meth:`each` gave the pool, in order, then ``prepare``;
        the last call's ObjectRef (an actor runs its calls in order, so it answers after all
        of them)."""
        if self._scattered:
            raise WorkerLost("a worker died holding its share of the data; re-run the same "
                             "command")
        ref = actor.__ray_ready__.remote()  # every Ray actor has it
        for method, refs in self._given:
            ref = getattr(actor, method).remote(*refs)
        if prepare is not None:
            name, args = prepare
            ref = getattr(actor, name).remote(*args)
        return ref

    def _bring_back(self, actor: Any, tries: int = 5) -> bool:
        """Whether ``actor`` answered once it had its state back (a restart takes a moment)."""
        import ray
        from ray.exceptions import ActorDiedError, RayActorError

        for attempt in range(tries):
            try:
                ray.get(self._restore(actor))
                return True
            except ActorDiedError:  # no restart left
                return False
            except RayActorError:  # still restarting: ask again in a moment
                time.sleep(0.5 * 2 ** attempt)
        return False

    def _refresh(self) -> None:
        """Give the workers lost so far their state back, or drop those that do not come back;
        :class:`WorkerLost` when none is left."""
        while self._stale:
            actor = self._stale.pop()
            if actor in self.actors and not self._bring_back(actor):
                self.actors = [a for a in self.actors if a is not actor]
                log.warning("a worker did not come back; going on with %d", len(self.actors))
        if not self.actors:
            raise WorkerLost("every worker of this stage died; re-run the same command")

    def close(self) -> None:
        """Kill the actors (:func:`logad.ray.pool.release_actors`); safe to call twice."""
        if not self.local:
            from logad.ray.pool import release_actors

            release_actors(self.actors)
        self.actors, self._given = [], []  # the state's object refs go with the pool

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def map_unit_groups(worker_cls: type, args: Sequence[Any], todo: Sequence[Any],
                    workers: int | None, progress: str, local: bool = False) -> list[Any]:
    """Run ``worker_cls(*args).process(group)`` over guided groups of ``todo`` on a pool of
    one-CPU actors (:class:`Workers`; ``workers``, else one per CPU), or on one instance in
    this process when ``local``; the rows of every group, in input order.

    The actors are killed at the end, also on error.
    """
    from logad.ray.pool import guided_groups, pool_size

    if not todo:
        return []
    n = 1 if local else pool_size(workers)
    groups = guided_groups(list(todo), n)
    rows: list[Any] = []
    with Workers(worker_cls, tuple(args), n=max(1, min(n, len(groups))), local=local) as pool:
        for group_rows in pool.map("process", groups, progress=progress):
            rows += group_rows
    return rows
