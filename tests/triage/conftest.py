"""Small real corpora for the triage tests: the first lines of four loghub 2k samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, require_shared

SYSTEMS = ("BGL", "HDFS", "OpenSSH", "Zookeeper")
LINES = 300

#: A tiny grid: the tests check behaviour, the bench measures quality.
SMALL_TRAIN = {"C": [1.0], "word_max_features": [500], "char_max_features": [1000], "n_splits": 3}


@pytest.fixture(scope="session")
def small_logs(tmp_path_factory) -> Path:
    """``<tmp>/logs/<S>_2k.log`` with the first ``LINES`` lines of each system."""
    src = require_shared("loghub_2k")
    root = tmp_path_factory.mktemp("triage_logs")
    for s in SYSTEMS:
        text = (src / s / f"{s}_2k.log").read_text(encoding="utf-8", errors="replace")
        lines = [ln.rstrip("\r") for ln in text.split("\n")][:LINES]
        (root / "logs").mkdir(exist_ok=True)
        (root / "logs" / f"{s}_2k.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / "logs"


@pytest.fixture(scope="session")
def small_user_labels(small_logs, tmp_path_factory) -> Path:
    """User labels of the non-ground-truth systems from the reviewed template list of bench/."""
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    from triage.make_labels import template_labels

    looks = yaml.safe_load((ROOT / "bench" / "triage" / "loghub_2k_look_templates.yaml").read_text())
    rows = [r for r in template_labels(require_shared("loghub_2k"),
                                        {s: looks[s] for s in SYSTEMS if s in looks})
            if r["line"] <= LINES]
    path = tmp_path_factory.mktemp("triage_user") / "user.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def triage_cfg() -> dict:
    from logad.config import load_config
    from logad.triage.runs import DEFAULTS

    cfg = load_config("triage", defaults=DEFAULTS)
    cfg["train"].update(SMALL_TRAIN)
    return cfg


@pytest.fixture(scope="session")
def small_labels(small_logs, small_user_labels, triage_cfg, tmp_path_factory) -> Path:
    from logad.triage.runs import run_label

    out = tmp_path_factory.mktemp("triage_labels")
    run_label([str(small_logs)], out, triage_cfg, user_labels=small_user_labels)
    return out


@pytest.fixture(scope="session")
def small_model(small_labels, triage_cfg, tmp_path_factory) -> Path:
    from logad.triage.runs import run_train

    out = tmp_path_factory.mktemp("triage_model")
    run_train(small_labels, out, triage_cfg)
    return out
