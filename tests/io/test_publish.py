"""Whole folders on object storage (logad.io.publish): a local folder published under a run
prefix with its manifest as the commit point, and fetched back to a local cache, on a real
S3-protocol server (moto's)."""

from __future__ import annotations

import json
import uuid

import pytest

from logad.errors import InputError
from logad.io import Store, committed, fetch_dir, publish_dir, read_published


@pytest.fixture
def url(s3_server):
    return f"s3://logad-test/publish-{uuid.uuid4().hex[:8]}/model"


def _folder(root, text="a"):
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.yml").write_text(f"detector: {text}\n")
    (root / "plots").mkdir(exist_ok=True)
    (root / "plots" / "roc.png").write_bytes(b"\x89PNG" + text.encode())
    return root


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_publish_commits_files_under_a_run_prefix_and_fetch_gives_the_folder_back(url, tmp_path):
    local = _folder(tmp_path / "m")
    doc = publish_dir(local, url, {"stage": "train", "status": "complete", "run_key": "k1"})
    store = Store.at(url)
    assert doc["run"].startswith("_runs/") and store.runs() == [doc["run"]]
    assert sorted(f["file"] for f in doc["published"]) == [f"{doc['run']}/model.yml",
                                                       f"{doc['run']}/plots/roc.png"]
    assert sorted(p.rsplit("/", 1)[-1] for p in store.fs.ls(store.root)) == ["_runs", "manifest.json"]
    assert committed(url)["run_key"] == "k1"
    assert read_published(url, "model.yml") == b"detector: a\n"
    got = fetch_dir(url, tmp_path / "cache")
    assert _tree(got) == _tree(local)
    # a second fetch of the same commit downloads nothing: the cached folder, untouched
    stamp = (got / "model.yml").stat().st_mtime_ns
    assert fetch_dir(url, tmp_path / "cache") == got and (got / "model.yml").stat().st_mtime_ns == stamp


def test_a_new_commit_replaces_the_old_one_and_a_reader_trusts_only_named_files(url, tmp_path):
    first = publish_dir(_folder(tmp_path / "a", "a"), url, {"stage": "train", "run_key": "k1"})
    store = Store.at(url)
    killed = f"_runs/00000000T000000Z-{uuid.uuid4().hex[:12]}"  # a run killed before its commit
    store.write_bytes(f"{killed}/model.yml", b"half")
    store.write_bytes(f"{first['run']}/stray.txt", b"not named")  # in the run, not in the manifest
    assert "stray.txt" not in _tree(fetch_dir(url, tmp_path / "cache"))
    second = publish_dir(_folder(tmp_path / "b", "b"), url, {"stage": "train", "run_key": "k2"})
    assert store.runs() == [second["run"]]  # the previous and the killed prefixes are gone
    got = fetch_dir(url, tmp_path / "cache")
    assert (got / "model.yml").read_text() == "detector: b\n"
    assert len(list((tmp_path / "cache").iterdir())) == 2  # keyed by the commit


def test_a_folder_never_published_is_refused_in_one_line(url, tmp_path):
    for call in (lambda: fetch_dir(url, tmp_path), lambda: read_published(url, "model.yml")):
        with pytest.raises(InputError, match=r"^s3://logad-test/publish-.*: no published folder") as exc:
            call()
        assert "\n" not in str(exc.value)
    assert committed(url) is None
    with pytest.raises(InputError, match=r": no published model folder .* with `logad train --out s3://"):
        fetch_dir(url, tmp_path, what="model folder")


