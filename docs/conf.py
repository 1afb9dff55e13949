"""Sphinx configuration of the spectuner_nb documentation.

Build (as CI does, in tests/test_docs.py):

    python -m sphinx -b html -q docs docs/_build/html

The tutorial notebooks live in ``notebooks/``; they are copied under
``docs/_build/notebooks`` (inside the source tree, ignored by git) and rendered by
myst-nb without being executed again: CI executes them in tests/test_notebooks.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
NOTEBOOK_COPIES = DOCS / "_build" / "notebooks"


def _copy_notebooks() -> None:
    """Mirror notebooks/ (tutorials, CASA session, training) into the source tree."""
    if NOTEBOOK_COPIES.exists():
        shutil.rmtree(NOTEBOOK_COPIES)
    for path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        target = NOTEBOOK_COPIES / path.relative_to(ROOT / "notebooks")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


_copy_notebooks()

project = "spectuner_nb"
author = "the spectuner_nb developers"
copyright = "2026, the spectuner_nb developers"
try:
    from spectuner_nb import __version__ as release
except ImportError:  # building the docs without the package installed
    release = "unknown"
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = [
    "_build/html",
    "_build/doctrees",
    "_build/jupyter_execute",
    "_build/.doctrees",
    "**/.ipynb_checkpoints",
]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # executed in CI by tests/test_notebooks.py
nb_merge_streams = True

autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_mock_imports = ["casatools", "casatasks"]
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_ivar = True  # dataclass "Attributes" sections: no duplicate descriptions

html_theme = "alabaster"
html_title = f"spectuner_nb {release}"
html_static_path: list[str] = []
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "ref.python"]  # ambiguous "shape"
