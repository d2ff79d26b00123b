"""ordered_map and broadcast when an actor dies mid-way: every item still comes back, once, in order."""

from __future__ import annotations

import os
import time

import pytest

from logad.ray.pool import broadcast, ordered_map


class _Slow:
    def pid(self) -> int:
        return os.getpid()

    def run(self, item: int) -> int:
        time.sleep(0.05)
        return item * 10


def test_an_actor_killed_for_good_leaves_its_items_to_the_others(ray_session):
    import ray

    actors = [ray.remote(num_cpus=0, max_restarts=0)(_Slow).remote() for _ in range(2)]
    out = []
    for r in ordered_map(actors, lambda a, x: a.run.remote(x), range(20)):
        out.append(r)
        if len(out) == 3:
            ray.kill(actors[0], no_restart=True)
    assert out == [10 * i for i in range(20)]
    live, pids = broadcast(actors, lambda a: a.pid.remote())
    assert live == [actors[1]] and len(pids) == 1


def test_a_killed_process_is_restarted_and_redoes_its_item(ray_session):
    import ray

    (actor,) = [ray.remote(num_cpus=0, max_restarts=2)(_Slow).remote()]
    first = ray.get(actor.pid.remote())
    out = []
    for r in ordered_map([actor], lambda a, x: a.run.remote(x), range(8)):
        out.append(r)
        if len(out) == 2:
            os.kill(first, 9)  # the worker process dies; Ray restarts the actor
    assert out == [10 * i for i in range(8)]
    assert ray.get(actor.pid.remote()) != first


def test_all_actors_gone_is_an_error(ray_session):
    import ray
    from ray.exceptions import RayActorError

    actor = ray.remote(num_cpus=0, max_restarts=0)(_Slow).remote()
    ray.get(actor.pid.remote())
    ray.kill(actor, no_restart=True)
    with pytest.raises(RayActorError):
        list(ordered_map([actor], lambda a, x: a.run.remote(x), range(3)))


class _Stateful:
    def __init__(self) -> None:
        self.factor = None

    def pid(self) -> int:
        return os.getpid()

    def set(self, factor: int) -> int:
        self.factor = factor
        return factor

    def run(self, item: int) -> int:
        time.sleep(0.05)
        return item * self.factor  # fails (None * int) on a restarted actor that was not prepared


def test_prepare_restores_the_state_a_restarted_actor_lost(ray_session):
    import ray

    actor = ray.remote(num_cpus=0, max_restarts=2)(_Stateful).remote()
    ray.get(actor.set.remote(7))
    first = ray.get(actor.pid.remote())
    out = []
    for r in ordered_map([actor], lambda a, x: a.run.remote(x), range(8), prepare=lambda a: a.set.remote(7)):
        out.append(r)
        if len(out) == 2:
            os.kill(first, 9)
    assert out == [7 * i for i in range(8)]


class _BigState:
    """A worker whose constructor argument is too large for Ray to pass inline."""

    def __init__(self, table: bytes, factor: int) -> None:
        self.size, self.factor = len(table), factor

    def pid(self, _: object = None) -> int:
        return os.getpid()

    def run(self, item: int) -> int:
        time.sleep(0.05)
        return item * self.factor + self.size


def test_large_constructor_arguments_come_back_to_a_restarted_worker(ray_session):
    from logad.ray.workers import INLINE_ARGS_BYTES, Workers
    from tests.ray.helpers import alive_actor_pids

    big = b"x" * (INLINE_ARGS_BYTES * 3)
    with Workers(_BigState, (big, 7), n=1) as pool:
        assert alive_actor_pids("_BigState")  # Ray shows the worker under its own class name
        first = pool.each("pid")[0]
        out = []
        for r in pool.map("run", range(8)):
            out.append(r)
            if len(out) == 2:
                os.kill(first, 9)  # Ray restarts it with an empty constructor; the pool refills it
        assert out == [7 * i + len(big) for i in range(8)]
        assert pool.retried >= 1 and pool.each("pid")[0] != first
