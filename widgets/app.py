"""SpectunerApp: the cube browser, species picker, fit panel and comparison view together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .comparison import ComparisonView
from .cube_browser import CubeBrowser
from .display import Component
from .fit_panel import FitPanel
from .identify_panel import IdentifyPanel
from .species_picker import SpeciesPicker

__all__ = ["SpectunerApp"]


class SpectunerApp(Component):
    """Interactive fitting of a cube in one widget.

    The identification panel names the species of the selected pixel or box (engine
    :func:`~spectuner_nb.identification.identify`) and draws them over the spectra; the
    species chosen in the picker are drawn in the browser and fitted by the fit panel;
    the picker's annotations follow the selected pixel.

    Parameters
    ----------
    cubes
        Anything :class:`CubeBrowser` accepts (CubeSet, synthetic cube, cube paths).
    catalog
        Transition cache (default: the user cache).
    species
        Species selected from the start, any spelling the species resolver knows
        ("H2CO", "CH3OH;v=0;", "CH3CH2CN" …).
    compare
        Optional ``{label: source}`` of 2–3 fits for a :class:`ComparisonView`.
    v_lsr
        Systemic velocity (km/s) when loading from paths.
    client
        Dask client for cube fits (None: the engine's LocalCluster).
    """

    def __init__(
        self,
        cubes: Any,
        *,
        catalog: Any = None,
        species: Sequence[str] = (),
        compare: Mapping[str, Any] | None = None,
        v_lsr: float | None = None,
        client: Any = None,
    ) -> None:
        import ipywidgets as ipw

        self.catalog = catalog
        catalog = self.catalog
        self.picker = SpeciesPicker(catalog)
        chosen = [self.picker.resolve(s) for s in species]  # any spelling the resolver knows
        self.browser = CubeBrowser(cubes, catalog=catalog, v_lsr=v_lsr, species=chosen)
        self.picker.set_observation(self.browser.observation())
        self.identify_panel = IdentifyPanel(self.browser, self.picker, catalog=catalog)
        self.fit_panel = FitPanel(self.browser, self.picker, catalog=catalog, client=client)
        self.comparison = (
            ComparisonView(self.browser, compare, catalog=catalog) if compare else None
        )
        self.picker.on_change(self.browser.set_species)
        self.browser.on_selection(self.picker.set_observation)
        if chosen:
            self.picker.choose(chosen)
        sections = [
            ipw.HTML("<h3>Cube</h3>"),
            self.browser.widget,
            ipw.HTML("<h3>Species</h3>"),
            self.identify_panel.widget,
            self.picker.widget,
            ipw.HTML("<h3>Fit</h3>"),
            self.fit_panel.widget,
        ]
        if self.comparison is not None:
            sections += [ipw.HTML("<h3>Comparison</h3>"), self.comparison.widget]
        self.widget = ipw.VBox(sections)
        self.widget.add_class("spectuner-app")
