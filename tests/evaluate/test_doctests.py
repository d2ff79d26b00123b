"""The examples in the docstrings of logad.evaluate run and hold (``metrics``: the module with
examples; each listed module must run at least one)."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["metrics"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(f"logad.evaluate.{module}"))
    assert result.attempted > 0 and result.failed == 0
