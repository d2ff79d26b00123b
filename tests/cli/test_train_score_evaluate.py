"""``logad train``, ``logad score`` and ``logad evaluate`` end to end through the CLI on a small
labelled corpus: exit 0, outputs written, counts that agree from stage to stage; bad input is
one ``logad: error:`` line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from logad.cli import app
from tests.scoring.factory import make_sequences, write_sequences

N = 240  # sessions; the factory's split is 60 / 20 / 20 % in time order
SPLITS = {"train": 144, "val": 48, "test": 48}
MODEL = "sequence_xgb_counts"


def _invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _ok(res) -> None:
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output and "logad: error" not in res.output


def _error(res, *needles: str) -> None:
    assert res.exit_code != 0, res.output
    assert "Traceback" not in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "logad: error:" in res.output, res.output
    for needle in needles:
        assert needle in res.output, (needle, res.output)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_tse")
    table = make_sequences(N, seed=4)
    seq = write_sequences(table, root / "seq", parts=3)
    return root, seq, table


@pytest.fixture(scope="module")
def trained(corpus):
    root, seq, table = corpus
    out = root / "model"
    res = _invoke("train", "--model", MODEL, "--input", seq, "--out", out)
    _ok(res)
    return res, out


@pytest.fixture(scope="module")
def scored(corpus, trained):
    root, seq, _ = corpus
    out = root / "scores"
    res = _invoke("score", "--model", trained[1], "--input", seq, "--out", out)
    _ok(res)
    return res, out


def test_train_writes_a_model_folder_whose_counts_match_the_input(corpus, trained):
    _, _, table = corpus
    res, out = trained
    assert f"train {MODEL}" in res.output and "threshold" in res.output
    meta = yaml.safe_load((out / "model.yml").read_text())
    extra = meta["extra"]
    assert extra["model"] == MODEL
    assert extra["train_rows"] == SPLITS["train"]
    train_anomalous = sum(1 for s, y in zip(table.column("split").to_pylist(),
                                            table.column("label").to_pylist())
                          if s == "train" and y == 1)
    assert extra["train_anomalous"] == train_anomalous > 0
    assert extra["data"]["rows"] == {"train": SPLITS["train"], "val": SPLITS["val"]}  # train reads no test
    assert extra["validation"]["n"] == SPLITS["val"]
    assert meta["threshold"] == pytest.approx(extra["threshold"])


def test_score_writes_one_row_a_session_and_a_manifest_that_adds_up(corpus, scored):
    _, _, table = corpus
    res, out = scored
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and m["sessions_in"] == N
    (model,) = m["models"]
    assert model["model"] == MODEL and model["sessions"] == N
    scores = pq.read_table([out / p for p in m["parts"]])
    assert scores.num_rows == N
    assert sorted(scores.column("session_id").to_pylist()) == \
        sorted(table.column("session_id").to_pylist())
    assert int(pc.sum(scores.column("is_anomaly")).as_py()) == model["flagged"]
    assert str(N) in res.output and MODEL in res.output


def test_evaluate_writes_metrics_and_plots_of_the_test_split(corpus, scored, tmp_path):
    _, _, table = corpus
    out = tmp_path / "eval"
    res = _invoke("evaluate", "--scores", scored[1], "--out", out)
    _ok(res)
    m = json.loads((out / "metrics.json").read_text())
    test_labels = [y for s, y in zip(table.column("split").to_pylist(),
                                     table.column("label").to_pylist()) if s == "test"]
    assert m["split"] == "test" and m["sessions"] == SPLITS["test"] == len(test_labels)
    assert m["metrics"]["n"] == SPLITS["test"]
    assert m["metrics"]["n_anomalous"] == sum(test_labels)
    assert m["metrics"]["roc_auc"] > 0.8  # the factory's anomalies are easy to tell
    assert m["plots"] and all((out / "plots").joinpath(p.rsplit("/", 1)[-1]).is_file()
                              for p in m["plots"].values())
    every = _invoke("evaluate", "--scores", scored[1], "--out", tmp_path / "all", "--split", "all")
    _ok(every)
    assert json.loads((tmp_path / "all" / "metrics.json").read_text())["sessions"] == N


def test_train_on_an_unfinished_input_is_one_error_line(corpus, tmp_path):
    _, seq, _ = corpus
    half = tmp_path / "half"
    (half / "sequences").mkdir(parents=True)
    for p in (seq / "sequences").glob("*.parquet"):
        (half / "sequences" / p.name).write_bytes(p.read_bytes())  # parts but no manifest
    _error(_invoke("train", "--model", MODEL, "--input", half, "--out", tmp_path / "m"),
           str(half), "unfinished input")
    assert not (tmp_path / "m").exists()
    _error(_invoke("train", "--model", "no_such_model", "--input", seq, "--out", tmp_path / "m"),
           "no_such_model")


def test_score_with_a_folder_that_is_no_model_is_one_error_line(corpus, tmp_path):
    _, seq, _ = corpus
    _error(_invoke("score", "--model", seq, "--input", seq, "--out", tmp_path / "s"), str(seq))
    assert not (tmp_path / "s" / "manifest.json").exists()


def test_evaluate_without_scores_is_one_error_line(corpus, scored, tmp_path):
    _, seq, _ = corpus
    _error(_invoke("evaluate", "--scores", seq, "--out", tmp_path / "e"), str(seq))
    _error(_invoke("evaluate", "--scores", scored[1], "--out", tmp_path / "e", "--split", "nosuch"),
           "nosuch")
    assert not (tmp_path / "e" / "metrics.json").exists()
