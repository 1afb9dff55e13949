"""The engine package type-checks cleanly with mypy (issue 21) and ships ``py.typed``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_package_ships_py_typed():
    assert (ROOT / "spectuner_nb" / "py.typed").is_file()
    assert '"py.typed"' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.slow
def test_mypy_reports_no_error(tmp_path):
    pytest.importorskip("mypy")
    # the settings are pyproject's [tool.mypy]; a fresh cache keeps the checkout untouched
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found" in proc.stdout