def test_output_dir_commits_on_success_only_and_names_files_the_workers_wrote(url, tmp_path):
    from logad.io import output_dir

    def build(text, fail=False):
        with output_dir(url) as built:
            _folder(built.path, text)
            Store.at(url).write_bytes(f"{built.run}/part-00000.parquet", text.encode())  # a worker's
            (built.path / "manifest.json").write_text(json.dumps({"stage": "score", "run_key": text}))
            if fail:
                raise RuntimeError("killed")
        return built

    first = build("a")
    assert first.name("plots/roc.png") == f"{url}/{first.run}/plots/roc.png"
    # a run that dies before its commit: the old result stays, its prefix is never trusted
    with pytest.raises(RuntimeError):
        build("b", fail=True)
    assert committed(url)["run_key"] == "a" and read_published(url, "model.yml") == b"detector: a\n"
    assert len(Store.at(url).runs()) == 2  # the dead run's worker part, uncommitted
    doc = publish_dir(_folder(tmp_path / "c", "c"), url, {"stage": "score", "run_key": "c"},
                      run=None, written=())
    assert Store.at(url).runs() == [doc["run"]]
    # files the workers wrote under the run prefix are named by the commit with the local ones
    fourth = build("d")
    names = [f["file"] for f in fourth.committed["published"]]
    assert f"{fourth.run}/part-00000.parquet" not in names  # not passed as written: not trusted
    run = "_runs/20990101T000000Z-000000000000"
    Store.at(url).write_bytes(f"{run}/part-00000.parquet", b"rows")
    doc = publish_dir(_folder(tmp_path / "e", "e"), url, {"stage": "score"}, run=run,
                      written=["part-00000.parquet"])
    assert f"{run}/part-00000.parquet" in [f["file"] for f in doc["published"]]
    assert (fetch_dir(url, tmp_path / "cache") / "part-00000.parquet").read_bytes() == b"rows"


def _entry(root, name, nbytes, used_s_ago, now):
    import os

    folder = root / name
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"x" * nbytes)
    os.utime(folder, (now - used_s_ago, now - used_s_ago))
    return folder


def test_prune_cache_removes_least_recently_used_entries_but_not_those_in_use(tmp_path):
    import time

    from logad.io import prune_cache

    now = time.time()
    root = tmp_path / "cache"
    old = _entry(root, "old", 1000, 3 * 3600, now)
    older = _entry(root, "older", 1000, 5 * 3600, now)
    in_use = _entry(root, "in-use", 1000, 60, now)  # used a minute ago: a stage may be reading it
    stale_tmp = _entry(root, ".killed.tmp", 10, 2 * 86400, now)  # a fetch killed two days ago
    fresh_tmp = _entry(root, ".fetching.tmp", 10, 5, now)  # another process downloading
    assert prune_cache(root, max_bytes=5000, now=now) == [stale_tmp]  # under the limit
    assert prune_cache(root, max_bytes=2500, now=now) == [older]  # the least recently used first
    assert prune_cache(root, max_bytes=0, now=now) == [old]
    assert sorted(p.name for p in root.iterdir()) == [".fetching.tmp", "in-use"]
    assert prune_cache(root, max_bytes=0, keep=in_use, now=now + 2 * 3600) == []
    assert fresh_tmp.is_dir() and in_use.is_dir()


def test_fetch_marks_its_entry_used_and_prunes_the_cache_past_its_limit(url, tmp_path, monkeypatch):
    import os

    cache = tmp_path / "cache"
    publish_dir(_folder(tmp_path / "a", "a"), url, {"stage": "train", "run_key": "k1"})
    first = fetch_dir(url, cache)
    os.utime(first, (1.0, 1.0))  # last used long ago
    assert fetch_dir(url, cache) == first and first.stat().st_mtime > 1.0  # a hit marks it used
    os.utime(first, (1.0, 1.0))
    monkeypatch.setenv("LOGAD_CACHE_MAX_GB", "0")
    publish_dir(_folder(tmp_path / "b", "b"), url, {"stage": "train", "run_key": "k2"})
    second = fetch_dir(url, cache)  # the new commit's fetch prunes the old, unused entry
    assert [p for p in cache.iterdir()] == [second] and (second / "model.yml").read_text() == "detector: b\n"
