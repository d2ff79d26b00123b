"""The examples in the docstrings of logad.models run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["base", "_checks", "_vocab", "thresholds", "reference", "folder", "registry",
           "baseline", "pca", "iforest", "oov", "lr", "dt", "rf", "xgb"]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    mod = importlib.import_module(f"logad.models.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
