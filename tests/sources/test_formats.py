"""Format compiler, field splitting, timestamps, extract columns and the preset loader."""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from logad.errors import ConfigError
import logad.sources.formats as formats_mod
from logad.sources.formats import (compile_format, compile_regex, epoch_to_timestamp, extract_all,
                                   extract_first, parse_timestamp, split_fields)
from logad.sources.presets import (list_presets, load_preset, preset_from_format,
                                   preset_from_regex, structure_lines)
from tests.conftest import require_shared

LO2_WITH_ID = ("16:29:40.221 [XNIO-1 task-4]  XgY8YVqfRTGjmhawhHeKOw DEBUG "
               "c.n.openapi.ApiNormalisedPath <init> - path = /oauth2/token, base path is set to: null")
LO2_NO_ID = ("16:29:40.792 [hz._hzInstance_1_dev.partition-operation.thread-1]   DEBUG "
             "c.n.oauth.cache.RefreshTokenMapStore store - Store:07459b3d-4f09-4066-8f95-db6daa41e73f")
LO2_INFO = ("16:29:40.153 [XNIO-1 task-4]  f3ZRcnoES_G80IVuBDezBA INFO  com.networknt.config.Config "
            "getConfigStream - Config loaded from externalized folder for primary.jks in /config")


def _one(preset_name: str, line: str) -> dict:
    return structure_lines(pa.array([line]), load_preset(preset_name)).to_pylist()[0]


# --- the format compiler -------------------------------------------------------------------------

def test_compile_format_groups_spaces_and_literals():
    p = compile_format(r"<Date> <Time>  <Pid>|<Node-Id>\[<X>\] <Content>")
    assert p.fields == ("Date", "Time", "Pid", "Node-Id", "X", "Content")
    assert p.groups[3] == "Node_Id"
    assert p.content_field == "Content" and p.strip
    assert r"\s+" in p.regex and "  " not in p.regex


def test_unnamed_groups_become_noncapturing_and_optional_parts_give_empty_string():
    p = compile_format(r"<Component>\[<PID>\]( \(<Address>\))?: <Content>")
    assert "(?:" in p.regex
    t = split_fields(pa.array(["sandboxd[129] ([31211]): deny x", "kernel[0]: hello"]), p)
    assert t.column("Address").to_pylist() == ["[31211]", ""]
    assert t.column("Content").to_pylist() == ["deny x", "hello"]
    assert t.column("matched").to_pylist() == [True, True]


