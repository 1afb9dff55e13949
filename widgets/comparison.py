"""ComparisonView: parameter maps of two or three fits side by side, with difference maps.

Sources are anything :func:`as_parameter_maps` understands: our cube fits
(:class:`~spectuner_nb.cube.results.CubeFitResult`, peak matching or χ²), XCLASS
molfit files (one per pixel) or XCLASS map-fit FITS parameter maps, read by the
engine (:mod:`spectuner_nb.xclass`) into
:class:`~spectuner_nb.parameter_maps.ParameterMaps`. Maps share pan and zoom;
clicking a pixel shows the data and every source's model spectrum (computed by
the engine's LTE model) in the linked
:class:`~spectuner_nb.widgets.cube_browser.CubeBrowser`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spectuner_nb.doppler import rest_frequency
from spectuner_nb.parameter_maps import ParameterMaps
from spectuner_nb.xclass import (
    XCLASS_PARAMETERS,
    find_xclass_maps,
    read_molfit_maps,
    read_xclass_maps,
)

from .cube_browser import CubeBrowser
from .cubes import WidgetInputError
from .display import Component, as_widget, colour_mapper, image_figure, sky_axes

__all__ = [
    "SHOWN",
    "XCLASS_PARAMETERS",
    "ParameterMaps",
    "from_cube_result",
    "from_molfits",
    "from_fits_maps",
    "as_parameter_maps",
    "ComparisonView",
]

SHOWN: tuple[tuple[str, str], ...] = (
    ("log10 N_tot (cm⁻²)", "N_tot"),
    ("T_ex (K)", "T_ex"),
    ("Δv (km/s)", "delta_v"),
    ("v_off (km/s)", "v_off"),
    ("θ (arcsec)", "theta"),
)
# Readers of earlier releases, now in the engine (spectuner_nb.xclass); kept importable here.
from_molfits = read_molfit_maps
from_fits_maps = read_xclass_maps
from_cube_result = ParameterMaps.from_cube_result


def as_parameter_maps(source: Any, label: str) -> ParameterMaps:
    """:class:`ParameterMaps` from ParameterMaps, a CubeFitResult, or a folder of
    XCLASS FITS maps / a saved CubeFitResult folder."""
    if isinstance(source, ParameterMaps):
        return source
    if hasattr(source, "map") and hasattr(source, "species") and hasattr(source, "x"):
        return ParameterMaps.from_cube_result(source, label)
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        folder = Path(source)
        if find_xclass_maps(folder):
            return read_xclass_maps(folder, label)
        from spectuner_nb.cube.results import CubeFitResult

        return ParameterMaps.from_cube_result(CubeFitResult.read(folder), label)
    raise WidgetInputError(f"{label}: cannot read parameter maps from {type(source).__name__}")


class ComparisonView(Component):
    """Side-by-side maps of 2–3 fits, their differences to the first, and pixel spectra.

    Parameters
    ----------
    browser
        The :class:`CubeBrowser` of the data (its spectra get the models overlaid).
    sources
        ``{label: source}``, 2 or 3 entries (see :func:`as_parameter_maps`).
    catalog
        Transition cache for the model spectra (default: the user cache).
    """

    def __init__(
        self, browser: CubeBrowser, sources: Mapping[str, Any], *, catalog: Any = None
    ) -> None:
        import ipywidgets as ipw
        from bokeh.layouts import gridplot
        from bokeh.models import ColumnDataSource, Range1d

        if not 2 <= len(sources) <= 3:
            raise WidgetInputError(f"compare two or three fits, got {len(sources)}")
        self.browser = browser
        self.catalog = catalog
        self.maps = [as_parameter_maps(src, label) for label, src in sources.items()]
        ny, nx = browser.cubes.shape
        for m in self.maps:
            if m.params.shape[:2] != (ny, nx):
                raise WidgetInputError(f"{m.label}: maps are {m.params.shape[:2]}, cube {ny, nx}")
        species = [s for m in self.maps for s in m.species]
        self.species_list = list(dict.fromkeys(species))
        self.species_select = ipw.Dropdown(options=self.species_list, description="species")
        self.parameter_select = ipw.Dropdown(options=SHOWN, value="N_tot", description="parameter")
        self.status = ipw.HTML("")
        self.status.add_class("spectuner-comparison-status")
        x_range, y_range = Range1d(-0.5, nx - 0.5), Range1d(-0.5, ny - 0.5)
        self.sources, self.figures, self._mappers = [], [], []
        panels = [(m.label, f"comparison_{k}") for k, m in enumerate(self.maps)]
        panels += [
            (f"{m.label} − {self.maps[0].label}", f"difference_{k}")
            for k, m in enumerate(self.maps[1:], start=1)
        ]
        from bokeh.events import Tap

        for title, name in panels:
            src = ColumnDataSource({"image": [np.full((ny, nx), np.nan)]}, name=name)
            fig = image_figure(
                ny,
                nx,
                title=title,
                size=260,
                x_range=x_range,
                y_range=y_range,
                name=f"{name}_figure",
            )
            mapper = colour_mapper(np.zeros(1), symmetric=name.startswith("difference"))
            fig.image(image="image", x=-0.5, y=-0.5, dw=nx, dh=ny, source=src, color_mapper=mapper)
            from bokeh.models import ColorBar

            fig.add_layout(ColorBar(color_mapper=mapper, width=8), "right")
            sky_axes(fig, browser.cubes.wcs, ny, nx)
            fig.on_event(Tap, self._on_tap)
            self.sources.append(src)
            self.figures.append(fig)
            self._mappers.append(mapper)
        n = len(self.maps)
        grid = gridplot([self.figures[:n], self.figures[n:]], toolbar_location="right")
        self.pixel: tuple[int, int] | None = None
        self._n_curves = 0
        self.redraw()  # before wrapping: the first render bundle carries the maps
        self.maps_widget = as_widget(grid)
        self.species_select.observe(lambda _c: self.redraw(), names="value")
        self.parameter_select.observe(lambda _c: self.redraw(), names="value")
        browser.on_pixel(lambda x, y: self.show_pixel(x, y))
        self.widget = ipw.VBox(
            [ipw.HBox([self.species_select, self.parameter_select]), self.maps_widget, self.status]
        )
        self.widget.add_class("spectuner-comparison")

    def images(self) -> list[np.ndarray]:
        """The maps on display: one per source, then source k − source 0 for k ≥ 1."""
        species, par = self.species_select.value, self.parameter_select.value
        maps = [m.map(species, par) for m in self.maps]
        if par == "N_tot":
            with np.errstate(all="ignore"):
                maps = [np.log10(m) for m in maps]
        return maps + [m - maps[0] for m in maps[1:]]

    def redraw(self) -> None:
        """Recompute the maps (and the status line) for the chosen species and parameter."""
        images = self.images()
        n = len(self.maps)
        finite = np.concatenate([im[np.isfinite(im)] for im in images[:n]] or [np.zeros(0)])
        shared = colour_mapper(finite if finite.size else np.zeros(1))
        for k, (src, image) in enumerate(zip(self.sources, images, strict=True)):
            src.data = {"image": [image]}
            fresh = shared if k < n else colour_mapper(image, symmetric=True)
            self._mappers[k].low, self._mappers[k].high = fresh.low, fresh.high
        self.status.value = self._status_text()

    def _status_text(self) -> str:
        species, par = self.species_select.value, self.parameter_select.value
        if self.pixel is None:
            return f"{species} {par}: click a pixel to compare the fits there"
        x, y = self.pixel
        values = "; ".join(f"{m.label}: {m.map(species, par)[y, x]:.4g}" for m in self.maps)
        return (
            f"pixel ({x}, {y}) {species} {par}: {values} — {self._n_curves} model spectra overlaid"
        )

    def _on_tap(self, event: Any) -> None:
        if event.x is None or event.y is None:
            return
        ny, nx = self.browser.cubes.shape
        x, y = int(round(event.x)), int(round(event.y))
        if 0 <= x < nx and 0 <= y < ny:
            self.browser.select_pixel(x, y)

    def model_curves(self, x: int, y: int) -> tuple[list[np.ndarray], dict[str, list]]:
        """Sky frequencies (MHz) per window and each source's model spectra (K) at (x, y)."""
        from spectuner_nb.cube.modelcube import model_spectra

        cubes = self.browser.cubes
        freqs = [w.freq_mhz for w in cubes.windows]
        rest = [rest_frequency(f, cubes.v_lsr) for f in freqs]
        windows = [(float(f[0]), float(f[-1])) for f in rest]
        lines = [self.catalog.lines(s, windows) for s in self.species_list]
        t_bg = cubes.t_background(np.array([y]), np.array([x]))
        curves = {}
        for m in self.maps:
            params = m.pixel_params(x, y, self.species_list)
            present = np.all(np.isfinite(params), axis=1)
            if not present.any():
                continue
            spectra = model_spectra(
                rest,
                [ll for ll, ok in zip(lines, present, strict=True) if ok],
                cubes.beam_arcsec,
                params[present][None],
                t_bg,
            )
            curves[m.label] = [s[0] for s in spectra]
        return freqs, curves

    def show_pixel(self, x: int, y: int) -> None:
        """Overlay every source's model at pixel (x, y) on the browser's spectra."""
        freqs, curves = self.model_curves(x, y)
        self.browser.show_overlays(freqs, curves)
        self.pixel, self._n_curves = (int(x), int(y)), len(curves)
        self.status.value = self._status_text()
