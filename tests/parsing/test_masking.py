"""Masking rules: each named rule on real-looking values, fusion, selection, errors."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from logad.config import load_yaml
from logad.errors import ConfigError
import logad.parsing.masking as masking_mod
from logad.parsing.masking import (MaskRule, canonical_digits, compile_passes, digit_blind,
                                   mask_array, rules_from_config,
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


# -- masking each digit shape once (exact fast path) ------------------------------------------------
_MIXED = ["blk_-1608999687919862906 from /10.250.19.102:54106", "x86_64 node12 took 17 ms",
          "x86_64 node34 took 29 ms", "0x1f2e and 0x9a", "ü9 ï 7z", "", None, "build 2.6.32-5",
          "user 1234 at 12:34:56", "user 9876 at 23:45:07", "v1 v2 v3 done", "v8 v9 v7 done",
          "Jun 20 03:40:59 2005 sshd[123]", "port 50010 ok", "port 8 ok"]


@pytest.fixture
def always_by_shape(monkeypatch):
    monkeypatch.setattr(masking_mod, "DEDUPE_MAX_SHARE", 1.01)
    monkeypatch.setattr(masking_mod, "_MIN_DEDUPE_ROWS", 1)


@pytest.mark.parametrize("preset", [None, "Linux", "Thunderbird", "Proxifier"])
def test_masking_by_digit_shape_equals_line_by_line(masking_cfg, always_by_shape, preset):
    passes = compile_passes(rules_from_config(masking_cfg, preset))
    values = pa.array(_MIXED * 7, pa.string())
    for arr in (values, values.slice(3, 50)):
        fast = mask_array(arr, passes, dedupe=True)
        slow = mask_array(arr, passes, dedupe=False)
        assert fast.to_pylist() == slow.to_pylist()
    # digits the rules keep (x86_64) come back exactly as they were, not as their shape
    assert "x86_" in mask_array(values, passes).to_pylist()[1]


def test_rules_that_tell_digits_apart_are_masked_line_by_line(always_by_shape):
    passes = compile_passes([MaskRule("low", "[0-4]+")])
    assert not digit_blind(passes)
    out = mask_array(pa.array(["a19 b40 c77"] * 5), passes).to_pylist()
    assert out == ["a<*>9 b<*> c77"] * 5


@pytest.mark.parametrize("pattern, blind", [(r"\d{1,3}\.\d+", True), (r"[0-9a-fA-F]{8}", True),
                                            (r"[^0-9]+", True), (r"\bport \w+", True),
                                            (r"[0-5]", False), (r"x7", False), (r"[^3]", False),
                                            (r"\x31", False), (r"\pN", False)])
def test_digit_blind(pattern, blind):
    assert digit_blind(compile_passes([MaskRule("r", pattern)])) is blind


def test_canonical_digits_keeps_lengths_nulls_and_slices():
    values = pa.array(["a19", None, "0x7f", "", "ü29"])
    assert canonical_digits(values).to_pylist() == ["a11", None, "0x1f", "", "ü11"]
    part = canonical_digits(values.slice(1, 3))
    part.validate(full=True)
    assert part.to_pylist() == [None, "0x1f", ""]


def test_values_a_pass_makes_equal_are_masked_once_by_later_passes(masking_cfg, always_by_shape):
    passes = compile_passes(rules_from_config(masking_cfg))
    ports = [f"/10.0.{'1' * k}.7:{'1' * (6 - k)} took 1 ms" for k in range(1, 4)]  # 3 shapes
    values = pa.array((ports + ["x86_64 port 1"]) * 40, pa.string())
    enc = pc.dictionary_encode(values)
    masked, indices = masking_mod._mask_distinct(enc.dictionary, enc.indices, passes)
    assert len(masked) == 2  # the three address shapes became one value after the ip pass
    assert pc.take(masked, indices).to_pylist() == mask_array(values, passes, dedupe=False).to_pylist()
    assert mask_array(values, passes).to_pylist() == mask_array(values, passes, dedupe=False).to_pylist()
