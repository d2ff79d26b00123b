"""One skip key for every stage: the inputs, the whole resolved settings and logad's version."""

from __future__ import annotations

import json
import typing
from typing import Any

import pyarrow.parquet as pq
from pydantic import BaseModel

from logad.ray.sessionize import run_sessionize
from logad.settings import SessionizeSettings, resolve
from tests.sessions.factory import make_events, write_parsed

#: Settings whose generic alternative (below) is not valid here, with the one used instead.
ALTERNATIVES = {
    "by": "fixed",   # the base run is "sliding"; an id mode would need a session key column
    "span": "30s",   # a duration
}
#: Settings this test does not change. Every other field of the model is changed in turn.
NOT_CHANGED: set[str] = set()  # none today: every setting is part of the key


def _leaves(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            out += _leaves(sub, f"{prefix}{name}.")
        else:
            out.append(prefix + name)
    return out


def _get(doc: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        doc = doc[part]
    return doc


def _alternative(settings: SessionizeSettings, dotted: str) -> Any:
    """Another valid value of a setting, from its type (a new field of a new type fails here,
    so it gets handled, not skipped)."""
    if dotted in ALTERNATIVES:
        return ALTERNATIVES[dotted]
    value = _get(settings.dump(), dotted)
    *parents, leaf = dotted.split(".")
    model: type[BaseModel] = type(settings)
    for p in parents:
        model = model.model_fields[p].annotation
    ann = model.model_fields[leaf].annotation
    args = typing.get_args(ann)
    if typing.get_origin(ann) is typing.Literal:
        return next(a for a in args if a != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return round(value + 0.05, 4)
    if isinstance(value, list):
        return [*value, "NOTICE"]
    if isinstance(value, str):
        return value + "_x"
    if value is None and int in args or any(typing.get_origin(a) is typing.Annotated for a in args):
        return 2
    if value is None and str in args:
        return "x"
    raise AssertionError(f"{dotted}: no alternative value for {ann!r}; add one to ALTERNATIVES")


def _events(n: int = 80):
    return make_events([{"source": "BGL", "path": "bgl.log", "line_no": i + 1, "order": i + 1,
                         "t": i * 7, "label": int(i in (20, 55)), "template_id": f"{i % 5:016x}"}
                        for i in range(n)])


def test_sessionize_redoes_the_work_when_any_setting_changes(tmp_path):
    parsed = write_parsed(_events(), tmp_path / "parsed", 2)
    out = tmp_path / "out"
    base = {"by": "sliding", "window": 10, "step": 5}
    first = run_sessionize(parsed, out, cfg=base)  # in this process: below ray.in_process_below
    assert not first.get("skipped") and first["in_process"]
    assert run_sessionize(parsed, out, cfg=base).get("skipped") is True
    settings = resolve(SessionizeSettings, values=base)
    fields = [f for f in _leaves(SessionizeSettings) if f not in NOT_CHANGED]
    assert {"by", "window", "split.seed", "workers", "ray.in_process_below", "keys.block"} <= set(fields)
    for dotted in fields:
        values = json.loads(json.dumps(base))
        node = values
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = _alternative(settings, dotted)
        m = run_sessionize(parsed, out, cfg=values)
        assert not m.get("skipped"), f"changing {dotted} kept the finished run"
        written = (out / "sessionize_config.yaml").read_text()
        assert m["run_key"] != first["run_key"], dotted
    assert run_sessionize(parsed, out, cfg=values).get("skipped") is True, "an identical re-run redid it"
    assert "step:" in written


def test_ingest_redoes_units_when_timestamp_format_changes(ray_session, tmp_path):
    from logad.ray.ingest import run_ingest

    src = tmp_path / "a.log"
    src.write_text("".join(f"2024-01-0{1 + i % 5} 10:00:{i % 60:02d} INFO line {i}\n" for i in range(50)))
    cfg = {"format": "<Date> <Time> <Level> <Content>", "timestamp_format": "%Y-%m-%d %H:%M:%S"}
    first = run_ingest([str(src)], tmp_path / "out", cfg)

    def stamps():
        return pq.read_table(tmp_path / "out" / "events", columns=["timestamp"]).column("timestamp")

    before = stamps()
    assert before.null_count == 0
    assert run_ingest([str(src)], tmp_path / "out", cfg)["units_skipped"] == first["units"]
    other = run_ingest([str(src)], tmp_path / "out", {**cfg, "timestamp_format": "%Y-%d-%m %H:%M:%S"})
    assert other["units_skipped"] == 0  # not the stale shards
    assert not stamps().equals(before)  # day and month read the other way round


def test_train_uses_the_threshold_of_models_yaml(ray_session, config_dir, tmp_path):
    from logad.ray.train import run_train
    from tests.scoring.factory import make_sequences, write_sequences

    config_dir.edit("models", threshold__method="percentile", threshold__q=90.0)
    seq = write_sequences(make_sequences(200, seed=3), tmp_path / "seq")
    s = run_train("sequence_if_counts", seq, tmp_path / "model")
    assert s["threshold_method"] == "percentile on validation", s["threshold_method"]
    assert s["config"]["threshold"]["q"] == 90.0


def test_ingest_parse_out_resolves_parse_settings_as_logad_parse(ray_session, config_dir, tmp_path):
    from typer.testing import CliRunner

    from logad.cli import app
    from tests.parsing.factory import HDFS_LINES

    config_dir.edit("parse", drain__sim_th=0.4, batch_size=1000)
    src = tmp_path / "hdfs.log"
    src.write_text("".join(f"081109 2035{i % 60:02d} {i} INFO dfs.DataNode: {line}\n"
                           for i, line in enumerate(HDFS_LINES * 3)))
    r1 = CliRunner().invoke(app, ["ingest", str(src), "--preset", "HDFS", "--out", str(tmp_path / "ev"),
                                  "--parse-out", str(tmp_path / "p1")])
    assert r1.exit_code == 0, r1.output
    r2 = CliRunner().invoke(app, ["parse", str(tmp_path / "ev"), "--out", str(tmp_path / "p2")])
    assert r2.exit_code == 0, r2.output
    c1, c2 = ((tmp_path / p / "parse_config.yaml").read_text() for p in ("p1", "p2"))
    assert c1 == c2 and "sim_th: 0.4" in c1
    t1, t2 = (pq.read_table(tmp_path / p / "templates.parquet").sort_by("template_id").column("template")
              for p in ("p1", "p2"))
    assert t1.equals(t2)




def test_evaluate_skips_a_finished_run_and_redoes_a_changed_one(tmp_path):
    import pyarrow as pa

    from logad.evaluate.evaluation import run_evaluate

    n = 40
    pq.write_table(pa.table({"session_id": [f"s{i}" for i in range(n)], "score": [i / n for i in range(n)],
                             "threshold": [0.5] * n, "label": pa.array([int(i >= 30) for i in range(n)], pa.int8()),
                             "split": ["val"] * 20 + ["test"] * 20}), tmp_path / "scores.parquet")
    first = run_evaluate(tmp_path / "scores.parquet", tmp_path / "e")
    assert not first.get("skipped") and (tmp_path / "e" / "evaluate_config.yaml").is_file()
    assert run_evaluate(tmp_path / "scores.parquet", tmp_path / "e").get("skipped") is True
    other = run_evaluate(tmp_path / "scores.parquet", tmp_path / "e", cfg={"k": [5]})
    assert not other.get("skipped") and "precision_at_5" in json.dumps(other["metrics"])
