"""Ray Train for the torch detectors: 2 DDP workers, a worker killed mid-run, resume, and the
`logad train` path (dispatch, init-from, replay) on a real local Ray."""

from __future__ import annotations

import numpy as np
import pytest

from logad.errors import ModelError
from logad.evaluate.metrics import roc_auc
from logad.models.registry import DETECTORS
from logad.models.trained import TrainedModel
from logad.ray.train import run_train
from logad.ray.train_torch import fit_distributed, worker_share
from tests.models.conftest import FAST_PARAMS, SEQ_FEATURE_NAMES, make_sequences
from tests.scoring.factory import make_sequences as make_table
from tests.scoring.factory import write_sequences

EPOCHS = 4


@pytest.fixture(scope="module")
def normal_sessions():
    X, y = make_sequences(300, 0, seed=3)
    X_test, y_test = make_sequences(100, 30, seed=4)
    return X, X_test, y_test


def _deeplog(**kw):
    return DETECTORS["deeplog"](**{**FAST_PARAMS["deeplog"], "epochs": EPOCHS, "patience": None, **kw})


def test_two_workers_train_a_working_model(ray_session, normal_sessions, tmp_path):
    X, X_test, y_test = normal_sessions
    det = fit_distributed(_deeplog(), X, None, feature_names=SEQ_FEATURE_NAMES,
                          run_dir=tmp_path / "run", cfg={"workers": 2})
    assert det.run_info_["workers"] == 2 and det.run_info_["resumed_at"] == []
    assert [r["epoch"] for r in det.history_] == list(range(1, EPOCHS + 1))
    assert det.history_[-1]["train_loss"] < det.history_[0]["train_loss"]
    assert roc_auc(y_test, det.score_samples(X_test)) >= 0.8
    checkpoints = sorted(p.name for p in (tmp_path / "run").glob("checkpoint_*") if p.is_dir())
    assert len(checkpoints) == 2  # CheckpointConfig(num_to_keep=2) of EPOCHS reported
    saved = det.save(tmp_path / "model")
    back = type(det).load(saved)
    np.testing.assert_array_equal(back.score_samples(X_test), det.score_samples(X_test))
    assert (tmp_path / "model" / "loss_history.csv").read_text().count("\n") == EPOCHS + 1


