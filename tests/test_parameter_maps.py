"""ParameterMaps and the XCLASS map readers (spectuner_nb.parameter_maps, spectuner_nb.xclass)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from spectuner_nb.errors import MolfitError, ResultsError
from spectuner_nb.parameter_maps import ParameterMaps
from spectuner_nb.parameters import PHYSICAL_NAMES
from spectuner_nb.xclass import Molfit, read_molfit_maps, read_xclass_maps, write_molfit


def test_species_spellings_meet():
    """Bug 3 of the widget tour: "CH3OH" and "CH3OH;v=0;" are one species."""
    params = np.random.default_rng(0).random((3, 4, 1, 5))
    maps = ParameterMaps("truth", ["CH3OH"], params)
    assert maps.species == ["CH3OH;v=0;"]
    np.testing.assert_array_equal(maps.map("CH3OH;v=0;", "T_ex"), params[:, :, 0, 1])
    np.testing.assert_array_equal(maps.map("CH3OH", "T_ex"), params[:, :, 0, 1])
    assert np.isnan(maps.map("H2CO", "T_ex")).all()
    np.testing.assert_array_equal(maps.pixel_params(1, 2, ["CH3OH;v=0;"])[0], params[2, 1, 0])
    with pytest.raises(ResultsError):
        maps.map("CH3OH", "T_kin")
    with pytest.raises(ResultsError):
        ParameterMaps("bad", ["CH3OH", "H2CO"], params)


def test_molfits_round_trip(small_synthetic_cube, tmp_path):
    syn = small_synthetic_cube
    files = {}
    for y, x in np.ndindex(*syn.cubes.shape):
        files[(x, y)] = tmp_path / f"p{x}_{y}.molfit"
        write_molfit(Molfit.from_params(syn.species, [syn.truth[y, x, 0]]), files[(x, y)])
    del files[(0, 0)]
    maps = read_molfit_maps(files, syn.cubes.shape)
    assert len(maps.species) == 1 and maps.species[0].startswith("CH3OH")
    np.testing.assert_allclose(maps.params[1:, :, 0], syn.truth[1:, :, 0], rtol=1e-9)
    assert np.isnan(maps.params[0, 0]).all()


def test_xclass_fits_folder(small_synthetic_cube, tmp_path):
    syn = small_synthetic_cube
    names = {
        "theta": "source_size",
        "T_ex": "T_rot",
        "N_tot": "N_tot",
        "delta_v": "V_width_Gauss",
        "v_off": "V_off",
    }
    for k, ours in enumerate(PHYSICAL_NAMES):
        data = syn.truth[:, :, 0, k]
        if ours == "N_tot":
            data = np.log10(data)  # log10 maps are recognised
        name = f"BestResult___parameter__{names[ours]}___molecule__CH3OH_v=0___component__1___.fits"
        fits.PrimaryHDU(data).writeto(tmp_path / name)
    maps = read_xclass_maps(tmp_path, "XCLASS")
    np.testing.assert_allclose(maps.params[:, :, 0], syn.truth[:, :, 0], rtol=1e-9)
    explicit = read_xclass_maps({("CH3OH", "T_ex"): tmp_path / name})
    assert np.isnan(explicit.map(explicit.species[0], "N_tot")).all()
    with pytest.raises(MolfitError):
        read_xclass_maps(tmp_path / "missing-folder")
