"""Masking rules: each named rule on real-looking values, fusion, selection, errors."""

from __future__ import annotations

import pyarrow as pa
import pytest

from logad.config import load_yaml
from logad.errors import ConfigError
from logad.parsing.masking import (MaskRule, compile_passes, mask_array, rules_from_config,
                                   select_rules)


@pytest.fixture(scope="module")
def masking_cfg():
    return load_yaml("masking")


def _mask(cfg, text, preset=None, off=()):
    rules = select_rules(rules_from_config(cfg, preset), off)
    return mask_array(pa.array([text]), compile_passes(rules))[0].as_py()


@pytest.mark.parametrize("text, expected", [
    ("Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
     "Receiving block <*> src: <*> dest: <*>"),
    ("GET http://example.com/a?b=1 failed", "GET <*> failed"),
    ("mail from bob.smith@example.org rejected", "mail from <*> rejected"),
    ("[instance: 7e4f5f3c-0b5e-4a6c-9d8e-1f2a3b4c5d6e] Claim successful", "[instance: <*>] Claim successful"),
    ("link 00:1a:2b:3c:4d:5e up", "link <*> up"),
    ("connect to www.google.com:443 ok", "connect to <*> ok"),
    ("java.io.IOException: broken pipe", "java.io.IOException: broken pipe"),
    ("at Mon Jun 20 03:40:59 2005 done", "at <*> done"),
    ("started 2017-05-16 00:00:00.008 ok", "started <*> ok"),
    ("opened /var/log/messages.1 now", "opened <*> now"),
    ("addr fe80::1c2b:3ff:fecd:1234 set", "addr <*> set"),
    ("status 0x800f080d seen", "status <*> seen"),
    ("sha 3f2a9c4d1e0b ok", "sha <*> ok"),
    ("took 12.5 ms of -3 tries", "took <*> ms of <*> tries"),
    ("node node-127 and bglio559 up", "node node-<*> and bglio<*> up"),
    ("interface eth0 and alt0", "interface eth<*> and alt<*>"),
    ("size 12 KB, free 3.1 MB", "size <*>, free <*>"),
    ("IRQs 3 4 5 6 7 done", "IRQs <*> done"),
    ("no digits here at all", "no digits here at all"),
])
def test_generic_rules(masking_cfg, text, expected):
    assert _mask(masking_cfg, text) == expected


def test_preset_rules_run_first_and_match_case_insensitively(masking_cfg):
    line = "session opened for user cyrus by (uid=0)"
    assert _mask(masking_cfg, line) == "session opened for user cyrus by (uid=<*>)"
    assert _mask(masking_cfg, line, preset="linux") == "session opened for user <*> by (uid=<*>)"


def test_no_mask_switches_a_rule_off(masking_cfg):
    line = "took 12 ms from 10.0.0.1"
    assert _mask(masking_cfg, line, off=["ip"]) == "took <*> ms from <*>"  # number rule masks the parts
    assert _mask(masking_cfg, line, off=["ip", "number"]) == "took 12 ms from 10.0.0.1"


def test_unknown_no_mask_lists_known_names(masking_cfg):
    with pytest.raises(ConfigError, match="unknown rule.*nope.*known: .*url"):
        select_rules(rules_from_config(masking_cfg), ["nope"])


def test_invalid_pattern_names_the_rule():
    with pytest.raises(ConfigError, match="'bad'.*RE2"):
        rules_from_config({"rules": [{"name": "bad", "pattern": "(?<=x)y"}]})


def test_duplicate_names_are_refused():
    with pytest.raises(ConfigError, match="used twice"):
        rules_from_config({"rules": [{"name": "a", "pattern": "x"}, {"name": "a", "pattern": "y"}]})


def test_consecutive_plain_rules_fuse_and_backrefs_stay_alone():
    rules = [MaskRule("a", "x+"), MaskRule("b", "y+"), MaskRule("c", r"(k=)\d+", r"\1<*>"),
             MaskRule("d", "z+"), MaskRule("e", "w+", "")]
    passes = compile_passes(rules)
    assert [p.names for p in passes] == [("a", "b"), ("c",), ("d",), ("e",)]
    out = mask_array(pa.array(["xx yy k=12 zz ww", None]), passes).to_pylist()
    assert out == ["<*> <*> k=<*> <*> ", None]


def test_fused_alternation_prefers_the_earlier_rule_at_one_position():
    passes = compile_passes([MaskRule("long", "abc"), MaskRule("short", "ab", "<S>")])
    assert mask_array(pa.array(["abc ab"]), passes).to_pylist() == ["<*> <S>"]


def test_chunked_and_large_string_input():
    passes = compile_passes([MaskRule("num", r"\d+")])
    chunked = pa.chunked_array([pa.array(["a 1"]), pa.array(["b 22"])]).cast(pa.large_string())
    assert mask_array(chunked, passes).to_pylist() == ["a <*>", "b <*>"]
