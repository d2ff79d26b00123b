"""Hand work to a fixed set of Ray actors and get the results back in input order; cut the work
into groups that shrink towards the end."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Callable, Iterable, Iterator, Sequence

log = logging.getLogger(__name__)

__all__ = ["ordered_map", "broadcast", "guided_groups", "equal_groups", "pool_size",
           "release_actors", "count_newlines_parallel"]


def ordered_map(actors: Sequence[Any], call: Callable[[Any, Any], Any], items: Iterable[Any], *,
                depth: int = 2, progress: str | None = None, every_s: float = 10.0,
                prepare: Callable[[Any], Any] | None = None, max_retries: int = 3,
                on_redo: Callable[[Any], None] | None = None) -> Iterator[Any]:
    """``ray.get(call(actor, item))`` for every item, yielded in the order of ``items``.

    Each actor keeps up to ``depth`` tasks queued, so it starts its next item the moment it
    finishes one instead of waiting for the driver to collect the result (``ray.util.ActorPool``
    keeps one task per actor and hands out new work only as results are taken in order, which
    leaves an actor idle whenever the other one holds an earlier item). Items go to whichever
    actor frees up first; results that come back early wait in a buffer until their turn.

    Parameters
    ----------
    actors : sequence of actor handles
    call : callable
        ``call(actor, item)`` submits one task and returns its ObjectRef
        (e.g. ``lambda a, g: a.summarize.remote(g)``).
    items : iterable
    depth : int, default 2
        Tasks in flight per actor.
    progress : str, optional
        Log ``"<progress>: 12/40 groups done (30 %) after 61 s"`` at INFO, at most every
        ``every_s`` seconds and once at the end (long jobs have no other sign of life).
    prepare : callable, optional
        ``prepare(actor)`` returns an ObjectRef that puts an actor back into the state ``call``
        needs (e.g. ``set_mapping``); run before an item is redone on an actor that was lost.
    max_retries : int, default 3
        How often one item is redone after its actor was lost (its node died, its process was
        killed). Items must be idempotent (same input, same output files), as every stage's are.
        An actor that has died for good leaves the pool; the others take its items.
    on_redo : callable, optional
        ``on_redo(lost_actor)`` each time an item is redone (to count retries, to know which
        actors need their state back before they are used again).
    """
    import ray
    from ray.exceptions import ActorDiedError, RayActorError

    total = len(items) if hasattr(items, "__len__") else None
    t0 = last = time.monotonic()

    def report(done: int, final: bool = False) -> None:
        nonlocal last
        now = time.monotonic()
        if progress and (final or now - last >= every_s):
            last = now
            share = f" ({100 * done / total:.0f} %)" if total else ""
            log.info("%s: %d%s groups done%s after %.0f s", progress, done,
                     f"/{total}" if total is not None else "", share, now - t0)

    queue = iter(enumerate(items))
    pending: dict[Any, tuple[int, Any, Any]] = {}
    alive = list(actors)
    retries: dict[int, int] = {}

    def submit(actor: Any) -> None:
        for i, item in queue:
            pending[call(actor, item)] = (i, actor, item)
            return

    def redo(i: int, actor: Any, item: Any, exc: Exception) -> None:
        """Do item ``i`` again: on another actor while one is left, else on the lost one once Ray
        has restarted it (``max_restarts``); a lost actor gets no further items of this map."""
        retries[i] = retries.get(i, 0) + 1
        if on_redo is not None:
            on_redo(actor)
        if actor in alive and (len(alive) > 1 or isinstance(exc, ActorDiedError)):
            alive.remove(actor)
        if retries[i] > max_retries or (not alive and isinstance(exc, ActorDiedError)):
            raise exc
        target = alive[i % len(alive)] if alive else actor
        log.warning("a worker was lost (%s); redoing item %d (attempt %d)", type(exc).__name__, i,
                    retries[i] + 1)
        for attempt in range(max_retries + 1):  # a restarting actor answers after a while
            if target is actor:
                time.sleep(min(10.0, 0.5 * 2 ** (retries[i] + attempt)))
            try:
                if prepare is not None:
                    ray.get(prepare(target))
                break
            except RayActorError:
                if attempt == max_retries:
                    raise
        pending[call(target, item)] = (i, target, item)

    for _ in range(max(1, int(depth))):
        for actor in actors:
            submit(actor)
    early: dict[int, Any] = {}
    want = 0
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        i, actor, item = pending.pop(ref)
        try:
            early[i] = ray.get(ref)
        except RayActorError as exc:  # the actor's node or process died, not the work itself
            redo(i, actor, item, exc)
            continue
        submit(actor if actor in alive else alive[0])
        while want in early:
            yield early.pop(want)
            want += 1
            report(want, final=not pending and not early)


def broadcast(actors: Sequence[Any], call: Callable[[Any], Any]) -> tuple[list[Any], list[Any]]:
    """``ray.get(call(actor))`` on every actor; returns the actors that answered and their answers.

    An actor lost with its node is left out (the work it held is redone by :func:`ordered_map`);
    when none answers, the first error is raised.
    """
    import ray
    from ray.exceptions import RayActorError

    refs = [(a, call(a)) for a in actors]
    kept, answers, first = [], [], None
    for actor, ref in refs:
        try:
            answers.append(ray.get(ref))
            kept.append(actor)
        except RayActorError as exc:
            log.warning("a worker was lost (%s); going on without it", type(exc).__name__)
            first = first or exc
    if not kept and first is not None:
        raise first
    return kept, answers


def guided_groups(units: Sequence[Any], n_workers: int) -> list[list[Any]]:
    """``units`` cut into contiguous groups that shrink towards the end (guided scheduling).

    Each group takes the units left divided by twice the workers, at most ``max(8, units/200)``
    (a few 100k lines: a task's cost stays small next to its work) and at least one. The large
    groups come first; the last ones are single units, so when one worker takes the last group
    the others are never left waiting long for it. Results never depend on the grouping.

    >>> [len(g) for g in guided_groups(list(range(31)), 2)]
    [8, 6, 5, 3, 3, 2, 1, 1, 1, 1]
    >>> [len(g) for g in guided_groups(list(range(3)), 2)]
    [1, 1, 1]
    """
    n, cap = len(units), max(8, -(-len(units) // 200))
    out, i = [], 0
    while i < n:
        size = max(1, min(cap, -(-(n - i) // (2 * max(1, n_workers)))))
        out.append(list(units[i:i + size]))
        i += size
    return out


def equal_groups(units: Sequence[Any], n_groups: int) -> list[list[Any]]:
    """``units`` cut into ``n_groups`` contiguous groups of nearly equal size (none empty).

    >>> [len(g) for g in equal_groups(list(range(10)), 3)]
    [3, 4, 3]
    >>> equal_groups([1, 2], 5)
    [[1], [2]]
    """
    n = max(1, min(int(n_groups), len(units)))
    bounds = [round(i * len(units) / n) for i in range(n + 1)]
    return [list(units[a:b]) for a, b in zip(bounds, bounds[1:]) if b > a]


#: Local ranges up to this many bytes in all are counted in this process: a local file reads
#: at a GB/s or more, and 16 Ray tasks cost ~1 s of scheduling and worker start-up (2M HDFS
#: lines: 0.7-1.3 s as tasks, 0.15 s here).
LOCAL_COUNT_BYTES = 2 << 30


def _count_here(sf: Any, start: int, end: int, timeout_s: float | None = None) -> int | str:
    from logad.sources.files import newline_count

    try:
        return newline_count(sf, start, end, timeout_s=timeout_s)
    except (OSError, TimeoutError) as exc:
        return f"lines not counted (bytes from {start}): {type(exc).__name__}: {exc}"


def count_newlines_parallel(tasks: Sequence[tuple[Any, int, int]],
                            timeout_s: float | None = None, here: bool = False) -> list[int | str]:
    """:func:`logad.sources.files.newline_count` of each ``(file, start, end)`` as Ray tasks
    (in this process with ``here``, or for local files up to :data:`LOCAL_COUNT_BYTES`), in
    order (the ``count_newlines`` of :func:`logad.sources.files.plan_units`). A range that could
    not be read (a stalled or failing remote source, ``timeout_s`` a wait) gives its message
    instead, which :func:`~logad.sources.files.plan_units` makes a per-file error."""
    if not tasks:
        return []
    if here or (all("://" not in sf.url or sf.url.startswith("file://") for sf, _, _ in tasks)
                and sum(e - s for _, s, e in tasks) <= LOCAL_COUNT_BYTES):
        return [_count_here(sf, s, e, timeout_s) for sf, s, e in tasks]
    import ray
    from ray.exceptions import RayTaskError

    from logad.sources.files import newline_count

    remote = ray.remote(newline_count)
    refs = [remote.remote(sf, s, e, timeout_s=timeout_s) for sf, s, e in tasks]
    out: list[int | str] = []
    for (sf, s, _), ref in zip(tasks, refs):
        try:
            out.append(ray.get(ref))
        except RayTaskError as exc:
            cause = exc.cause if isinstance(exc.cause, BaseException) else exc
            out.append(f"lines not counted (bytes from {s}): {type(cause).__name__}: {cause}")
    return out


def pool_size(requested: int | None) -> int:
    """Workers for a pool: ``requested``, or one per CPU of the Ray cluster when None."""
    import ray

    return int(requested) if requested else max(1, int(ray.cluster_resources().get("CPU", 1)))


def release_actors(actors: Sequence[Any]) -> None:
    """Kill a runner's actors as it ends; call it in the runner's ``finally``.

    While an interrupt (Ctrl-C, or SIGTERM turned into one by the CLI) is on its way out they are
    left to the Ray shutdown that follows (or to their handles going away): killing an actor with
    queued tasks makes Ray print a "task failed, will be retried" line per task.
    """
    import ray

    if isinstance(sys.exc_info()[1], KeyboardInterrupt):
        return
    for actor in actors:
        ray.kill(actor)
