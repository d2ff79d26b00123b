"""Every command answers --help, and library errors become one line and a non-zero exit."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from logad.cli import app


def _command_paths(group, prefix=()):
    for name, cmd in group.commands.items():
        yield prefix + (name,)
        if hasattr(cmd, "commands"):
            yield from _command_paths(cmd, prefix + (name,))


def test_every_command_has_help_with_an_example():
    root = typer.main.get_command(app)
    paths = list(_command_paths(root))
    assert ("ingest",) in paths
    runner = CliRunner()
    for path in paths:
        res = runner.invoke(app, [*path, "--help"])
        assert res.exit_code == 0, (path, res.output)
        assert "Usage" in res.output
        cmd = root
        for part in path:
            cmd = cmd.commands[part]
        if not hasattr(cmd, "commands"):
            assert "Example" in (cmd.help or ""), f"{' '.join(path)} has no Example in its help"


def test_unknown_preset_is_a_clear_error(tmp_path):
    (tmp_path / "a.log").write_text("x\n")
    res = CliRunner().invoke(app, ["ingest", str(tmp_path / "a.log"), "--preset", "nosuch",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "nosuch" in res.output and "HDFS" in res.output
    assert "Traceback" not in res.output
