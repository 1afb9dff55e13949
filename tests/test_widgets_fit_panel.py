"""FitPanel logic: fits of the selection through the engine, per-selection results, warnings,
exports, and a cancellable background cube fit with a live map."""

from __future__ import annotations

import numpy as np
import pytest
from spectuner_nb.widgets import CubeBrowser, FitPanel, WidgetInputError
from spectuner_nb.widgets.fit_panel import parse_pixels, result_table_html


@pytest.fixture(scope="module")
def browser(small_synthetic_cube):
    return CubeBrowser(small_synthetic_cube)


def test_fit_pixel_draws_model_and_table(browser, tmp_path):
    panel = FitPanel(browser, ["CH3OH"])
    panel.loss.value, panel.n_init.value = "chi2", 5
    result = panel.fit_selected()
    assert result is panel.result and result.species[0].startswith("CH3OH")
    model = np.asarray(browser.model_sources[0].data["y"], dtype=float)
    assert np.isfinite(model).sum() == browser.windows[0].n_chan
    assert f"fit of {browser.selection_label}" in panel.table.value
    assert "<table" in panel.table.value and f"nfev {result.nfev}" in panel.table.value
    assert panel.progress.value == panel.progress.max == 1
    molfit, ecsv = panel.export_fit(tmp_path)
    assert molfit.read_text().count("CH3OH") == 1 and ecsv.exists()
    assert panel.downloads.value.count("download=") == 2


def test_table_follows_the_selection(browser):
    """Bug 6: the table names its pixel, goes when another pixel is chosen, and every fit of a
    multi-pixel run is kept."""
    panel = FitPanel(browser, ["CH3OH"])
    panel.loss.value, panel.n_init.value = "chi2", 3
    panel.pixels_text.value = "0, 0; 1, 0"
    panel._fit_clicked()
    assert set(panel.results) >= {"pixel (0, 0)", "pixel (1, 0)"}
    assert panel.progress.value == 2 and "2 fit(s)" in panel.status.value
    browser.select_pixel(3, 3)
    assert "no fit of pixel (3, 3)" in panel.table.value
    assert browser.model_sources[0].data["y"] == []
    browser.select_pixel(0, 0)
    assert "fit of pixel (0, 0)" in panel.table.value
    assert len(browser.model_sources[0].data["y"]) > 0
    panel.pixels_text.value = "nonsense"
    panel._fit_clicked()
    assert "cannot read" in panel.status.value


def test_box_fit_and_pm_errors(browser):
    """Bug 5: peak-matching fits carry errors; the box mean is fitted as one spectrum."""
    panel = FitPanel(browser, ["CH3OH"])
    panel.n_init.value = 5  # peak matching (default)
    browser.select_box((0, 1, 0, 1))
    result = panel.fit_selected()
    assert result.obs.name == "box x 0–1, y 0–1"
    assert np.isfinite(result.params_err).any()
    assert "fit of box x 0–1, y 0–1" in panel.table.value


def test_fit_at_a_bound_warns(browser):
    """Bug 5: a fit that ends at a bound is flagged in red with the engine's warning."""
    from spectuner_nb.fit import fit_spectrum

    obs = browser.observation()
    result = fit_spectrum(obs, ["CH3OH"], loss="chi2", init="random", n_init=3, seed=0)
    result.x[0, 1] = result.bounds[0, 1, 1]  # T_ex at its upper bound
    result.at_bound[0, 1] = True
    html = result_table_html(result, "pixel (0, 0)")
    assert "spectuner-fit-warnings" in html and "T_ex" in html and "bound" in html
    assert "spectuner-suspect" in html


def test_no_species_reports_instead_of_fitting(browser):
    panel = FitPanel(browser, [])
    assert panel.fit_selected() is None
    assert "species" in panel.status.value
    with pytest.raises(WidgetInputError):
        panel.start_cube_fit()


@pytest.mark.slow
def test_background_cube_fit_fills_map_and_cancels(browser, tmp_path):
    panel = FitPanel(browser, ["CH3OH"])
    panel.loss.value, panel.n_init.value = "chi2", 3
    panel.start_cube_fit(
        workdir=tmp_path / "fit",
        poll_s=0.2,
        client=False,
        select=False,
        init="random",
        chunk_size=4,
    )
    result = panel.wait_cube_fit(timeout=300)
    assert result is not None and result.species[0].startswith("CH3OH")
    assert "finished" in panel.status.value  # bug 6: the status is final once waited for
    image = panel.cube_map_source.data["image"][0]
    assert np.isfinite(image).all()
    np.testing.assert_allclose(image, result.x[:, :, 0, 2])
    assert panel.progress.value == panel.progress.max == 16
    archive = panel.export_cube_maps()
    assert archive.suffix == ".zip" and "download=" in panel.downloads.value
    panel.start_cube_fit(
        workdir=tmp_path / "fit2",
        poll_s=0.2,
        client=False,
        select=False,
        init="random",
        n_init=50,
        chunk_size=1,
    )
    panel.cancel_cube_fit()
    assert panel.wait_cube_fit(timeout=60) is None
    assert "cancelled" in panel.status.value and panel.cancel_button.disabled


def test_parse_pixels():
    assert parse_pixels("") == []
    assert parse_pixels("8,14; (9, 14);") == [(8, 14), (9, 14)]
    with pytest.raises(WidgetInputError):
        parse_pixels("8")
