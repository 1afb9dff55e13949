"""ComparisonView: parameter maps of two or three fits side by side, with difference maps.

Sources are anything :func:`as_parameter_maps` understands: our cube fits
(:class:`~spectuner_nb.cube.results.CubeFitResult`, peak matching or χ²), XCLASS
molfit files (one per pixel) or XCLASS map-fit FITS parameter maps. Maps share
pan and zoom; clicking a pixel shows the data and every source's model spectrum
(computed by the engine's LTE model) in the linked
:class:`~spectuner_nb.widgets.cube_browser.CubeBrowser`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spectuner_nb.constants import C_KM_S
from spectuner_nb.parameters import N_PARAMS, PHYSICAL_NAMES

from .cube_browser import CubeBrowser
from .cubes import WidgetInputError
from .display import Component, as_widget, colour_mapper, image_figure

__all__ = [
    "SHOWN", "XCLASS_PARAMETERS", "ParameterMaps", "from_cube_result", "from_molfits",
    "from_fits_maps", "as_parameter_maps", "ComparisonView",
]

SHOWN: tuple[tuple[str, str], ...] = (
    ("log10 N_tot (cm⁻²)", "N_tot"), ("T_ex (K)", "T_ex"), ("Δv (km/s)", "delta_v"),
    ("v_off (km/s)", "v_off"), ("θ (arcsec)", "theta"),
)
XCLASS_PARAMETERS: dict[str, str] = {
    "source_size": "theta", "t_rot": "T_ex", "n_tot": "N_tot", "v_width_gauss": "delta_v",
    "v_width": "delta_v", "v_off": "v_off",
}
"""XCLASS parameter names (lower case) → ours."""
_XCLASS_MAP_NAME = re.compile(
    r"parameter__(?P<par>[A-Za-z_]+?)___molecule__(?P<mol>.+?)___component__(?P<comp>\d+)",
)


@dataclass
class ParameterMaps:
    """Physical parameter maps of one fit of a cube.

    Attributes
    ----------
    label
        Name shown above the maps (e.g. "PM fit", "χ² fit", "XCLASS").
    species
        Canonical species names, in the order of the species axis.
    params
        (ny, nx, n_species, 5): θ (arcsec), T_ex (K), N_tot (cm⁻²), Δv (km/s),
        v_off (km/s); NaN where the source has no value.
    """

    label: str
    species: list[str]
    params: np.ndarray

    def map(self, species: str, parameter: str) -> np.ndarray:
        """(ny, nx) map of ``parameter`` (one of PHYSICAL_NAMES); NaN if the species is absent."""
        if species not in self.species:
            return np.full(self.params.shape[:2], np.nan)
        return self.params[:, :, self.species.index(species), PHYSICAL_NAMES.index(parameter)]

    def pixel_params(self, x: int, y: int, species: list[str]) -> np.ndarray:
        """(n_species, 5) physical parameters of pixel (x, y) for ``species`` (NaN if absent)."""
        out = np.full((len(species), N_PARAMS), np.nan)
        for k, name in enumerate(species):
            if name in self.species:
                out[k] = self.params[y, x, self.species.index(name)]
        return out


def _canonical(name: str) -> str:
    from spectuner_nb.catalog.names import resolve

    return resolve(name)


def from_cube_result(result: Any, label: str) -> ParameterMaps:
    """Maps of a :class:`~spectuner_nb.cube.results.CubeFitResult` (engine ``map``)."""
    species = list(result.species)
    params = np.stack([np.stack([result.map(s, p) for p in PHYSICAL_NAMES], axis=-1)
                       for s in species], axis=2)
    return ParameterMaps(label, [_canonical(s) for s in species], params)


def from_molfits(files: Mapping[tuple[int, int], str | Path], shape: tuple[int, int],
                 label: str = "XCLASS") -> ParameterMaps:
    """Maps from one XCLASS molfit file per pixel: ``{(x, y): path}``; first component used."""
    from spectuner_nb.xclass import read_molfit

    per_pixel = {xy: read_molfit(path) for xy, path in files.items()}
    species: list[str] = []
    for molfit in per_pixel.values():
        species += [s for s in map(_canonical, molfit.species) if s not in species]
    params = np.full(tuple(shape) + (len(species), N_PARAMS), np.nan)
    for (x, y), molfit in per_pixel.items():
        for entry in molfit.entries:
            values = entry.params()
            if values.size:
                params[y, x, species.index(_canonical(entry.species))] = values[0]
    return ParameterMaps(label, species, params)


def from_fits_maps(files: Mapping[tuple[str, str], str | Path] | str | Path,
                   label: str = "XCLASS") -> ParameterMaps:
    """Maps from FITS images: ``{(species, parameter): path}`` with our parameter names, or a
    folder of XCLASS map-fit results named ``…parameter__<P>___molecule__<M>___component__1…``
    (P among :data:`XCLASS_PARAMETERS`; N_tot maps may hold log10 values: > 100 means linear)."""
    from astropy.io import fits

    if isinstance(files, (str, Path)):
        found: dict[tuple[str, str], Path] = {}
        for path in sorted(Path(files).glob("*.fits")):
            match = _XCLASS_MAP_NAME.search(path.name)
            if match and match["comp"] == "1":
                par = XCLASS_PARAMETERS.get(match["par"].lower())
                if par:  # file names spell the XCLASS name "CH3OH;v=0;" as "CH3OH_v=0"
                    found[(match["mol"].replace("_", ";") + ";", par)] = path
        if not found:
            raise WidgetInputError(f"no XCLASS parameter maps found in {files}")
        files = found
    species: list[str] = []
    images: dict[tuple[str, str], np.ndarray] = {}
    for (name, par), path in files.items():
        if par not in PHYSICAL_NAMES:
            raise WidgetInputError(f"{path}: unknown parameter {par!r}; one of {PHYSICAL_NAMES}")
        canon = _canonical(name)
        species += [canon] if canon not in species else []
        data = np.squeeze(np.asarray(fits.getdata(path), dtype=float))
        if par == "N_tot" and np.nanmax(data) < 100.0:
            data = 10.0**data
        images[(canon, par)] = data
    shape = next(iter(images.values())).shape
    params = np.full(shape + (len(species), N_PARAMS), np.nan)
    for (canon, par), data in images.items():
        params[:, :, species.index(canon), PHYSICAL_NAMES.index(par)] = data
    return ParameterMaps(label, species, params)


def as_parameter_maps(source: Any, label: str) -> ParameterMaps:
    """:class:`ParameterMaps` from ParameterMaps, a CubeFitResult, or a folder of
    XCLASS FITS maps / a saved CubeFitResult folder."""
    if isinstance(source, ParameterMaps):
        return source
    if hasattr(source, "map") and hasattr(source, "species") and hasattr(source, "x"):
        return from_cube_result(source, label)
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        folder = Path(source)
        if any(_XCLASS_MAP_NAME.search(p.name) for p in folder.glob("*.fits")):
            return from_fits_maps(folder, label)
        from spectuner_nb.cube.results import CubeFitResult

        return from_cube_result(CubeFitResult.read(folder), label)
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

    def __init__(self, browser: CubeBrowser, sources: Mapping[str, Any], *,
                 catalog: Any = None) -> None:
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
        self.parameter_select = ipw.Dropdown(options=SHOWN, value="N_tot",
                                             description="parameter")
        self.status = ipw.HTML("")
        self.status.add_class("spectuner-comparison-status")
        x_range, y_range = Range1d(-0.5, nx - 0.5), Range1d(-0.5, ny - 0.5)
        self.sources, self.figures, self._mappers = [], [], []
        panels = [(m.label, f"comparison_{k}") for k, m in enumerate(self.maps)]
        panels += [(f"{m.label} − {self.maps[0].label}", f"difference_{k}")
                   for k, m in enumerate(self.maps[1:], start=1)]
        from bokeh.events import Tap

        for title, name in panels:
            src = ColumnDataSource({"image": [np.full((ny, nx), np.nan)]}, name=name)
            fig = image_figure(ny, nx, title=title, size=260, x_range=x_range, y_range=y_range,
                               name=f"{name}_figure")
            mapper = colour_mapper(np.zeros(1), symmetric=name.startswith("difference"))
            fig.image(image="image", x=-0.5, y=-0.5, dw=nx, dh=ny, source=src,
                      color_mapper=mapper)
            from bokeh.models import ColorBar

            fig.add_layout(ColorBar(color_mapper=mapper, width=8), "right")
            fig.on_event(Tap, self._on_tap)
            self.sources.append(src)
            self.figures.append(fig)
            self._mappers.append(mapper)
        n = len(self.maps)
        grid = gridplot([self.figures[:n], self.figures[n:]], toolbar_location="right")
        self.redraw()  # before wrapping: the first render bundle carries the maps
        self.maps_widget = as_widget(grid)
        self.species_select.observe(lambda _c: self.redraw(), names="value")
        self.parameter_select.observe(lambda _c: self.redraw(), names="value")
        browser.on_pixel(lambda x, y: self.show_pixel(x, y))
        self.widget = ipw.VBox([ipw.HBox([self.species_select, self.parameter_select]),
                                self.maps_widget, self.status])
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
        """Recompute the maps for the chosen species and parameter."""
        images = self.images()
        n = len(self.maps)
        finite = np.concatenate([im[np.isfinite(im)] for im in images[:n]] or [np.zeros(0)])
        shared = colour_mapper(finite if finite.size else np.zeros(1))
        for k, (src, image) in enumerate(zip(self.sources, images, strict=True)):
            src.data = {"image": [image]}
            fresh = shared if k < n else colour_mapper(image, symmetric=True)
            self._mappers[k].low, self._mappers[k].high = fresh.low, fresh.high

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
        rest = [f / (1.0 - cubes.v_lsr / C_KM_S) for f in freqs]
        windows = [(float(f[0]), float(f[-1])) for f in rest]
        lines = [self.catalog.lines(s, windows) for s in self.species_list]
        t_bg = cubes.t_background(np.array([y]), np.array([x]))
        curves = {}
        for m in self.maps:
            params = m.pixel_params(x, y, self.species_list)
            present = np.all(np.isfinite(params), axis=1)
            if not present.any():
                continue
            spectra = model_spectra(rest, [ll for ll, ok in zip(lines, present, strict=True)
                                           if ok], cubes.beam_arcsec, params[present][None],
                                    t_bg)
            curves[m.label] = [s[0] for s in spectra]
        return freqs, curves

    def show_pixel(self, x: int, y: int) -> None:
        """Overlay every source's model at pixel (x, y) on the browser's spectra."""
        freqs, curves = self.model_curves(x, y)
        self.browser.show_overlays(freqs, curves)
        values = []
        species, par = self.species_select.value, self.parameter_select.value
        for m in self.maps:
            v = m.map(species, par)[y, x]
            values.append(f"{m.label}: {v:.4g}")
        self.status.value = (f"pixel ({x}, {y}) {species} {par}: " + "; ".join(values)
                             + f" — {len(curves)} model spectra overlaid")
