"""The notebook the browser tests serve.

* the whole :class:`SpectunerApp` on the real W3(H2O) NOEMA cube (shared data; a
  synthetic cube of the same size when the shared data are absent), its species
  given by short name ("H2CO");
* a :class:`ComparisonView` of three sources on a small synthetic cube: our
  peak-matching cube fit, molfit files read through the XCLASS reader (written
  here from the cube's true parameters, since XCLASS itself cannot run here), and
  the true maps under the short name "CH3OH".

The last cell shows a static HTML element (no widget model) with class
``spectuner-ready``: the page has been streamed to its end.
"""

from __future__ import annotations

from pathlib import Path

CELLS: tuple[str, ...] = (
    """\
from spectuner_nb.widgets import setup_notebook
setup_notebook()""",
    """\
from spectuner_nb.settings import shared_data_dir
from spectuner_nb.widgets import SpectunerApp

shared = shared_data_dir(required=False)
if shared is not None:
    cube_path = shared / "spectra/noema_core_wideX/W3H2O_WideX_ABD_center.fits"
    app = SpectunerApp(cube_path, v_lsr=-48.0, species=["H2CO"])
else:  # no shared data: a synthetic 30×30 cube with 400 channels keeps the tests' geometry
    from spectuner_nb.cube.synthetic import make_synthetic_cube

    app = SpectunerApp(make_synthetic_cube(("CH3OH",), shape=(30, 30), n_channels=400,
                                           windows_mhz=((218180.0, 218960.0),)),
                       species=["H2CO"])
app.fit_panel.n_init.value = 20
app""",
    """\
import tempfile
from pathlib import Path

import numpy as np

from spectuner_nb.cube.fit import fit_cube
from spectuner_nb.cube.synthetic import make_synthetic_cube
from spectuner_nb.parameter_maps import ParameterMaps
from spectuner_nb.widgets import ComparisonView, CubeBrowser
from spectuner_nb.xclass import Molfit, read_molfit_maps, write_molfit

syn = make_synthetic_cube(("CH3OH",), shape=(5, 5), n_channels=200, seed=1)
pm_fit = fit_cube(syn.cubes, syn.species, loss="pm", init="random", n_init=3,
                  client=False, select=False, progress=False, seed=1)
folder = Path(tempfile.mkdtemp(prefix="molfits_"))
molfits = {}
for y, x in np.ndindex(*syn.cubes.shape):
    molfits[(x, y)] = folder / f"pixel_{x}_{y}.molfit"
    write_molfit(Molfit.from_params(syn.species, [syn.truth[y, x, 0]]), molfits[(x, y)])
xclass = read_molfit_maps(molfits, syn.cubes.shape, label="XCLASS (molfit)")
truth = ParameterMaps("truth", ["CH3OH"], syn.truth)  # short name, as in the widget tour
comparison = ComparisonView(CubeBrowser(syn), {"PM fit": pm_fit, "XCLASS (molfit)": xclass,
                                               "truth": truth})
comparison""",
    """\
from IPython.display import HTML
HTML("<div class='spectuner-ready'>ready</div>")""",
)


def write_app_notebook(path: Path, cells: tuple[str, ...] = CELLS) -> Path:
    """Write the test notebook (or other ``cells``) to ``path``; returns it."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))
    return Path(path)
