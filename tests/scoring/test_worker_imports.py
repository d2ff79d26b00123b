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