def test_worker_shares_are_equal_disjoint_and_cover_all_but_the_remainder():
    ex = {"x": np.arange(23 * 3).reshape(23, 3), "y": np.arange(23)}
    for world in (1, 2, 4, 5):
        shares = [worker_share(ex, r, world) for r in range(world)]
        assert {len(s["y"]) for s in shares} == {23 // world}  # DDP: the same steps on every worker
        taken = np.concatenate([s["y"] for s in shares])
        assert len(set(taken)) == len(taken) == 23 - 23 % world
        for s in shares:
            np.testing.assert_array_equal(s["x"], ex["x"][s["y"]])  # rows kept together
    assert worker_share({}, 0, 2) == {}


def test_one_worker_trains_the_same_network_as_the_one_process_loop(ray_session, normal_sessions, tmp_path):
    # each worker takes its share from one object-store copy and shuffles it in memory as the
    # one-process loop does: with one worker the run is that loop (same seeds, same batches)
    X, X_test, _ = normal_sessions
    plain = _deeplog().fit(X, None, feature_names=SEQ_FEATURE_NAMES)
    ray_1 = fit_distributed(_deeplog(), X, None, feature_names=SEQ_FEATURE_NAMES,
                            run_dir=tmp_path / "run", cfg={"workers": 1})
    assert [r["train_loss"] for r in ray_1.history_] == [r["train_loss"] for r in plain.history_]
    np.testing.assert_array_equal(ray_1.score_samples(X_test), plain.score_samples(X_test))


def test_killed_worker_restarts_from_the_checkpoint(ray_session, normal_sessions, tmp_path):
    X, X_test, y_test = normal_sessions
    marker = tmp_path / "killed.txt"
    det = fit_distributed(_deeplog(), X, None, feature_names=SEQ_FEATURE_NAMES, run_dir=tmp_path / "run",
                          cfg={"workers": 2, "max_failures": 1}, fail_once_at=(2, str(marker), 1))
    assert marker.read_text().startswith("worker 1 exits at epoch 2")
    # continued from the last registered checkpoint (epoch 1 or 2: the failure may beat the
    # registration of epoch 2's), not from scratch
    assert len(det.run_info_["resumed_at"]) == 1 and det.run_info_["resumed_at"][0] in (1, 2)
    assert [r["epoch"] for r in det.history_] == list(range(1, EPOCHS + 1))
    assert roc_auc(y_test, det.score_samples(X_test)) >= 0.8


def test_stopped_run_resumes(ray_session, normal_sessions, tmp_path):
    X, _, _ = normal_sessions
    marker = tmp_path / "stopped.txt"
    with pytest.raises(ModelError, match="failed"):
        fit_distributed(_deeplog(), X, None, feature_names=SEQ_FEATURE_NAMES, run_dir=tmp_path / "run",
                        cfg={"workers": 1, "max_failures": 0}, fail_once_at=(3, str(marker), 0))
    det = fit_distributed(_deeplog(), X, None, feature_names=SEQ_FEATURE_NAMES, run_dir=tmp_path / "run",
                          cfg={"workers": 1, "resume": True})
    assert len(det.run_info_["resumed_at"]) == 1 and det.run_info_["resumed_at"][0] in (2, 3)
    assert [r["epoch"] for r in det.history_] == list(range(1, EPOCHS + 1))
    # without resume the same run starts afresh, also when a run name (torch.name) picks it
    # rather than the folder: Ray Train would restore <storage>/<name>
    fresh = fit_distributed(_deeplog(), X, None, feature_names=SEQ_FEATURE_NAMES, run_dir=tmp_path / "other",
                            cfg={"workers": 1, "name": "run"})
    assert fresh.run_info_["resumed_at"] == []


def test_logad_train_dispatch_init_from_and_replay(ray_session, tmp_path):
    params = {**FAST_PARAMS["deeplog"], "epochs": 2}
    first = write_sequences(make_table(200, seed=5), tmp_path / "a")
    second = write_sequences(make_table(200, seed=6, unseen="reboot"), tmp_path / "b")
    s1 = run_train("sequence_deeplog", first, tmp_path / "m1",
                   {"params": params, "workers": 2, "torch": {"storage_path": str(tmp_path / "rt")}})
    assert s1["ray_train"]["workers"] == 2
    # torch.storage_path holds the Ray Train run (else it lies beside the model, <out>.train)
    assert s1["ray_train"]["run"] == str((tmp_path / "rt" / "sequence_deeplog").resolve())
    assert any((tmp_path / "rt" / "sequence_deeplog").rglob("checkpoint_*"))
    assert not (tmp_path / "m1.train").exists()
    m1 = TrainedModel.load(tmp_path / "m1")
    s2 = run_train("sequence_deeplog", second, tmp_path / "m2",
                   {"params": params, "torch": {"init_from": str(tmp_path / "m1"),
                                                "replay": f"{first}:0.5"}})
    assert "ray_train" not in s2  # one worker: the in-process fit
    m2 = TrainedModel.load(tmp_path / "m2")
    old, new = m1.featurizers[0].feature_names(), m2.featurizers[0].feature_names()
    assert new[:len(old)] == old and new[len(old):] == ["reboot"]
    assert s2["train_rows"] > 120  # the second corpus's normal train sessions plus the replayed ones
    emb1 = m1.detector.module_.embed.weight.detach()
    assert m2.detector.module_.embed.weight.shape[0] == emb1.shape[0] + 1


def test_logad_train_chooses_logbert_radius_on_validation(ray_session, tmp_path):
    params = {**FAST_PARAMS["logbert"], "epochs": 3}
    folder = write_sequences(make_table(200, seed=5), tmp_path / "a")
    summary = run_train("sequence_logbert", folder, tmp_path / "m", {"params": params})
    tuned = summary["tuned"]
    assert tuned["rule"] in ("on", "off") and tuned["candidates"][0]["variant"] == "off"
    assert len(tuned["candidates"]) > 1  # validation has both classes: every radius was tried
    model = TrainedModel.load(tmp_path / "m")
    assert model.detector.radius_choice_ == tuned and model.detector.radius_ == tuned["radius"]
    assert summary["threshold_method"] == "best_f1 on validation"
