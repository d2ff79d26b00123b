"""Open a page in real headless Chromium: the DOM after load, the console, a screenshot."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

__all__ = ["chromium", "open_page"]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def chromium() -> str:
    """The chromium binary; skip without it (fail when CI=true: .ci/run installs it)."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        msg = "chromium not found (apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def _run(args: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="logad-chromium-") as profile:
        return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


def open_page(page: Path, screenshot: Path) -> tuple[str, str]:
    """``(dom after load, console log)`` of ``page``; writes a PNG screenshot."""
    url = page.resolve().as_uri()
    dom = _run(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom", url])
    shot = _run(["--window-size=1200,2400", f"--screenshot={screenshot}", url])
    if shot.returncode != 0 or not screenshot.is_file():
        raise AssertionError(f"chromium screenshot failed: {shot.stderr[-2000:]}")
    return dom.stdout, dom.stderr
