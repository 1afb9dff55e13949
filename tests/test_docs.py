"""The Sphinx site builds (as CI runs it), renders the tutorials and the API reference,
and our own pages produce no warnings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OWN_PAGES = ("index.md", "install.md", "tutorials.md", "api.md", "method.md", "widgets/")


@pytest.mark.slow
def test_docs_build(tmp_path):
    pytest.importorskip("myst_nb")
    out = tmp_path / "html"
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        "-q",
        "-d",
        str(tmp_path / "doctrees"),
        str(ROOT / "docs"),
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for page in (
        "index.html",
        "install.html",
        "tutorials.html",
        "api.html",
        "method.html",
        "_build/notebooks/tutorial_fit_spectrum.html",
        "_build/notebooks/tutorial_widget_tour.html",
    ):
        assert (out / page).is_file(), page
    api = (out / "api.html").read_text()
    for name in ("fit_spectrum", "fit_cube", "CubeBrowser", "ComparisonView"):
        assert name in api
    assert (out / "_images" / "widgets_comparison.png").is_file()
    own = [
        line
        for line in proc.stderr.splitlines()
        if any(f"/docs/{p}" in line or f"/{p}" in line for p in OWN_PAGES)
    ]
    assert not own, "\n".join(own)
