"""The notebook the browser tests serve: every widget on the real W3(H2O) cube.

Falls back to a small synthetic cube when the shared data are absent. The last
cell shows an element with class ``spectuner-ready`` once everything is displayed.
"""

from __future__ import annotations

from pathlib import Path

CELLS: tuple[str, ...] = (
    """\
from spectuner_nb.widgets import setup_notebook
setup_notebook()""",
    """\
from spectuner_nb.settings import shared_data_dir
from spectuner_nb.widgets import CubeBrowser

shared = shared_data_dir(required=False)
cube_path = shared / "spectra/noema_core_wideX/W3H2O_WideX_ABD_center.fits"
browser = CubeBrowser(cube_path, v_lsr=-50.0)
browser""",
    """\
import ipywidgets
ready = ipywidgets.HTML("ready")
ready.add_class("spectuner-ready")
ready""",
)


def write_app_notebook(path: Path) -> Path:
    """Write the test notebook to ``path`` (returns it)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, str(path))
    return Path(path)
