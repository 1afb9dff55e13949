"""SpectunerApp: the cube browser, species picker, fit panel and comparison view together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .comparison import ComparisonView
from .cube_browser import CubeBrowser
from .cubes import pixel_observation
from .display import Component
from .fit_panel import FitPanel
from .species_picker import SpeciesPicker

__all__ = ["SpectunerApp"]


class SpectunerApp(Component):
    """Interactive fitting of a cube in one widget.

    The species chosen in the picker are drawn in the browser and fitted by the
    panel; the picker's annotations follow the selected pixel.

    Parameters
    ----------
    cubes
        Anything :class:`CubeBrowser` accepts (CubeSet, synthetic cube, cube paths).
    catalog
        Transition cache (default: the user cache).
    species
        Species selected from the start.
    compare
        Optional ``{label: source}`` of 2–3 fits for a :class:`ComparisonView`.
    v_lsr
        Systemic velocity (km/s) when loading from paths.
    client
        Dask client for cube fits (None: the engine's LocalCluster).
    """

    def __init__(self, cubes: Any, *, catalog: Any = None, species: Sequence[str] = (),
                 compare: Mapping[str, Any] | None = None, v_lsr: float | None = None,
                 client: Any = None) -> None:
        import ipywidgets as ipw

        self.catalog = catalog
        catalog = self.catalog
        self.browser = CubeBrowser(cubes, catalog=catalog, v_lsr=v_lsr, species=species)
        self.picker = SpeciesPicker(catalog, pixel_observation(self.browser.cubes,
                                                               *self.browser.pixel))
        self.fit_panel = FitPanel(self.browser, self.picker, catalog=catalog, client=client)
        self.comparison = (ComparisonView(self.browser, compare, catalog=catalog)
                           if compare else None)
        self.picker.on_change(self.browser.set_species)
        self.browser.on_pixel(self._pixel_changed)
        if species:
            self.picker.choose(species)
        sections = [
            ipw.HTML("<h3>Cube</h3>"), self.browser.widget,
            ipw.HTML("<h3>Species</h3>"), self.picker.widget,
            ipw.HTML("<h3>Fit</h3>"), self.fit_panel.widget,
        ]
        if self.comparison is not None:
            sections += [ipw.HTML("<h3>Comparison</h3>"), self.comparison.widget]
        self.widget = ipw.VBox(sections)
        self.widget.add_class("spectuner-app")

    def _pixel_changed(self, x: int, y: int) -> None:
        self.picker.set_observation(pixel_observation(self.browser.cubes, x, y))

