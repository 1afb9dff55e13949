"""CubeBrowser logic in plain Python (no browser): pixels, maps, axes, line overlays."""

from __future__ import annotations

import numpy as np
import pytest
from spectuner_nb.widgets import CubeBrowser, WidgetInputError
from spectuner_nb.widgets.cube_browser import observed_frequency, radio_velocity
from spectuner_nb.widgets.cubes import as_cubeset, moment0_map, peak_map, pixel_observation

from spectuner_nb.constants import C_KM_S


@pytest.fixture(scope="module")
def browser(small_synthetic_cube):
    return CubeBrowser(small_synthetic_cube)


def test_starts_on_brightest_pixel(browser, small_synthetic_cube):
    peak = peak_map(small_synthetic_cube.cubes.windows[0])
    y, x = np.unravel_index(np.nanargmax(peak), peak.shape)
    assert browser.pixel == (x, y)
    assert "peak" in browser.status.value


def test_select_pixel_updates_spectrum_marker_and_listeners(browser, small_synthetic_cube):
    seen = []
    browser.on_pixel(lambda x, y: seen.append((x, y)))
    browser.select_pixel(0, 3)
    expected = small_synthetic_cube.cubes.windows[0].data[:, 3, 0]
    np.testing.assert_allclose(browser.spectrum_sources[0].data["y"], expected)
    assert browser.marker_source.data == {"x": [0], "y": [3]}
    assert seen[-1] == (0, 3)
    assert "(0, 3)" in browser.status.value
    with pytest.raises(WidgetInputError):
        browser.select_pixel(4, 0)


def test_tap_outside_map_is_ignored(browser):
    before = browser.pixel

    class Event:
        x, y = 10.0, -3.0

    browser._on_tap(Event())
    assert browser.pixel == before


def test_map_kinds_and_channel(browser, small_synthetic_cube):
    win = small_synthetic_cube.cubes.windows[0]
    browser.kind_buttons.value = "channel"
    browser.channel_slider.value = 7
    np.testing.assert_allclose(browser.map_source.data["image"][0], win.data[7])
    browser.kind_buttons.value = "moment 0"
    np.testing.assert_allclose(browser.map_source.data["image"][0], moment0_map(win))
    browser.kind_buttons.value = "peak"


def test_velocity_axis_and_back(browser):
    browser.set_axis("velocity")
    ref = browser.reference_frequency(0)
    v = browser.spectrum_sources[0].data["x"]
    f = browser.windows[0].freq_mhz
    np.testing.assert_allclose(v, radio_velocity(f, ref))
    x_range = browser.spectrum_figures[0].x_range
    assert (x_range.start, x_range.end) == (pytest.approx(v.min()), pytest.approx(v.max()))
    assert f"{ref:.3f} MHz" in browser.spectrum_figures[0].xaxis.axis_label
    browser.set_axis("frequency")
    np.testing.assert_allclose(browser.spectrum_sources[0].data["x"], f)
    with pytest.raises(WidgetInputError):
        browser.set_axis("wavelength")


def test_species_on_velocity_axis_keeps_data_lines_and_label_together(small_synthetic_cube):
    """Bug 1: choosing species on the velocity axis moved the markers, not the data."""
    b = CubeBrowser(small_synthetic_cube)
    b.set_axis("velocity")
    label = b.spectrum_figures[0].xaxis.axis_label
    data_x = np.array(b.spectrum_sources[0].data["x"])
    b.set_species(["CH3OH"])
    np.testing.assert_allclose(b.spectrum_sources[0].data["x"], data_x)
    assert b.spectrum_figures[0].xaxis.axis_label == label
    lines = b.line_sources[0].data
    np.testing.assert_allclose(lines["x"], radio_velocity(lines["freq"], b.rest_mhz[0]))
    # a line chosen as reference sits at the source velocity, and everything follows
    rest = lines["rest"][0]
    b.reference_select.value = rest
    assert b.rest_mhz[0] == rest and f"{rest:.3f}" in b.spectrum_figures[0].xaxis.axis_label
    assert b.line_sources[0].data["x"][0] == pytest.approx(b.v_lsr, abs=1e-6)
    np.testing.assert_allclose(
        b.spectrum_sources[0].data["x"], radio_velocity(b.windows[0].freq_mhz, rest)
    )
    b.rest_text.value = 218300.0  # a typed rest frequency
    assert b.rest_mhz[0] == 218300.0
    assert b.reference_select.value == 218300.0


