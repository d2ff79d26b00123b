"""The examples in the docstrings of logad.evaluate run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["metrics", "plots"])
def test_docstring_examples(module):
    mod = importlib.import_module(f"logad.evaluate.{module}")
    assert doctest.testmod(mod).failed == 0
