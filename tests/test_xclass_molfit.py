"""XCLASS molfit exchange: parsing, exact round trip, names, and the spectrum of a molfit."""

from __future__ import annotations

import numpy as np
import pytest
from fit_helpers import real_catalog

from spectuner_nb.errors import MolfitError
from spectuner_nb.model import lte_spectra
from spectuner_nb.observation import Observation
from spectuner_nb.xclass import Molfit, molfit_spectra, read_molfit, write_molfit, xclass_name

# The layout XCLASS fitting scripts write (five "flag low up value" groups, then c/e).
FIT_FORM = """%%MaxElowSQL = 2000
% name of molecule    number of components
CO-18;v=0;   1
y   0.1   1.0   0.4   y   5.0   300.0   100.0   y   1.0E+10   1.0E+21   1.0e+15   y   0.5   20.0   5.0   y   -15.0   15.0   0.0   c
HC3N;v=0;   2
n   0.1   1.0   0.55   n   5.0   300.0   153.2   n   1.0E+10   1.0E+21   3.3d+15   n   0.5   20.0   4.1   n   -6.0   6.0    -0.7   c
y   1.0   0.1   0.3   y   5.0   300.0   20   y   1.0E+10   1.0E+21   1e14   y   0.5   20.0   2   y   -6.0   6.0   1.5   e
"""  # noqa: E501

SHORT_FORM = """% plain model calculation
OCS;v=0;   1
0.8   120.0   2.0e16   5.5   -0.3   c
"""


def test_read_fit_form():
    molfit = read_molfit(FIT_FORM)
    assert molfit.species == ["CO-18;v=0;", "HC3N;v=0;"]
    assert molfit.settings == {"MaxElowSQL": "2000"}
    co = molfit["CO-18;v=0;"].components[0]
    assert co.values == (0.4, 100.0, 1e15, 5.0, 0.0)
    assert co.lower == (0.1, 5.0, 1e10, 0.5, -15.0) and co.fit == (True,) * 5
    hc3n = molfit["HC3N;v=0;"]
    assert hc3n.params().shape == (2, 5)
    assert hc3n.components[0].values[2] == 3.3e15  # Fortran 'd' exponent
    assert hc3n.components[0].fit == (False,) * 5
    assert hc3n.components[1].cf_flag == "e"
    assert hc3n.components[1].lower[0] == 0.1  # limits given in reverse order are sorted


def test_read_short_form_and_file(tmp_path):
    path = tmp_path / "model.molfit"
    path.write_text(SHORT_FORM)
    molfit = read_molfit(path)
    np.testing.assert_array_equal(molfit["OCS;v=0;"].params(), [[0.8, 120.0, 2e16, 5.5, -0.3]])


@pytest.mark.parametrize("short", [False, True])
def test_round_trip_is_exact(short):
    rng = np.random.default_rng(42)
    params = [
        rng.uniform([0.01, 5, 1e12, 0.3, -12], [10, 1000, 1e22, 30, 12], (n, 5)) for n in (1, 3)
    ]
    molfit = Molfit.from_params(
        ["CH3OH", "HC3N"], params, lower=[0.01, 1, 1e12, 0.3, -12], upper=[30, 1000, 1e22, 31.6, 12]
    )
    molfit.settings["MinNumTransitionsSQL"] = "1"
    again = read_molfit(write_molfit(molfit, short=short))
    assert again.species == ["CH3OH;v=0;", "HC3N;v=0;"]
    for a, b in zip(molfit.entries, again.entries, strict=True):
        np.testing.assert_array_equal(a.params(), b.params())  # bit-identical
        if not short:
            assert [c.lower for c in a.components] == [c.lower for c in b.components]
            assert [c.fit for c in a.components] == [c.fit for c in b.components]
    assert again.settings == molfit.settings


def test_xclass_names():
    assert xclass_name("CH3OH") == "CH3OH;v=0;"
    assert xclass_name("HC3N;v=0;") == "HC3N;v=0;"
    assert xclass_name("13CO") == "C-13-O;v=0;"
    assert xclass_name("CH3CH2CN") == "C2H5CN;v=0;"


@pytest.mark.parametrize(
    "text, message",
    [
        ("HC3N;v=0;   2\n0.8 120 2e16 5.5 -0.3 c\n", "missing 1 component"),
        ("HC3N;v=0;   x\n", "not an integer"),
        ("HC3N;v=0;   1\n0.8 120 2e16 5.5 c\n", "needs 21 fields"),
        ("HC3N;v=0;   1\n0.8 120 2e16 5.5 -0.3 q\n", "core/envelope"),
        ("HC3N;v=0;   1\n0.8 abc 2e16 5.5 -0.3 c\n", "not a number"),
        ("% nothing\n", "no species"),
    ],
)
def test_malformed_molfits(text, message):
    with pytest.raises(MolfitError, match=message):
        read_molfit(text)


def test_molfit_spectrum_is_the_lte_model_with_the_beam(tmp_path):
    catalog = real_catalog(tmp_path / "cat.sqlite")
    f = 218_200.0 + 0.5 * np.arange(400)
    obs = Observation.from_arrays(f, np.zeros(f.size), beam=(0.6, 0.4), rms=0.1, T_bg=5.0)
    molfit = read_molfit(
        "HC3N;v=0;   2\n0.8 120 2e15 5.5 -0.3 c\n0.3 50 1e15 2.0 1.0 c\n"
        "OCS;v=0;   1\n0.5 150 5e16 4.0 0.5 c\n"
    )
    spectra = molfit_spectra(molfit, obs, catalog=catalog)
    lines = catalog.lines("HC3N", obs.windows)
    ocs = catalog.lines("OCS", obs.windows)
    params = np.array(
        [[0.8, 120, 2e15, 5.5, -0.3], [0.3, 50, 1e15, 2.0, 1.0], [0.5, 150, 5e16, 4.0, 0.5]]
    )
    expected = lte_spectra([f], [lines, lines, ocs], params, beam=(0.6, 0.4), T_bg=5.0)
    np.testing.assert_array_equal(spectra[0], expected[0])
    assert spectra[0].max() > 1.0  # HC3N 24–23 at 218.32 GHz is in the window
    with pytest.raises(MolfitError, match="envelope"):
        molfit_spectra(read_molfit("HC3N;v=0;   1\n0.3 20 1e14 2 1.5 e\n"), obs, catalog=catalog)
