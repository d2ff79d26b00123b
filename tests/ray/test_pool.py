"""ordered_map: every item once, results in input order, work spread over the actors."""

from __future__ import annotations

import doctest
import logging
import time

import pytest

import logad.ray.pool as pool
from logad.ray.pool import guided_groups, ordered_map


class _Echo:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, item: tuple[int, float]) -> tuple[int, str]:
        index, delay = item
        time.sleep(delay)
        return index, self.name


class _Gate:
    """Counts finished items; ``wait_for(n)`` answers once ``n`` have finished (an async actor,
    so a waiting call does not keep ``done`` calls out)."""

    def __init__(self) -> None:
        import asyncio

        self.finished, self.changed = 0, asyncio.Condition()

    async def done(self) -> int:
        async with self.changed:
            self.finished += 1
            self.changed.notify_all()
            return self.finished

    async def wait_for(self, n: int) -> int:
        async with self.changed:
            await self.changed.wait_for(lambda: self.finished >= n)
            return self.finished


class _Gated:
    """Item 0 ends only after ``first_after`` other items have ended: the order in which items
    finish is forced by the gate, not by how long they take."""

    def __init__(self, name: str, gate, first_after: int) -> None:
        self.name, self.gate, self.first_after = name, gate, first_after

    def run(self, index: int) -> tuple[int, str]:
        import ray

        if index == 0:
            ray.get(self.gate.wait_for.remote(self.first_after))
        ray.get(self.gate.done.remote())
        return index, self.name


@pytest.mark.timeout(120)
def test_results_come_in_input_order_although_they_finish_out_of_order(ray_session):
    import ray

    n = 12
    gate = ray.remote(num_cpus=0)(_Gate).remote()
    # depth 2: "a" holds items 0 and 2, "b" holds 1 and 3; item 0 waits until every item "b"
    # can take (all but 0 and 2) has finished, so "a" is busy throughout and "b" takes the rest
    actors = [ray.remote(num_cpus=0)(_Gated).remote(name, gate, n - 2) for name in ("a", "b")]
    out = list(ordered_map(actors, lambda a, i: a.run.remote(i), range(n), depth=2))
    assert [i for i, _ in out] == list(range(n))  # input order, though item 0 finished 11th
    assert [i for i, m in out if m == "a"] == [0, 2]  # the busy actor got no new item
    assert [i for i, m in out if m == "b"] == [1, *range(3, n)]  # the free actor took them all
    assert list(ordered_map(actors, lambda a, i: a.run.remote(i), [])) == []
    for a in [*actors, gate]:
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


def test_pool_doctests():
    result = doctest.testmod(pool)
    assert result.attempted > 0 and result.failed == 0


def test_local_newline_counts_are_the_files_and_an_unreadable_range_is_a_message(tmp_path, monkeypatch):
    import sys

    from logad.sources.files import SourceFile

    path = tmp_path / "a.log"
    path.write_bytes(b"one\ntwo\n\nthree\nfour\n" * 50)
    sf = SourceFile(str(path), path.stat().st_size)
    tasks = [(sf, 0, 37), (sf, 37, 500), (sf, 500, sf.size)]
    data = path.read_bytes()
    expected = [data[s:e].count(b"\n") for _, s, e in tasks]
    gone = SourceFile(str(tmp_path / "gone.log"), 100)
    # counted in this process: no Ray task (a remote one would need the session fixture)
    monkeypatch.setitem(sys.modules, "ray", None)
    assert pool.count_newlines_parallel(tasks) == expected
    (msg,) = pool.count_newlines_parallel([(gone, 0, 50)])
    assert msg.startswith("lines not counted (bytes from 0): FileNotFoundError"), msg
