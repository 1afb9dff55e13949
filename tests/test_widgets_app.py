"""SpectunerApp wiring: species choice → line overlays; selection → picker; short names."""

from __future__ import annotations

from spectuner_nb.widgets import SpectunerApp


def test_app_links_components(small_synthetic_cube):
    app = SpectunerApp(small_synthetic_cube)
    assert app.comparison is None
    ch3oh = next(n for n in app.picker.all_species if n.startswith("CH3OH"))
    app.picker.choose([ch3oh])
    assert app.browser.species == [ch3oh]
    assert len(app.browser.line_sources[0].data["x"]) > 0
    assert app.fit_panel.species == [ch3oh]
    app.browser.select_pixel(0, 0)
    assert app.picker.obs.name == "pixel (0, 0)"


def test_short_species_names(small_synthetic_cube):
    """Bug 4: SpectunerApp(cube, species=["H2CO", "CH3OH"]) selects the catalog entries."""
    app = SpectunerApp(small_synthetic_cube, species=["H2CO", "CH3OH"])
    assert [s.split(";")[0] for s in app.picker.selected] == ["H2CO", "CH3OH"]
    assert app.browser.species == app.picker.selected
