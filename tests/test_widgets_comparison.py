"""ComparisonView logic: map sources (cube fits, molfits, XCLASS FITS maps), differences,
pixel model spectra."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from spectuner_nb.widgets import ComparisonView, CubeBrowser, ParameterMaps, WidgetInputError
from spectuner_nb.widgets.comparison import as_parameter_maps, from_fits_maps, from_molfits

from spectuner_nb.parameters import PHYSICAL_NAMES
from spectuner_nb.xclass import Molfit, write_molfit


@pytest.fixture(scope="module")
def truth_maps(small_synthetic_cube):
    syn = small_synthetic_cube
    return ParameterMaps("truth", ["CH3OH;v=0;"], syn.truth)


def test_molfits_round_trip(small_synthetic_cube, tmp_path):
    syn = small_synthetic_cube
    files = {}
    for y, x in np.ndindex(*syn.cubes.shape):
        files[(x, y)] = tmp_path / f"p{x}_{y}.molfit"
        write_molfit(Molfit.from_params(syn.species, [syn.truth[y, x, 0]]), files[(x, y)])
    del files[(0, 0)]
    maps = from_molfits(files, syn.cubes.shape)
    assert len(maps.species) == 1 and maps.species[0].startswith("CH3OH")
    np.testing.assert_allclose(maps.params[1:, :, 0], syn.truth[1:, :, 0], rtol=1e-9)
    assert np.isnan(maps.params[0, 0]).all()


def test_xclass_fits_folder(small_synthetic_cube, tmp_path):
    syn = small_synthetic_cube
    names = {"theta": "source_size", "T_ex": "T_rot", "N_tot": "N_tot",
             "delta_v": "V_width_Gauss", "v_off": "V_off"}
    for k, ours in enumerate(PHYSICAL_NAMES):
        data = syn.truth[:, :, 0, k]
        if ours == "N_tot":
            data = np.log10(data)  # log10 maps are recognised
        name = f"BestResult___parameter__{names[ours]}___molecule__CH3OH_v=0___component__1___.fits"
        fits.PrimaryHDU(data).writeto(tmp_path / name)
    maps = as_parameter_maps(tmp_path, "XCLASS")
    np.testing.assert_allclose(maps.params[:, :, 0], syn.truth[:, :, 0], rtol=1e-9)
    explicit = from_fits_maps({("CH3OH", "T_ex"): tmp_path / name})
    assert np.isnan(explicit.map(explicit.species[0], "N_tot")).all()
    with pytest.raises(WidgetInputError):
        from_fits_maps(tmp_path / "missing-folder")


def test_view_maps_differences_and_pixel_models(small_synthetic_cube, truth_maps):
    syn = small_synthetic_cube
    shifted = ParameterMaps("shifted", truth_maps.species, truth_maps.params.copy())
    shifted.params[..., 1] += 10.0  # T_ex + 10 K
    browser = CubeBrowser(syn)
    view = ComparisonView(browser, {"truth": truth_maps, "shifted": shifted})
    view.parameter_select.value = "T_ex"
    images = view.images()
    assert len(images) == 3
    np.testing.assert_allclose(images[2], 10.0)
    np.testing.assert_allclose(view.sources[0].data["image"][0], syn.truth[:, :, 0, 1])
    browser.select_pixel(1, 2)
    overlay = browser.overlay_sources[0].data
    assert overlay["label"] == ["truth", "shifted"]
    model = np.asarray(overlay["ys"][0], dtype=float)
    data = syn.cubes.windows[0].data[:, 2, 1]
    good = np.isfinite(model)
    resid = data - model[good][: data.size]
    assert np.std(resid) < 3 * syn.rms[0]  # the truth model reproduces the data to the noise
    assert "(1, 2)" in view.status.value


def test_view_needs_two_or_three(small_synthetic_cube, truth_maps):
    browser = CubeBrowser(small_synthetic_cube)
    with pytest.raises(WidgetInputError):
        ComparisonView(browser, {"truth": truth_maps})
