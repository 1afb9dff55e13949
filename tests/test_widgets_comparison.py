"""ComparisonView logic: map sources (cube fits, molfits, XCLASS FITS maps), differences,
pixel model spectra."""

from __future__ import annotations

import numpy as np
import pytest
from spectuner_nb.widgets import ComparisonView, CubeBrowser, ParameterMaps, WidgetInputError
from spectuner_nb.widgets.comparison import as_parameter_maps


@pytest.fixture(scope="module")
def truth_maps(small_synthetic_cube):
    syn = small_synthetic_cube
    return ParameterMaps("truth", ["CH3OH;v=0;"], syn.truth)


def test_old_reader_names_still_work(small_synthetic_cube, tmp_path):
    from spectuner_nb.widgets.comparison import from_fits_maps, from_molfits

    from spectuner_nb.xclass import read_molfit_maps, read_xclass_maps

    assert from_molfits is read_molfit_maps and from_fits_maps is read_xclass_maps
    with pytest.raises(WidgetInputError):
        as_parameter_maps(42, "nothing")


def test_truth_with_short_names_meets_cube_fit_names(small_synthetic_cube):
    """Bug 3: a "truth" given as "CH3OH" and a source spelling "CH3OH;v=0;" share maps."""
    syn = small_synthetic_cube
    view = ComparisonView(
        CubeBrowser(syn),
        {
            "long": ParameterMaps("long", ["CH3OH;v=0;"], syn.truth),
            "truth": ParameterMaps("truth", ["CH3OH"], syn.truth),
        },
    )
    assert view.species_list == ["CH3OH;v=0;"]
    for image in view.images()[:2]:
        assert np.isfinite(image).all()
    np.testing.assert_allclose(view.images()[2], 0.0, atol=1e-9)


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
    assert "(1, 2)" in view.status.value and "T_ex" in view.status.value
    view.parameter_select.value = "delta_v"  # bug 6: the status line follows the choice
    assert "delta_v" in view.status.value and "(1, 2)" in view.status.value


def test_view_needs_two_or_three(small_synthetic_cube, truth_maps):
    browser = CubeBrowser(small_synthetic_cube)
    with pytest.raises(WidgetInputError):
        ComparisonView(browser, {"truth": truth_maps})
