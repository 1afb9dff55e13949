"""IdentifyPanel and IdentificationLayer driven in Python: a run on a pixel, its table, colours,
layer and exports, per-pixel results, cancel between fits and the app wiring."""

from __future__ import annotations

import threading
import zipfile

import numpy as np
import pytest
from spectuner_nb.widgets import CubeBrowser, IdentifyPanel, SpeciesPicker, SpectunerApp
from spectuner_nb.widgets.identify_panel import identification_table_html


@pytest.fixture(scope="module")
def cube():
    """6×6 synthetic cube of CH3OH and H2CO (218.15–218.55 GHz rest, v_LSR −5 km/s)."""
    from spectuner_nb.cube.synthetic import make_synthetic_cube

    return make_synthetic_cube(
        ("CH3OH", "H2CO"),
        shape=(6, 6),
        n_channels=400,
        v_lsr=-5.0,
        windows_mhz=((218150.0, 218550.0),),
        seed=2,
    )


@pytest.fixture(scope="module")
def app(cube, tmp_path_factory):
    app = SpectunerApp(cube)
    app.identify_panel._workdir = tmp_path_factory.mktemp("identify")
    app.identify_panel.n_init.value = 5
    app.identify_panel.init.value = "random"
    return app


@pytest.fixture(scope="module")
def identified(app):
    panel = app.identify_panel
    app.browser.select_pixel(*app.browser._brightest_pixel())
    calls = []
    panel.progress.observe(lambda c: calls.append(c["new"]), names="value")
    result = panel.identify_selected()
    assert panel.error is None, panel.error
    return result, calls


def test_identify_pixel_shows_species_table_and_progress(app, identified):
    result, calls = identified
    panel = app.identify_panel
    assert result is panel.result and result.species
    assert {s.split(";")[0] for s in result.species} & {"CH3OH", "H2CO"}
    assert panel.progress.value == panel.progress.max > 1 and calls == sorted(calls)
    html = panel.table.value
    assert f"identification of {app.browser.selection_label}" in html
    for name in result.species:
        assert name in html
    assert html.count("±") >= 4 * len(result.species)
    assert "identified" in panel.status.value
    assert [b.description for b in panel.species_buttons.children] == [
        s.split(";")[0] for s in result.species
    ]


def test_layer_draws_models_markers_in_species_colours(app, identified):
    result, _ = identified
    panel = app.identify_panel
    src = panel.layer.sources[0]
    assert src["models"].data["label"] == result.species
    colours = panel.colours(result)
    assert src["models"].data["colour"] == [colours[s] for s in result.species]
    joint = np.asarray(src["joint"].data["y"], float)
    np.testing.assert_allclose(joint, result.model[0])  # K on display
    markers = src["markers"].data
    assert len(markers["x"]) >= 1 and set(markers["label"]) <= set(result.species)
    assert all(markers["colour"][k] == colours[n] for k, n in enumerate(markers["label"]))
    assert np.nanmax(markers["E_up"]) > 0 and np.nanmax(markers["A_ul"]) > 0
    # the markers sit over the observed peaks, on the browser's axis (sky MHz)
    lo, hi = app.browser.windows[0].freq_range_mhz
    assert all(lo <= x <= hi for x in markers["x"])
    # on the velocity axis the layer follows the browser
    app.browser.set_axis("velocity")
    try:
        x = np.asarray(src["markers"].data["x"], float)
        expect = app.browser.display_x(0, np.asarray(markers["freq"], float))
        np.testing.assert_allclose(x, expect)
        assert np.all(np.abs(x) < 1000.0)
    finally:
        app.browser.set_axis("frequency")
    # the picker's markers of an identified species take its colour
    name = result.species[0]
    panel.toggle_in_picker(name)
    assert name in app.picker.selected
    assert app.browser.line_colour(name) == colours[name]
    assert colours[name] in app.browser.line_sources[0].data["colour"]
    panel.toggle_in_picker(name)
    assert name not in app.picker.selected
    panel.select_in_picker()
    assert app.picker.selected == result.species


def test_other_pixel_has_no_stale_identification(app, identified):
    result, _ = identified
    panel = app.identify_panel
    where = app.browser.selection_label
    pixel = app.browser.pixel
    app.browser.select_pixel(0, 0) if pixel != (0, 0) else app.browser.select_pixel(1, 0)
    assert "no identification of" in panel.table.value
    assert panel.layer.sources[0]["models"].data["label"] == []
    assert panel.layer.sources[0]["markers"].data["x"] == []
    assert panel.species_buttons.children == ()
    assert all(b.disabled for b in panel.export_buttons.values())
    app.browser.select_pixel(*pixel)
    assert f"identification of {where}" in panel.table.value
    assert panel.layer.sources[0]["models"].data["label"] == result.species


def test_exports(app, identified, tmp_path):
    result, _ = identified
    panel = app.identify_panel
    archive = panel.export("zip", tmp_path)
    names = zipfile.ZipFile(archive).namelist()
    assert "summary.json" in names and "species.ecsv" in names
    molfit = panel.export("molfit", tmp_path)
    assert result.species[0].split(";")[0] in molfit.read_text()
    ecsv = panel.export("ecsv", tmp_path)
    from astropy.table import Table

    assert list(Table.read(ecsv)["species"]) == result.species
    assert "download=" in panel.downloads.value


def test_cancel_stops_between_fits_and_resume(cube, tmp_path):
    browser = CubeBrowser(cube)
    panel = IdentifyPanel(browser, SpeciesPicker(browser.catalog), workdir=tmp_path)
    panel.n_init.value, panel.init.value = 5, "random"
    first_fit = threading.Event()
    panel.progress.observe(lambda c: first_fit.set() if c["new"] >= 1 else None, names="value")
    panel.start()
    assert first_fit.wait(300)
    panel.cancel()
    assert panel.wait(300) is None and not panel.running
    assert "cancelled after" in panel.status.value and panel.result is None
    assert "no identification of" in panel.table.value
    stored = list(tmp_path.glob("*/fits/*.npz"))
    assert 1 <= len(stored) < panel.progress.max
    result = panel.identify_selected()  # resumes from the stored fits
    assert result is not None and result.species
    assert not panel.identify_button.disabled and panel.cancel_button.disabled


def test_table_of_nothing_identified(cube):
    from spectuner_nb.identification import identify

    browser = CubeBrowser(cube)
    obs = browser.observation()
    quiet = obs.with_intensities(
        [np.zeros_like(y) + 0.01 * np.sin(np.arange(y.size)) for y in obs.intensities]
    )
    res = identify(quiet, progress=False)
    html = identification_table_html(res, "pixel (0, 0)", {})
    assert "no peak above 4 sigma" in html and "<table" not in html


def test_layer_alone_never_draws_over_another_selection(cube, app, identified):
    from spectuner_nb.widgets import IdentificationLayer

    result, _ = identified
    browser = CubeBrowser(cube)
    layer = IdentificationLayer(browser)
    browser.select_pixel(*app.browser.pixel)
    layer.show(result)
    models = layer.sources[0]["models"]
    assert models.data["label"] == result.species
    browser.select_pixel(0, 0 if app.browser.pixel != (0, 0) else 1)
    assert models.data["label"] == []
    browser.select_pixel(*app.browser.pixel)
    assert models.data["label"] == result.species
    layer.clear()
    assert models.data["label"] == [] and layer.sources[0]["unknown"].data["x"] == []
