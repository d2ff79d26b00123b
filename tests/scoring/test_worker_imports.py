"""A score worker imports what its models need and nothing else: a count model's worker never
pays for torch, nor for the scikit-learn estimators of the other detectors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from logad.ray.train import run_train
from tests.scoring.factory import make_sequences, write_sequences

ROOT = Path(__file__).resolve().parents[2]
#: Backends of detectors other than xgb: none of them may be imported by an xgb worker.
OTHERS = ("torch", "logad.models._torch", "logad.models.deeplog", "logad.models.iforest",
          "logad.models.dt", "logad.models.lr", "sklearn.ensemble", "sklearn.tree",
          "sklearn.linear_model", "skops")

_PROBE = """
import json, sys
from logad.scoring.worker import ScoreWorker
ScoreWorker([sys.argv[1]], sys.argv[2])
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "sklearn", "skops",
                                                                    "xgboost", "logad"))))
"""


def test_an_xgb_count_worker_imports_no_other_backend(tmp_path):
    seq = write_sequences(make_sequences(120, seed=2), tmp_path / "seq", parts=1)
    run_train("sequence_xgb_counts", seq, tmp_path / "xgb")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _PROBE, str(tmp_path / "xgb"), str(tmp_path)],
                         capture_output=True, text=True, env=env, check=True, timeout=300)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "xgboost" in loaded and "logad.models.xgb" in loaded  # the probe did load the model
    assert not loaded & set(OTHERS), sorted(loaded & set(OTHERS))


_SHIPPED = """
import json, pickle, sys
import pyarrow.parquet as pq
from logad.scoring.parts import score_models_batch
from logad.scoring.worker import ScoreWorker
with open(sys.argv[1], "rb") as fh:
    pair = pickle.load(fh)
worker = ScoreWorker([pair], sys.argv[2])
rows = score_models_batch(worker.models, pq.read_table(sys.argv[3]))
print(json.dumps({"modules": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "skops")),
                  "scores": rows.column("score").to_pylist()}))
"""


def test_a_worker_given_the_drivers_model_skips_skops_and_scores_the_same(tmp_path):
    """run_score ships the models its driver loaded to the actors (as Ray pickles arguments):
    unpickling a scikit-learn estimator needs neither skops nor torch, whose imports cost an
    actor ~2 CPU s, and the scores are those of a worker that read the folder."""
    import pickle

    import pyarrow.parquet as pq

    from logad.models.trained import TrainedModel
    from logad.scoring.parts import model_version, score_models_batch

    seq = write_sequences(make_sequences(150, seed=4), tmp_path / "seq", parts=1)
    run_train("sequence_if_counts", seq, tmp_path / "if")
    folder = str(tmp_path / "if")
    with open(tmp_path / "model.pkl", "wb") as fh:
        pickle.dump((TrainedModel.load(folder), model_version(folder)), fh)
    part = sorted((tmp_path / "seq").rglob("part-*.parquet"))[0]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _SHIPPED, str(tmp_path / "model.pkl"), str(tmp_path),
                          str(part)], capture_output=True, text=True, env=env, check=True, timeout=300)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["modules"] == [], got["modules"]
    from_folder = score_models_batch([(TrainedModel.load(folder), model_version(folder))],
                                     pq.read_table(part))
    assert got["scores"] == from_folder.column("score").to_pylist() and len(got["scores"]) > 0
