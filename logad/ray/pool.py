"""Hand work to a fixed set of Ray actors and get the results back in input order."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Sequence

__all__ = ["ordered_map"]


def ordered_map(actors: Sequence[Any], call: Callable[[Any, Any], Any], items: Iterable[Any], *,
                depth: int = 2) -> Iterator[Any]:
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
    """
    import ray

    queue = iter(enumerate(items))
    pending: dict[Any, tuple[int, Any]] = {}

    def submit(actor: Any) -> None:
        for i, item in queue:
            pending[call(actor, item)] = (i, actor)
            return

    for _ in range(max(1, int(depth))):
        for actor in actors:
            submit(actor)
    early: dict[int, Any] = {}
    want = 0
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        i, actor = pending.pop(ref)
        early[i] = ray.get(ref)
        submit(actor)
        while want in early:
            yield early.pop(want)
            want += 1
