"""A score worker killed while it writes its staged parts: the unit it held is redone on a
restarted worker (which loads the models again) and the scores equal an undisturbed run's."""

from __future__ import annotations

import pytest

from logad.ray.score import run_score
from logad.ray.train import run_train
from logad.scoring.parts import read_scores
from tests.ray.helpers import kill_worker_when
from tests.scoring.factory import make_sequences, write_sequences

MODELS = ("sequence_xgb_counts", "sequence_if_counts")


@pytest.mark.timeout(300)
def test_a_score_worker_killed_mid_run_changes_no_score(ray_session, tmp_path):
    seq = write_sequences(make_sequences(600, seed=8), tmp_path / "seq", parts=6)
    dirs = []
    for m in MODELS:
        run_train(m, seq, tmp_path / m)
        dirs.append(str(tmp_path / m))
    cfg = {"workers": 2, "batch_size": 20, "local_below": 0}
    clean = run_score(dirs, seq, tmp_path / "clean", cfg)
    out = tmp_path / "killed"
    killed: dict = {}
    watcher = kill_worker_when(str(tmp_path / ".killed.*.tmp" / ".staging" / "*"), "ScoreWorker",
                               killed)
    try:
        m = run_score(dirs, seq, out, cfg)
    finally:
        killed["stop"] = True
        watcher.join()
    assert killed.get("pid"), "no score worker was killed while the run went on"
    assert m.get("retried", 0) >= 1 and clean.get("retried", 0) == 0
    for name in MODELS:
        a = read_scores(tmp_path / "clean", model=name)
        assert a.num_rows == 600
        assert a.equals(read_scores(out, model=name)), name
