"""The examples in the docstrings of logad.models run and hold.

Only modules that have examples are listed, and each must run at least one: a module without
examples would only prove that it imports, which every other test already does.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["_checks", "_vocab", "thresholds", "reference", "registry", "baseline", "pca", "iforest",
           "oov", "lr", "dt", "logbert"]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    mod = importlib.import_module(f"logad.models.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"logad.models.{module} has no examples left: drop it here"
    assert result.failed == 0
