"""ordered_map: every item once, results in input order, work spread over the actors."""

from __future__ import annotations

import doctest
import logging
import time

import pytest

import logad.ray.parse as parse_runner
import logad.ray.pool as pool
from logad.ray.pool import guided_groups, ordered_map


class _Echo:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, item: tuple[int, float]) -> tuple[int, str]:
        index, delay = item
        time.sleep(delay)
        return index, self.name


def test_results_come_in_input_order_although_they_finish_out_of_order(ray_session):
    import ray

    actors = [ray.remote(num_cpus=0)(_Echo).remote(n) for n in ("a", "b")]
    # the first item is slow: later items finish first on the other actor
    items = [(0, 0.6)] + [(i, 0.02) for i in range(1, 12)]
    out = list(ordered_map(actors, lambda a, it: a.run.remote(it), items, depth=2))
    assert [i for i, _ in out] == list(range(12))
    by_actor = {n: sum(1 for _, m in out if m == n) for n in ("a", "b")}
    assert by_actor["a"] >= 1 and by_actor["b"] > by_actor["a"]  # the free actor took more
    assert list(ordered_map(actors, lambda a, it: a.run.remote(it), [])) == []
    for a in actors:
        ray.kill(a)


def test_progress_is_logged_and_ends_with_the_total(ray_session, caplog):
    import ray

    actors = [ray.remote(num_cpus=0)(_Echo).remote("a")]
    items = [(i, 0.0) for i in range(5)]
    call = lambda a, it: a.run.remote(it)  # noqa: E731
    with caplog.at_level(logging.INFO, logger="logad.ray.pool"):
        assert len(list(ordered_map(actors, call, items, progress="job", every_s=1e9))) == 5
        assert [r.getMessage().split(" after")[0] for r in caplog.records] == [
            "job: 5/5 groups done (100 %)"]  # the rate limit holds back all but the last
        caplog.clear()
        list(ordered_map(actors, call, items, progress="job", every_s=0))
        assert [r.getMessage().split(" after")[0] for r in caplog.records][:2] == [
            "job: 1/5 groups done (20 %)", "job: 2/5 groups done (40 %)"]
        caplog.clear()
        list(ordered_map(actors, call, items))  # no label: silent
        assert not caplog.records
    ray.kill(actors[0])


@pytest.mark.parametrize("n_units,n_workers", [(1, 1), (3, 2), (31, 2), (1000, 2), (10**5, 64)])
def test_guided_groups_cover_the_input_in_order_and_shrink_to_single_units(n_units, n_workers):
    units = list(range(n_units))
    groups = guided_groups(units, n_workers)
    assert [u for g in groups for u in g] == units  # every unit once, in input order
    sizes = [len(g) for g in groups]
    assert sizes == sorted(sizes, reverse=True)  # large tasks first
    assert sizes[-1] == 1  # the last tasks are single units: no worker waits long at the end
    assert max(sizes) <= max(8, -(-n_units // 200))  # a task stays a few 100k lines
    assert len(groups) >= min(n_units, 4 * n_workers)  # a worker that finishes early finds work


def test_parse_runner_and_pool_doctests():
    assert doctest.testmod(parse_runner).failed == 0
    assert doctest.testmod(pool).attempted > 0 and doctest.testmod(pool).failed == 0