def test_units_box_and_channel_marker(small_synthetic_cube):
    from spectuner_nb.cube.maps import box_spectra, brightness_factor

    b = CubeBrowser(small_synthetic_cube)
    win = b.windows[0]
    b.select_box((1, 2, 0, 3))
    assert b.box == (1, 2, 0, 3) and "box x 1–2, y 0–3" in b.status.value
    mean = box_spectra(b.cubes, b.box)[0][0]
    np.testing.assert_allclose(b.spectrum_sources[0].data["y"], mean)
    assert b.observation().name == "box x 1–2, y 0–3"
    b.unit_buttons.value = "Jy/beam"
    np.testing.assert_allclose(
        b.spectrum_sources[0].data["y"], mean * brightness_factor(win, "Jy/beam")
    )
    assert "Jy/beam" in b.map_figure.title.text
    b.box_text.value = "nonsense"
    assert "cannot read a box" in b.status.value
    b.select_pixel(0, 0)
    assert b.box is None and b.box_source.data["left"] == []
    b.channel_slider.value = 17
    assert b.channel_markers[0].visible
    assert b.channel_markers[0].location == pytest.approx(win.freq_mhz[17])
    b.kind_buttons.value = "moment 0"
    b.velocity_range.value = (-10.0, 0.0)
    assert "v -10.0…0.0 km/s" in b.map_figure.title.text


def test_sky_axes_and_beam(small_synthetic_cube):
    b = CubeBrowser(small_synthetic_cube)
    assert b.map_figure.xaxis[0].axis_label == "RA (ICRS)"
    labels = list(b.map_figure.xaxis[0].major_label_overrides.values())
    assert labels and all(lab.count(":") == 2 for lab in labels)
    assert b.map_figure.select(name="beam_ellipse")
    assert "pixel (" in b.status.value and "s" in b.status.value.split("=")[1]


def test_species_lines_at_sky_frequency(small_synthetic_cube):
    from spectuner_nb.catalog import default_cache

    b = CubeBrowser(small_synthetic_cube, species=["CH3OH"])
    lo, hi = small_synthetic_cube.cubes.windows[0].freq_range_mhz
    scale = 1.0 - small_synthetic_cube.cubes.v_lsr / C_KM_S
    rest = default_cache().lines("CH3OH", [(lo / scale, hi / scale)], pad_kms=0.0).freq
    drawn = np.asarray(b.line_sources[0].data["x"])
    assert drawn.size == rest.size > 0
    np.testing.assert_allclose(np.sort(drawn), np.sort(observed_frequency(rest, -5.0)))
    assert set(b.line_sources[0].data["label"]) == {"CH3OH"}


def test_show_model_splits_segments_by_window(browser):
    f = browser.windows[0].freq_mhz
    browser.show_model([f[:50], f[60:]], [np.ones(50), 2 * np.ones(f.size - 60)])
    y = np.asarray(browser.model_sources[0].data["y"], dtype=float)
    assert y.size == f.size - 10 + 2 and np.isnan(y).sum() == 2


def test_as_cubeset_errors():
    with pytest.raises(WidgetInputError):
        as_cubeset(42)


def test_pixel_observation_matches_cube(small_synthetic_cube):
    cubes = small_synthetic_cube.cubes
    obs = pixel_observation(cubes, 1, 2)
    np.testing.assert_allclose(obs.intensities[0], cubes.windows[0].data[:, 2, 1], rtol=1e-6)
    assert obs.v_lsr == -5.0
    np.testing.assert_allclose(obs.T_bg[0], cubes.windows[0].continuum_k[2, 1], rtol=1e-6)
