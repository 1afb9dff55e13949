"""FitPanel logic: a pixel fit through the engine, and a background cube fit with live maps."""

from __future__ import annotations

import numpy as np
import pytest
from spectuner_nb.widgets import CubeBrowser, FitPanel, WidgetInputError
from spectuner_nb.widgets.fit_panel import parse_pixels


@pytest.fixture(scope="module")
def browser(small_synthetic_cube):
    return CubeBrowser(small_synthetic_cube)


def test_fit_pixel_draws_model_and_table(browser):
    panel = FitPanel(browser, ["CH3OH"])
    panel.loss.value, panel.n_init.value = "chi2", 5
    result = panel.fit_selected()
    assert result is panel.result and result.species[0].startswith("CH3OH")
    model = np.asarray(browser.model_sources[0].data["y"], dtype=float)
    assert np.isfinite(model).sum() == browser.windows[0].n_chan
    assert "<table" in panel.table.value and f"nfev {result.nfev}" in panel.table.value
    assert panel.progress.value == panel.progress.max == 1


def test_no_species_reports_instead_of_fitting(browser):
    panel = FitPanel(browser, [])
    assert panel.fit_selected() is None
    assert "species" in panel.status.value
    with pytest.raises(WidgetInputError):
        panel.start_cube_fit()


def test_background_cube_fit_fills_map(browser, tmp_path):
    panel = FitPanel(browser, ["CH3OH"])
    panel.loss.value, panel.n_init.value = "chi2", 3
    panel.start_cube_fit(workdir=tmp_path / "fit", poll_s=0.2, client=False, select=False,
                         init="random", chunk_size=4)
    result = panel.wait_cube_fit(timeout=300)
    assert result is not None and result.species[0].startswith("CH3OH")
    image = panel.cube_map_source.data["image"][0]
    assert np.isfinite(image).all()
    np.testing.assert_allclose(image, result.x[:, :, 0, 2])
    assert panel.progress.value == panel.progress.max == 16


def test_parse_pixels():
    assert parse_pixels("") == []
    assert parse_pixels("8,14; (9, 14);") == [(8, 14), (9, 14)]
    with pytest.raises(WidgetInputError):
        parse_pixels("8")


def test_fit_several_pixels_from_text(browser):
    panel = FitPanel(browser, ["CH3OH"])
    panel.loss.value, panel.n_init.value = "chi2", 3
    panel.pixels_text.value = "0, 0; 1, 0"
    panel._fit_clicked()
    assert panel.progress.value == 2 and "2 pixel(s)" in panel.status.value
    panel.pixels_text.value = "nonsense"
    panel._fit_clicked()
    assert "cannot read" in panel.status.value
