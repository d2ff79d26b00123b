"""A private copy of configs/ that a test may edit (logad reads configs through CONFIG_DIR)."""

from __future__ import annotations

import shutil
from types import SimpleNamespace
from pathlib import Path

import pytest
import yaml

import logad.config


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    """A copy of ``configs/`` that logad reads for this test; ``edit(name, **keys)`` updates one
    file's top-level (dotted) keys."""
    root = tmp_path / "configs"
    shutil.copytree(logad.config.CONFIG_DIR, root)
    monkeypatch.setattr(logad.config, "CONFIG_DIR", root)

    def edit(name: str, **keys):
        path = root / f"{name}.yaml"
        doc = yaml.safe_load(path.read_text())
        for dotted, value in keys.items():
            node = doc
            *parents, leaf = dotted.split("__")
            for p in parents:
                node = node[p]
            node[leaf] = value
        path.write_text(yaml.safe_dump(doc))
        return path

    return SimpleNamespace(root=root, edit=edit)


def write_yaml(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path