def test_fields_are_lazy_like_logparser():
    p = compile_format(r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>")
    line = ("2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:"
            "FastLeaderElection@774] - Notification time out: 3200")
    row = split_fields(pa.array([line]), p).to_pylist()[0]
    assert row["Node"] == "QuorumPeer[myid=1]/0"
    assert row["Component"] == "0:0:0:0:0:0:0:2181:FastLeaderElection"
    assert row["Content"] == "Notification time out: 3200"


def test_unmatched_lines_keep_the_whole_line_as_content_and_cr_is_stripped():
    p = compile_format("<Date> <Time> <Level> <Component>: <Content>")
    arr = pa.array(["17/06/09 20:10:40 INFO spark.X: up\r", "no colon here\r", None])
    t = split_fields(arr, p)
    assert t.column("matched").to_pylist() == [True, False, False]
    assert t.column("Content").to_pylist() == ["up", "no colon here", None]
    assert t.column("Level").to_pylist() == ["INFO", None, None]
    assert t.column("Date").to_pylist() == ["17/06/09", None, None]


def _regex_only(p):
    return dataclasses.replace(p, suffixes=None)


@pytest.mark.parametrize("fmt, suffixes", [
    ("<Date> <Time> <Pid> <Level> <Component>: <Content>", ("", "", "", "", ":")),
    ("<Date> <Time>, <Level>   <Component> <Content>", ("", ",", "", "")),
    ("<A> <B> <Content>", ("", "")),
    (r"\[<Time>\] <Content>", None), ("<Date> <Level>", None), ("<A>:<B> <Content>", None),
    ("<A> <Content> <B>", None)])
def test_whitespace_split_applies_only_to_whitespace_separated_fields(fmt, suffixes):
    assert compile_format(fmt).suffixes == suffixes


@pytest.mark.parametrize("fmt", ["<Date> <Time> <Pid> <Level> <Component>: <Content>",
                                 "<Date> <Time>, <Level>   <Component> <Content>",
                                 "<A> <B>:: <Content>"])
def test_whitespace_split_gives_what_the_regex_gives(fmt):
    # lines near the format: fields with or without their literal, odd whitespace, missing fields
    p = compile_format(fmt)
    rng = random.Random(7)
    tokens = ["a", "b:", ":", "::", "x,", ",", "1", "a:b", "\u00a0", "ab,c", ":x", "é:", ""]
    spaces = [" ", "  ", "\t", " \t "]
    odd = spaces + ["\n", " \v ", "\r", "\f", ""]
    lines = []
    for _ in range(20_000):
        ws = odd if rng.random() < 0.1 else spaces
        fields = [rng.choice(tokens) + (suffix if rng.random() < 0.9 else rng.choice(tokens))
                  for suffix in p.suffixes if rng.random() < 0.97]
        content = "".join(rng.choice(tokens) + rng.choice(ws) for _ in range(rng.randint(0, 4)))
        lines.append(rng.choice(["", " "]) + "".join(f + rng.choice(ws) for f in fields) + content)
    fast, slow = split_fields(pa.array(lines), p), split_fields(pa.array(lines), _regex_only(p))
    assert fast.equals(slow)
    target = pc.utf8_trim_whitespace(pa.array(lines))
    took = pc.sum(formats_mod._split_on_whitespace(target, p)[1]).as_py()
    assert 0.3 * len(lines) < took < len(lines)  # most lines split, the others went to the regex


def test_has_byte_sees_only_the_strings_of_the_slice():
    arr = pa.array(["a\rb", "cd", None, "ef\v", ""])
    assert formats_mod.has_byte(arr, "\r") and formats_mod.has_byte(arr, "\v")
    assert not formats_mod.has_byte(arr.slice(1, 2), "\r")  # the buffer still holds "a\rb"
    assert formats_mod.has_byte(arr.slice(3), "\v") and not formats_mod.has_byte(arr.slice(4), "\v")
    assert formats_mod.has_byte(arr.cast(pa.large_string()).slice(3, 1), "\v")
    assert not formats_mod.has_byte(pa.chunked_array([arr.slice(1, 1), arr.slice(4)]), "\r")
    assert not formats_mod.has_byte(pa.array([], pa.string()), "\r")


def test_chunked_input_gives_the_same_table():
    p = compile_format("<Level> <Content>")
    lines = ["INFO a b", "x", "WARN c"]
    whole = split_fields(pa.array(lines), p)
    chunked = split_fields(pa.chunked_array([lines[:1], lines[1:]]), p)
    assert chunked.to_pylist() == whole.to_pylist()


@pytest.mark.parametrize("bad", ["no placeholders", "<A> <a>", ""])
def test_bad_formats_raise_config_error(bad):
    with pytest.raises(ConfigError):
        compile_format(bad)


@pytest.mark.parametrize("bad", [r"^(\w+) (.*)$", r"(?P<a>x)\1", r"(?P<a>x)(?=y)", "(?P<a-b>x)"])
def test_bad_regexes_raise_config_error(bad):
    with pytest.raises(ConfigError):
        compile_regex(bad)


# --- timestamps ----------------------------------------------------------------------------------

def test_parse_timestamp_fractions_and_failures():
    got = parse_timestamp(pa.array(["2015-10-18 18:01:47,978", "2015-10-18 18:01:47", "junk", None]),
                          "%Y-%m-%d %H:%M:%S,%f").to_pylist()
    assert got == [datetime(2015, 10, 18, 18, 1, 47, 978000), None, None, None]
    got = parse_timestamp(pa.array(["20171223-22:15:29:606", "20171223-22:15:29:6061234"]),
                          "%Y%m%d-%H:%M:%S:%f").to_pylist()
    assert got == [datetime(2017, 12, 23, 22, 15, 29, 606000), datetime(2017, 12, 23, 22, 15, 29, 606123)]
    with pytest.raises(ConfigError):
        parse_timestamp(pa.array(["x"]), "%f %H")


def test_epoch_to_timestamp():
    got = epoch_to_timestamp(pa.array(["1117838570", "12a", None]), "s").to_pylist()
    assert got == [datetime(2005, 6, 3, 22, 42, 50), None, None]
    assert epoch_to_timestamp(pa.array(["1500"]), "ms").to_pylist() == [datetime(1970, 1, 1, 0, 0, 1, 500000)]
    with pytest.raises(ConfigError):
        epoch_to_timestamp(pa.array(["1"]), "h")


def test_timestamp_failure_is_null_but_still_matched():
    row = _one("HDFS", "081399 203615 148 INFO dfs.DataNode: month 13")
    assert row["matched"] is True and row["timestamp"] is None and row["content"] == "month 13"


def test_missing_year_uses_default_year_which_is_configurable():
    line = "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown"
    assert _one("Linux", line)["timestamp"] == datetime(1970, 6, 14, 15, 16, 1)
    t = structure_lines(pa.array([line]), load_preset("Linux", default_year=2005))
    assert t.column("timestamp").to_pylist() == [datetime(2005, 6, 14, 15, 16, 1)]


def test_unmatched_line_has_null_timestamp_level_and_label():
    row = _one("BGL", "not a bgl line")
    assert row["matched"] is False and row["content"] == "not a bgl line"
    assert row["timestamp"] is None and row["level"] is None and row["label"] is None


# --- extract columns ------------------------------------------------------------------------------

def test_hdfs_block_ids_two_blocks_in_one_line():
    row = _one("HDFS", "081110 220635 28 INFO dfs.FSNamesystem: BLOCK* ask 10.251.71.193:50010 "
                       "to delete  blk_-5140072410813878235 blk_7064654434393040040")
    assert row["block_ids"] == ["blk_-5140072410813878235", "blk_7064654434393040040"]
    assert _one("HDFS", "081109 203615 148 INFO dfs.X: no block here")["block_ids"] == []


def test_openstack_instance_id():
    line = ("nova-compute.log.1.2017-05-16_13:55:31 2017-05-16 00:00:04.500 2931 INFO "
            "nova.compute.manager [req-3ea4052c-895d-4b64-9e2d-04d64c4d94ab - - - - -] "
            "[instance: b9000564-fe1a-409b-b8cc-1e88b294cd1d] VM Started (Lifecycle Event)")
    row = _one("OpenStack", line)
    assert row["instance_id"] == "b9000564-fe1a-409b-b8cc-1e88b294cd1d"
    assert row["f_addr"] == "req-3ea4052c-895d-4b64-9e2d-04d64c4d94ab - - - - -"
    assert row["timestamp"] == datetime(2017, 5, 16, 0, 0, 4, 500000)
    assert _one("OpenStack", line.replace("[instance: ", "[other: "))["instance_id"] is None


def test_extract_helpers_with_groups_and_nulls():
    arr = pa.array(["a=1 b=2 a=3", "none", None, "a=\x1f4"])
    assert extract_all(arr, r"a=(\d)").to_pylist() == [["1", "3"], [], None, ["4"]]
    assert extract_all(arr, r"[ab]=\d").to_pylist() == [["a=1", "b=2", "a=3"], [], None, ["a=4"]]
    assert extract_first(arr, r"b=(?P<v>\d)").to_pylist() == ["2", None, None, None]
    assert extract_first(arr, r"[ab]=\d").to_pylist() == ["a=1", None, None, None]
    with pytest.raises(ConfigError):
        extract_first(arr, r"(a)=(\d)")


# --- LO2 and generic ------------------------------------------------------------------------------

@pytest.mark.parametrize("line, corr, level, logger, method, message", [
    (LO2_WITH_ID, "XgY8YVqfRTGjmhawhHeKOw", "DEBUG", "c.n.openapi.ApiNormalisedPath", "<init>",
     "path = /oauth2/token, base path is set to: null"),
    (LO2_NO_ID, "", "DEBUG", "c.n.oauth.cache.RefreshTokenMapStore", "store",
     "Store:07459b3d-4f09-4066-8f95-db6daa41e73f"),
    (LO2_INFO, "f3ZRcnoES_G80IVuBDezBA", "INFO", "com.networknt.config.Config", "getConfigStream",
     "Config loaded from externalized folder for primary.jks in /config"),
])
def test_lo2_lines(line, corr, level, logger, method, message):
    row = _one("lo2", line)
    assert row["matched"] is True
    assert (row["f_correlation"], row["level"], row["component"], row["f_method"], row["content"]) \
        == (corr, level, logger, method, message)
    assert row["timestamp"].date() == datetime(1970, 1, 1).date()
    assert row["timestamp"].time() == datetime.strptime(line[:12], "%H:%M:%S.%f").time()


def test_lo2_entry_start_and_multiline_entry():
    preset = load_preset("lo2")
    trace = "\tat com.networknt.Foo.bar(Foo.java:12)"
    starts = pc.match_substring_regex(pa.array([LO2_WITH_ID, trace, "Caused by: x"]), preset.entry_start)
    assert starts.to_pylist() == [True, False, False]
    row = structure_lines(pa.array([LO2_WITH_ID + "\n" + trace]), preset).to_pylist()[0]
    assert row["matched"] is True and row["content"].endswith("\n" + trace)


def test_lo2_shared_sample_matches_every_line():
    folder = require_shared("lo2_sample", "reconstructed")
    path = next(folder.rglob("light-oauth2-oauth2-token-1.log"))
    lines = path.read_text(encoding="utf-8").splitlines()
    table = structure_lines(pa.array(lines), load_preset("lo2"))
    assert table.num_rows == len(lines) > 0
    assert pc.all(table.column("matched")).as_py()
    assert table.column("timestamp").null_count == 0
    assert set(table.column("level").to_pylist()) <= {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"}
    assert all(pc.match_substring_regex(pa.array(lines), load_preset("lo2").entry_start).to_pylist())


def test_generic_preset_is_the_whole_line():
    lines = ["  anything at all \r", "", "x: y"]
    t = structure_lines(pa.array(lines), load_preset("generic"))
    assert t.column("content").to_pylist() == ["  anything at all ", "", "x: y"]
    assert t.column("matched").to_pylist() == [True, True, True]
    assert t.column("level").null_count == t.column("timestamp").null_count == 3


def test_batches_do_not_change_results():
    preset = load_preset("HDFS")
    lines = ["081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block "
             "blk_38865049064139660 terminating", "junk", "081109 203807 222 WARN dfs.X: blk_-1 blk_2"]
    whole = structure_lines(pa.array(lines), preset).to_pylist()
    parts = [structure_lines(pa.array([line]), preset).to_pylist()[0] for line in lines]
    assert whole == parts


# --- presets ---------------------------------------------------------------------------------------

def test_list_presets_has_loghub_lo2_and_generic():
    from tests.sources.test_presets_loghub import SYSTEMS

    names = set(list_presets())
    assert set(SYSTEMS) | {"lo2", "generic"} <= names
    assert names == set(sorted(names, key=str.lower))  # stems, no duplicates


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_loads_and_structures_an_empty_batch(name):
    preset = load_preset(name)
    t = structure_lines(pa.array([], pa.string()), preset)
    assert t.num_rows == 0
    assert t.column_names[:6] == ["timestamp", "level", "component", "content", "matched", "label"]
    assert t.schema.field("timestamp").type == pa.timestamp("us")


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(ConfigError) as err:
        load_preset("no-such-system")
    for name in list_presets():
        assert name in str(err.value)


@pytest.mark.parametrize("yaml_text, needle", [
    ("format: '<A> <Content>'\nbogus: 1\n", "bogus"),
    ("format: '<A> <Content>'\nfields: {level: Lvl}\n", "fields.level"),
    ("format: '<A> <Content>'\ntimestamp: {field: A, epoch: h}\n", "timestamp.epoch"),
    ("format: '<A> <Content>'\ntimestamp: {fields: [A], format: '%f%H'}\n", "%f"),
    ("format: '<A> <Content>'\nextract: {ids: {regex: '(x'}}\n", "extract.ids"),
    ("format: '<A> <Content>'\nextract: {ids: {regex: 'x*'}}\n", "empty string"),
    ("format: '<A> <Content>'\nlabel: {field: B}\n", "label.field"),
    ("regex: '(?P<A>x)'\nformat: '<A>'\n", "exactly one"),
])
def test_invalid_yaml_names_the_key(tmp_path, yaml_text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_preset(path)
    assert needle in str(err.value) and str(path) in str(err.value)


def test_preset_from_path_format_and_regex(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("format: '<Time> <Level> <Content>'\nfields: {level: Level}\n"
                    "timestamp: {fields: [Time], format: '%H:%M:%S'}\n")
    row = structure_lines(pa.array(["10:00:01 WARN disk full"]), load_preset(path)).to_pylist()[0]
    assert (row["level"], row["content"], row["timestamp"]) == ("WARN", "disk full",
                                                                 datetime(1970, 1, 1, 10, 0, 1))
    p = preset_from_format("<Date> <Time> <Level> <Content>", timestamp_format="%Y-%m-%d %H:%M:%S")
    row = structure_lines(pa.array(["2020-01-02 03:04:05 INFO ok"]), p).to_pylist()[0]
    assert (row["level"], row["content"], row["timestamp"]) == ("INFO", "ok", datetime(2020, 1, 2, 3, 4, 5))
    p = preset_from_regex(r"^(?P<level>[A-Z]+): (?P<msg>.*)$")
    row = structure_lines(pa.array(["ERROR: boom"]), p).to_pylist()[0]
    assert (row["level"], row["content"], row["f_msg"]) == ("ERROR", "ERROR: boom", "boom")


def test_a_bgl_line_without_message_keeps_its_label_and_time():
    # loghub BGL lines with every header field and no message (about 1 % of a larger sample)
    line = ("APPREAD 1117869876 2005.06.04 R23-M1-N8-I:J18-U11 2005-06-04-00.24.36.222560 "
            "R23-M1-N8-I:J18-U11 RAS APP FATAL")
    row = _one("BGL", line)
    assert row["matched"] is False and row["content"] == line  # unmatched, counted as such
    assert row["label"] == 1 and row["timestamp"] == datetime(2005, 6, 4, 7, 24, 36)
    assert row["level"] == "FATAL" and row["component"] == "APP"
    normal = _one("BGL", line.replace("APPREAD", "-", 1))
    assert normal["label"] == 0 and normal["timestamp"] is not None
