"""CubeBrowser: a map of the cube, a channel slider, and the spectra of a clicked pixel.

Click a pixel of the map to show its spectrum in every window; switch the
spectral axis between frequency and radio velocity; overlay the catalog line
positions of chosen species (from the engine's transition cache).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from spectuner_nb.constants import C_KM_S

from .cubes import WidgetInputError, as_cubeset, moment0_map, peak_map, pixel_spectra, window_name
from .display import (
    SPECTRUM_COLOURS,
    Component,
    as_widget,
    colour_mapper,
    image_figure,
    spectrum_figure,
)

__all__ = ["MAP_KINDS", "AXES", "observed_frequency", "radio_velocity", "CubeBrowser"]

MAP_KINDS: tuple[str, ...] = ("peak", "moment 0", "channel")
AXES: tuple[str, ...] = ("frequency", "velocity")


def observed_frequency(rest_mhz: np.ndarray, v_lsr_kms: float) -> np.ndarray:
    """Sky frequency (MHz) of rest frequencies for a source at radio velocity v_lsr (km/s)."""
    return np.asarray(rest_mhz, dtype=float) * (1.0 - v_lsr_kms / C_KM_S)


def radio_velocity(freq_mhz: np.ndarray, ref_mhz: float) -> np.ndarray:
    """Radio velocity (km/s) of frequencies relative to a reference frequency (MHz)."""
    return C_KM_S * (1.0 - np.asarray(freq_mhz, dtype=float) / ref_mhz)


class CubeBrowser(Component):
    """Browse one or more spectral windows of a cube.

    Parameters
    ----------
    cubes
        A :class:`~spectuner_nb.cube.load.CubeSet` (from
        :func:`spectuner_nb.cube.load.load_cubes`), a synthetic cube, or FITS/CASA
        paths (one per window, on one pixel grid).
    catalog
        Transition cache for line overlays; default
        :func:`spectuner_nb.catalog.default_cache` (opened on first use).
    v_lsr
        Source velocity (km/s) when loading from paths; a CubeSet brings its own.
    species
        Species whose lines are drawn from the start.
    """

    def __init__(self, cubes: Any, *, catalog: Any = None, v_lsr: float | None = None,
                 species: Sequence[str] = ()) -> None:
        import ipywidgets as ipw
        from bokeh.models import ColumnDataSource, Range1d

        self.cubes = as_cubeset(cubes, v_lsr)
        self.windows = self.cubes.windows
        self.names = [window_name(w, i) for i, w in enumerate(self.windows)]
        self.v_lsr = float(self.cubes.v_lsr)
        self.catalog = catalog
        self._pixel_callbacks: list[Callable[[int, int], None]] = []
        self.species: list[str] = []
        self._line_cache: dict[str, np.ndarray] = {}
        ny, nx = self.cubes.shape
        self.pixel: tuple[int, int] = self._brightest_pixel()

        # --- map
        self.map_source = ColumnDataSource({"image": [peak_map(self.windows[0])]},
                                           name="map_image")
        self.marker_source = ColumnDataSource({"x": [self.pixel[0]], "y": [self.pixel[1]]},
                                              name="map_marker")
        self.map_figure = image_figure(ny, nx, title="peak intensity (K)", name="cube_map")
        self._mapper = colour_mapper(self.map_source.data["image"][0])
        self.map_figure.image(image="image", x=-0.5, y=-0.5, dw=nx, dh=ny,
                              source=self.map_source, color_mapper=self._mapper)
        self.map_figure.scatter("x", "y", source=self.marker_source, marker="square_x",
                                size=14, fill_alpha=0.0, line_color="white", line_width=2)
        from bokeh.events import Tap
        from bokeh.models import ColorBar

        self.map_figure.add_layout(ColorBar(color_mapper=self._mapper, width=8), "right")
        self.map_figure.on_event(Tap, self._on_tap)

        # --- spectra: one figure per window; linked y, and linked x in velocity
        self._y_range = Range1d(0.0, 1.0)
        self._velocity_range = Range1d(-30.0, 30.0)
        self.spectrum_figures: list[Any] = []
        self.spectrum_sources: list[Any] = []
        self.model_sources: list[Any] = []
        self.overlay_sources: list[Any] = []
        self.line_sources: list[Any] = []
        for i, (win, spec) in enumerate(zip(self.windows, self.pixel_spectra(), strict=True)):
            fmin, fmax = win.freq_range_mhz
            fig = spectrum_figure(title=self.names[i], x_range=Range1d(fmin, fmax),
                                  y_range=self._y_range)
            src = ColumnDataSource({"x": win.freq_mhz, "y": spec}, name=f"spectrum_{i}")
            fig.step("x", "y", source=src, mode="center", color="black", line_width=1.2,
                     legend_label="data")
            model = ColumnDataSource({"x": [], "y": []}, name=f"model_{i}")
            fig.line("x", "y", source=model, color=SPECTRUM_COLOURS[1], line_width=1.8,
                     legend_label="model")
            overlay = ColumnDataSource({"xs": [], "ys": [], "colour": [], "label": []},
                                       name=f"overlay_{i}")
            fig.multi_line("xs", "ys", source=overlay, color="colour", line_width=1.5)
            lines = ColumnDataSource({"x": [], "y0": [], "y1": [], "colour": [], "label": [],
                                      "freq": []},
                                     name=f"lines_{i}")
            fig.segment(x0="x", x1="x", y0="y0", y1="y1", source=lines, color="colour",
                        line_width=1.5, line_dash="dashed")
            fig.legend.location = "top_right"
            fig.legend.click_policy = "hide"
            self.spectrum_figures.append(fig)
            self.spectrum_sources.append(src)
            self.model_sources.append(model)
            self.overlay_sources.append(overlay)
            self.line_sources.append(lines)
        self._frequency_ranges = [f.x_range for f in self.spectrum_figures]
        self.axis = "frequency"
        self._rescale_y()

        # --- controls
        self.kind_buttons = ipw.ToggleButtons(options=MAP_KINDS, value="peak",
                                              description="map")
        self.window_select = ipw.Dropdown(options=[(n, i) for i, n in
                                                   enumerate(self.names)], value=0,
                                          description="window")
        n_chan = self.windows[0].n_chan
        self.channel_slider = ipw.IntSlider(value=n_chan // 2, min=0, max=n_chan - 1,
                                            description="channel", continuous_update=False)
        self.axis_buttons = ipw.ToggleButtons(options=AXES, value="frequency",
                                              description="axis")
        self.status = ipw.HTML(self._status_text())
        self.status.add_class("spectuner-pixel-status")
        for control in (self.kind_buttons, self.window_select, self.channel_slider):
            control.observe(lambda _change: self._redraw_map(), names="value")
        self.axis_buttons.observe(lambda change: self.set_axis(change["new"]), names="value")

        if species:  # before wrapping: the first render bundle carries the lines
            self.set_species(species)
        from bokeh.layouts import column

        self.map_widget = as_widget(self.map_figure)
        self.spectra_widget = as_widget(column(*self.spectrum_figures))
        self.widget = ipw.VBox([
            ipw.HBox([self.kind_buttons, self.window_select]),
            self.channel_slider,
            ipw.HBox([self.map_widget, ipw.VBox([self.axis_buttons, self.status,
                                                 self.spectra_widget])]),
        ])
        self.widget.add_class("spectuner-cube-browser")

    # ------------------------------------------------------------------ pixels
    def _brightest_pixel(self) -> tuple[int, int]:
        peak = peak_map(self.windows[0])
        if not np.any(np.isfinite(peak)):
            return 0, 0
        y, x = np.unravel_index(int(np.nanargmax(peak)), peak.shape)
        return int(x), int(y)

    def on_pixel(self, callback: Callable[[int, int], None]) -> None:
        """Call ``callback(x, y)`` whenever the selected pixel changes."""
        self._pixel_callbacks.append(callback)

    def _on_tap(self, event: Any) -> None:
        if event.x is None or event.y is None:
            return
        ny, nx = self.cubes.shape
        x, y = int(round(event.x)), int(round(event.y))
        if 0 <= x < nx and 0 <= y < ny:
            self.select_pixel(x, y)

    def select_pixel(self, x: int, y: int) -> None:
        """Show the spectra of pixel (x, y) in every window and notify listeners."""
        spectra = pixel_spectra(self.cubes, int(x), int(y))
        self.pixel = (int(x), int(y))
        self.marker_source.data = {"x": [self.pixel[0]], "y": [self.pixel[1]]}
        for i, spec in enumerate(spectra):
            self.spectrum_sources[i].data = {"x": self._axis_values(i, self.windows[i].freq_mhz),
                                             "y": spec}
        for model in self.model_sources:
            model.data = {"x": [], "y": []}
        for overlay in self.overlay_sources:
            overlay.data = {"xs": [], "ys": [], "colour": [], "label": []}
        self._rescale_y()
        self._draw_lines()
        self.status.value = self._status_text()
        for callback in self._pixel_callbacks:
            callback(*self.pixel)

    def pixel_spectra(self) -> list[np.ndarray]:
        """Spectra (K) of the selected pixel, one per window."""
        return pixel_spectra(self.cubes, *self.pixel)

    def _status_text(self) -> str:
        x, y = self.pixel
        peak = max(float(np.nanmax(s)) if np.any(np.isfinite(s)) else float("nan")
                   for s in self.pixel_spectra())
        return f"<b>pixel ({x}, {y})</b> — peak {peak:.2f} K"

    def _rescale_y(self) -> None:
        values = [np.asarray(s.data["y"], dtype=float) for s in self.spectrum_sources]
        values += [np.asarray(m.data["y"], dtype=float) for m in self.model_sources]
        finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.zeros(0)
        if finite.size == 0:
            return
        low, high = float(finite.min()), float(finite.max())
        pad = 0.05 * (high - low or 1.0)
        self._y_range.start, self._y_range.end = low - pad, high + pad

    # ------------------------------------------------------------------ map
    def current_map(self) -> np.ndarray:
        """The map on display (K or K MHz), shape (ny, nx)."""
        win = self.windows[self.window_select.value]
        kind = self.kind_buttons.value
        if kind == "peak":
            return peak_map(win)
        if kind == "moment 0":
            return moment0_map(win)
        return np.asarray(win.data[min(self.channel_slider.value, win.n_chan - 1)], dtype=float)

    def _redraw_map(self) -> None:
        win = self.windows[self.window_select.value]
        self.channel_slider.max = win.n_chan - 1
        image = self.current_map()
        self.map_source.data = {"image": [image]}
        fresh = colour_mapper(image)
        self._mapper.low, self._mapper.high = fresh.low, fresh.high
        kind = self.kind_buttons.value
        if kind == "channel":
            chan = min(self.channel_slider.value, win.n_chan - 1)
            self.map_figure.title.text = f"channel {chan}: {win.freq_mhz[chan]:.2f} MHz (K)"
        else:
            unit = "K" if kind == "peak" else "K km/s"
            self.map_figure.title.text = f"{self.names[self.window_select.value]} {kind} ({unit})"

    # ------------------------------------------------------------------ axis
    def reference_frequency(self, index: int) -> float:
        """Rest frame reference (MHz, on the sky axis) for the velocity axis of window ``index``:
        the chosen species' line nearest the window centre, else the centre."""
        fmin, fmax = self.windows[index].freq_range_mhz
        centre = 0.5 * (fmin + fmax)
        freqs = self._window_line_freqs(index)
        if freqs.size:
            return float(freqs[np.argmin(np.abs(freqs - centre))])
        return centre

    def _axis_values(self, index: int, freq: np.ndarray) -> np.ndarray:
        freq = np.asarray(freq, dtype=float)
        if self.axis == "velocity":
            return radio_velocity(freq, self.reference_frequency(index))
        return freq

    def set_axis(self, axis: str) -> None:
        """Show spectra against ``"frequency"`` (MHz) or ``"velocity"`` (km/s, radio)."""
        if axis not in AXES:
            raise WidgetInputError(f"axis must be one of {AXES}, got {axis!r}")
        self.axis = axis
        if self.axis_buttons.value != axis:
            self.axis_buttons.value = axis
            return
        for i, fig in enumerate(self.spectrum_figures):
            if axis == "velocity":
                fig.x_range = self._velocity_range
                fig.xaxis.axis_label = (f"v (km/s) rel. {self.reference_frequency(i):.3f} MHz")
            else:
                fig.x_range = self._frequency_ranges[i]
                fig.xaxis.axis_label = "frequency (MHz)"
        self._replot_x()

    def _replot_x(self) -> None:
        for i, win in enumerate(self.windows):
            src = self.spectrum_sources[i]
            src.data = {"x": self._axis_values(i, win.freq_mhz), "y": src.data["y"]}
            model = self.model_sources[i]
            if len(model.data["x"]):
                model.data = dict(model.data, x=self._axis_values(i, model.data["freq"]))
            overlay = self.overlay_sources[i]
            if len(overlay.data["xs"]):
                overlay.data = dict(overlay.data, xs=[self._axis_values(i, f)
                                                      for f in overlay.data["freqs"]])
        self._draw_lines()

    # ------------------------------------------------------------------ overlays
    def set_species(self, species: Sequence[str]) -> None:
        """Draw catalog line positions of ``species`` (names the catalog resolves)."""
        self.species = list(species)
        self._line_cache = {}
        for name in self.species:
            scale = 1.0 - self.v_lsr / C_KM_S  # sky = rest × scale
            windows = [(lo / scale, hi / scale) for lo, hi in
                       (w.freq_range_mhz for w in self.windows)]
            linelist = self.catalog.lines(name, windows=windows, pad_kms=0.0)
            self._line_cache[name] = observed_frequency(linelist.freq, self.v_lsr)
        self._draw_lines()

    def _window_line_freqs(self, index: int) -> np.ndarray:
        """Sky frequencies (MHz) of the chosen species' lines inside window ``index``."""
        fmin, fmax = self.windows[index].freq_range_mhz
        freqs = [f[(f >= fmin) & (f <= fmax)] for f in self._line_cache.values()]
        return np.concatenate(freqs) if freqs else np.zeros(0)

    def _draw_lines(self) -> None:
        top = self._y_range.end
        for i, win in enumerate(self.windows):
            fmin, fmax = win.freq_range_mhz
            data: dict[str, list] = {"freq": [], "colour": [], "label": []}
            for k, name in enumerate(self.species):
                freqs = self._line_cache.get(name, np.zeros(0))
                inside = freqs[(freqs >= fmin) & (freqs <= fmax)]
                data["freq"] += [float(f) for f in inside]
                data["label"] += [name] * inside.size
                data["colour"] += [SPECTRUM_COLOURS[(k + 2) % len(SPECTRUM_COLOURS)]] * inside.size
            n = len(data["freq"])
            x = self._axis_values(i, np.asarray(data["freq"], dtype=float))
            self.line_sources[i].data = dict(data, x=list(x), y0=[0.0] * n, y1=[top] * n)

    def _segments_per_window(self, freqs: Sequence[np.ndarray], spectra: Sequence[np.ndarray]
                             ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Join spectral segments (MHz, K) into one NaN-separated curve per window."""
        out = []
        for win in self.windows:
            lo, hi = win.freq_range_mhz
            f_parts, y_parts = [], []
            for f, y in zip(freqs, spectra, strict=True):
                f = np.asarray(f, dtype=float)
                if f.size and lo <= float(np.median(f)) <= hi:
                    f_parts += [f, [np.nan]]
                    y_parts += [np.asarray(y, dtype=float), [np.nan]]
            out.append((np.concatenate(f_parts) if f_parts else np.zeros(0),
                        np.concatenate(y_parts) if y_parts else np.zeros(0)))
        return out

    def show_model(self, freqs: Sequence[np.ndarray], spectra: Sequence[np.ndarray]) -> None:
        """Draw a model: segments of sky frequency (MHz) and intensity (K), e.g. the windows
        of a fitted :class:`~spectuner_nb.observation.Observation` and its model spectra."""
        for i, (f, y) in enumerate(self._segments_per_window(freqs, spectra)):
            self.model_sources[i].data = {"x": self._axis_values(i, f), "y": y, "freq": f}
        self._rescale_y()

    def show_overlays(self, freqs: Sequence[np.ndarray],
                      curves: dict[str, Sequence[np.ndarray]]) -> None:
        """Draw several labelled model spectra over the data: ``curves[label]`` holds one
        intensity array (K) per segment of ``freqs`` (sky frequency, MHz)."""
        per_label = {lab: self._segments_per_window(freqs, ys) for lab, ys in curves.items()}
        labels = list(curves)
        for i in range(len(self.windows)):
            fs = [per_label[lab][i][0] for lab in labels]
            self.overlay_sources[i].data = {
                "xs": [self._axis_values(i, f) for f in fs],
                "ys": [per_label[lab][i][1] for lab in labels],
                "freqs": fs,
                "colour": [SPECTRUM_COLOURS[(k + 3) % len(SPECTRUM_COLOURS)]
                           for k in range(len(labels))],
                "label": labels,
            }
