"""CubeBrowser: a sky map of the cube, a channel slider, and the spectra of a pixel or a box.

Click a pixel of the map (or drag a box with the box-select tool) to show its
spectrum (the box mean) in every window; switch the spectral axis between
frequency and radio velocity relative to a chosen rest frequency (a line of the
chosen species, the window centre, or a typed value); show K or Jy/beam;
overlay the catalog lines of chosen species. Maps, averages, units and
velocities are computed by :mod:`spectuner_nb.cube.maps`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from spectuner_nb.cube.maps import (
    BRIGHTNESS_UNITS,
    brightness_factor,
    channel_map,
    moment0_map,
    peak_map,
)
from spectuner_nb.doppler import radio_velocity, rest_frequency, sky_frequency

from .cubes import (
    WidgetInputError,
    as_cubeset,
    box_label,
    box_observation,
    pixel_observation,
    window_name,
)
from .display import (
    SPECTRUM_COLOURS,
    Component,
    as_widget,
    colour_mapper,
    draw_beam,
    image_figure,
    sky_axes,
    spectrum_figure,
)

MAP_KINDS: tuple[str, ...] = ("peak", "moment 0", "channel")
AXES: tuple[str, ...] = ("frequency", "velocity")
__all__ = [
    "AXES",
    "MAP_KINDS",
    "CubeBrowser",
    "observed_frequency",
    "radio_velocity",
    "sky_frequency",
]
observed_frequency = sky_frequency  # the name of earlier releases


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

    def __init__(
        self,
        cubes: Any,
        *,
        catalog: Any = None,
        v_lsr: float | None = None,
        species: Sequence[str] = (),
    ) -> None:
        import ipywidgets as ipw
        from bokeh.events import SelectionGeometry, Tap
        from bokeh.models import (
            BoxSelectTool,
            ColorBar,
            ColumnDataSource,
            HoverTool,
            Range1d,
            Span,
        )

        self.cubes = as_cubeset(cubes, v_lsr)
        self.windows = self.cubes.windows
        self.names = [window_name(w, i) for i, w in enumerate(self.windows)]
        self.v_lsr = float(self.cubes.v_lsr)
        self.catalog = catalog
        self._pixel_callbacks: list[Callable[[int, int], None]] = []
        self._selection_callbacks: list[Callable[[Any], None]] = []
        self._redraw_callbacks: list[Callable[[], None]] = []
        self.colours: dict[str, str] = {}  # see set_colours
        self.species: list[str] = []
        self._lines: dict[str, Any] = {}
        self._model: tuple[list, list] | None = None
        self._overlays: tuple[list, dict] | None = None
        self.box: tuple[int, int, int, int] | None = None
        self._setting_options = False
        self.axis = "frequency"
        self.unit = "K"
        self.rest_mhz = [self._centre_rest(i) for i in range(len(self.windows))]
        ny, nx = self.cubes.shape
        self.pixel: tuple[int, int] = self._brightest_pixel()
        self._spectra = self._selected_spectra()

        # --- map
        self.map_source = ColumnDataSource({"image": [peak_map(self.windows[0])]}, name="map_image")
        self.marker_source = ColumnDataSource(
            {"x": [self.pixel[0]], "y": [self.pixel[1]]}, name="map_marker"
        )
        self.box_source = ColumnDataSource(
            {"left": [], "right": [], "bottom": [], "top": []}, name="map_box"
        )
        self.map_figure = image_figure(ny, nx, title="peak intensity (K)", name="cube_map")
        self._mapper = colour_mapper(self.map_source.data["image"][0])
        image = self.map_figure.image(
            image="image",
            x=-0.5,
            y=-0.5,
            dw=nx,
            dh=ny,
            source=self.map_source,
            color_mapper=self._mapper,
        )
        self.map_figure.scatter(
            "x",
            "y",
            source=self.marker_source,
            marker="square_x",
            size=14,
            fill_alpha=0.0,
            line_color="white",
            line_width=2,
        )
        self.map_figure.quad(
            left="left",
            right="right",
            bottom="bottom",
            top="top",
            source=self.box_source,
            fill_alpha=0.0,
            line_color="white",
            line_dash="dashed",
            line_width=2,
        )
        self.map_figure.add_tools(
            BoxSelectTool(),
            HoverTool(
                renderers=[image], tooltips=[("pixel", "($x{0}, $y{0})"), ("value", "@image")]
            ),
        )
        sky_axes(self.map_figure, self.cubes.wcs, ny, nx)
        draw_beam(
            self.map_figure, self.cubes.wcs, tuple(np.median(self.windows[0].beams, axis=0)), ny, nx
        )
        self.map_colour_bar = ColorBar(color_mapper=self._mapper, width=8)
        self.map_figure.add_layout(self.map_colour_bar, "right")
        self.map_figure.on_event(Tap, self._on_tap)
        self.map_figure.on_event(SelectionGeometry, self._on_box)

        # --- spectra: one figure per window, linked y
        self._y_range = Range1d(0.0, 1.0)
        self._x_ranges = [Range1d(*w.freq_range_mhz) for w in self.windows]
        self.spectrum_figures: list[Any] = []
        self.spectrum_sources: list[Any] = []
        self.model_sources: list[Any] = []
        self.overlay_sources: list[Any] = []
        self.line_sources: list[Any] = []
        self.channel_markers: list[Any] = []
        for i in range(len(self.windows)):
            fig = spectrum_figure(
                title=self.names[i],
                name=f"spectrum_figure_{i}",
                x_range=self._x_ranges[i],
                y_range=self._y_range,
            )
            src = ColumnDataSource({"x": [], "y": [], "freq": []}, name=f"spectrum_{i}")
            fig.step(
                "x",
                "y",
                source=src,
                mode="center",
                color="black",
                line_width=1.2,
                legend_label="data",
            )
            model = ColumnDataSource({"x": [], "y": [], "freq": []}, name=f"model_{i}")
            fig.line(
                "x",
                "y",
                source=model,
                color=SPECTRUM_COLOURS[1],
                line_width=1.8,
                legend_label="model",
            )
            overlay = ColumnDataSource(
                {"xs": [], "ys": [], "freqs": [], "colour": [], "label": []}, name=f"overlay_{i}"
            )
            fig.multi_line("xs", "ys", source=overlay, color="colour", line_width=1.5)
            lines = ColumnDataSource(
                {
                    "x": [],
                    "y0": [],
                    "y1": [],
                    "colour": [],
                    "label": [],
                    "freq": [],
                    "rest": [],
                    "qn": [],
                    "E_up": [],
                    "A_ul": [],
                },
                name=f"lines_{i}",
            )
            segments = fig.segment(
                x0="x",
                x1="x",
                y0="y0",
                y1="y1",
                source=lines,
                color="colour",
                line_width=1.5,
                line_dash="dashed",
                legend_field="label",
            )
            fig.add_tools(
                HoverTool(
                    renderers=[segments],
                    tooltips=[
                        ("species", "@label"),
                        ("transition", "@qn"),
                        ("rest freq", "@rest{0.000} MHz"),
                        ("E_up", "@E_up{0.0} K"),
                        ("A_ul", "@A_ul{0.00e} s⁻¹"),
                    ],
                )
            )
            marker = Span(
                location=0.0,
                dimension="height",
                line_color="#888888",
                line_width=1.5,
                visible=False,
                name=f"channel_marker_{i}",
            )
            fig.add_layout(marker)
            fig.legend.location = "top_right"
            fig.legend.click_policy = "hide"
            self.spectrum_figures.append(fig)
            self.spectrum_sources.append(src)
            self.model_sources.append(model)
            self.overlay_sources.append(overlay)
            self.line_sources.append(lines)
            self.channel_markers.append(marker)

        # --- controls
        self.kind_buttons = ipw.ToggleButtons(options=MAP_KINDS, value="peak", description="map")
        self.kind_buttons.add_class("spectuner-map-kind")
        self.window_select = ipw.Dropdown(
            options=[(n, i) for i, n in enumerate(self.names)], value=0, description="window"
        )
        n_chan = self.windows[0].n_chan
        self.channel_slider = ipw.IntSlider(
            value=n_chan // 2, min=0, max=n_chan - 1, description="channel", continuous_update=False
        )
        self.channel_slider.add_class("spectuner-channel-slider")
        self.velocity_range = ipw.FloatRangeSlider(
            description="moment-0 v (km/s)",
            step=0.5,
            continuous_update=False,
            readout_format=".1f",
            style={"description_width": "initial"},
            layout=ipw.Layout(width="520px"),
        )
        self.velocity_range.add_class("spectuner-velocity-range")
        self.axis_buttons = ipw.ToggleButtons(options=AXES, value="frequency", description="axis")
        self.axis_buttons.add_class("spectuner-axis")
        self.unit_buttons = ipw.ToggleButtons(
            options=BRIGHTNESS_UNITS, value="K", description="unit"
        )
        self.unit_buttons.add_class("spectuner-unit")
        self.reference_select = ipw.Dropdown(
            description="v ref", options=[], layout=ipw.Layout(width="340px")
        )
        self.reference_select.add_class("spectuner-reference")
        self.rest_text = ipw.FloatText(
            description="ν₀ (MHz)", step=0.001, layout=ipw.Layout(width="220px")
        )
        self.rest_text.add_class("spectuner-rest-frequency")
        self.box_text = ipw.Text(
            description="box", placeholder="x0:x1, y0:y1 (empty: pixel)", continuous_update=False
        )
        self.box_text.add_class("spectuner-box")
        self.status = ipw.HTML("")
        self.status.add_class("spectuner-pixel-status")
        self._reset_velocity_range()
        self._update_reference_options()
        if species:  # before wrapping: the first render bundle carries the lines
            self.set_species(species)
        self._redraw_spectra()
        self._redraw_map()
        for control in (self.kind_buttons, self.channel_slider, self.velocity_range):
            control.observe(lambda _change: self._redraw_map(), names="value")
        self.channel_slider.observe(lambda _change: self._draw_channel_marker(), names="value")
        self.window_select.observe(lambda _change: self._window_changed(), names="value")
        self.axis_buttons.observe(lambda change: self.set_axis(change["new"]), names="value")
        self.unit_buttons.observe(lambda change: self.set_unit(change["new"]), names="value")
        self.reference_select.observe(self._reference_chosen, names="value")
        self.rest_text.observe(
            lambda change: self.set_reference(self.window_select.value, change["new"]),
            names="value",
        )
        self.box_text.observe(lambda change: self._box_typed(change["new"]), names="value")

        from bokeh.layouts import column

        self.map_widget = as_widget(self.map_figure)
        self.spectra_widget = as_widget(column(*self.spectrum_figures))
        self.widget = ipw.VBox(
            [
                ipw.HBox([self.kind_buttons, self.window_select, self.unit_buttons]),
                ipw.HBox([self.channel_slider, self.velocity_range]),
                ipw.HBox(
                    [
                        ipw.VBox([self.map_widget, self.box_text]),
                        ipw.VBox(
                            [
                                self.axis_buttons,
                                ipw.HBox([self.reference_select, self.rest_text]),
                                self.status,
                                self.spectra_widget,
                            ]
                        ),
                    ]
                ),
            ]
        )
        self.widget.add_class("spectuner-cube-browser")

    # ------------------------------------------------------------------ selection
    def _brightest_pixel(self) -> tuple[int, int]:
        peak = peak_map(self.windows[0])
        if not np.any(np.isfinite(peak)):
            return 0, 0
        y, x = np.unravel_index(int(np.nanargmax(peak)), peak.shape)
        return int(x), int(y)

    def on_pixel(self, callback: Callable[[int, int], None]) -> None:
        """Call ``callback(x, y)`` whenever a pixel is selected."""
        self._pixel_callbacks.append(callback)

    def on_selection(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(observation)`` whenever the pixel or box selection changes."""
        self._selection_callbacks.append(callback)

    def _on_tap(self, event: Any) -> None:
        if event.x is None or event.y is None:
            return
        ny, nx = self.cubes.shape
        x, y = int(round(event.x)), int(round(event.y))
        if 0 <= x < nx and 0 <= y < ny:
            self.select_pixel(x, y)

    def _on_box(self, event: Any) -> None:
        geometry = event.geometry or {}
        if geometry.get("type") != "rect" or not event.final:
            return
        ny, nx = self.cubes.shape
        x0, x1 = (int(np.clip(round(geometry[k]), 0, nx - 1)) for k in ("x0", "x1"))
        y0, y1 = (int(np.clip(round(geometry[k]), 0, ny - 1)) for k in ("y0", "y1"))
        self.select_box((x0, x1, y0, y1))

    def _box_typed(self, text: str) -> None:
        text = text.strip()
        if not text:
            self.select_pixel(*self.pixel)
            return
        try:
            xs, ys = (part.split(":") for part in text.replace(" ", "").split(","))
            box = (int(xs[0]), int(xs[1]), int(ys[0]), int(ys[1]))
        except ValueError:
            self.status.value = f"<b>cannot read a box 'x0:x1, y0:y1' from {text!r}</b>"
            return
        self.select_box(box)

    def select_pixel(self, x: int, y: int) -> None:
        """Show the spectra of pixel (x, y) in every window and notify listeners."""
        ny, nx = self.cubes.shape
        if not (0 <= int(x) < nx and 0 <= int(y) < ny):
            raise WidgetInputError(f"pixel ({x}, {y}) outside the {nx}×{ny} map")
        self.pixel, self.box = (int(x), int(y)), None
        self.marker_source.data = {"x": [self.pixel[0]], "y": [self.pixel[1]]}
        self.box_source.data = {"left": [], "right": [], "bottom": [], "top": []}
        self._selection_changed()
        for callback in self._pixel_callbacks:
            callback(*self.pixel)

    def select_box(self, box: tuple[int, int, int, int]) -> None:
        """Show the mean spectra of the box (x0, x1, y0, y1), inclusive, and notify listeners."""
        from spectuner_nb.cube.maps import box_pixels
        from spectuner_nb.errors import CubeError

        try:
            iy, ix = box_pixels(self.cubes, box)
        except CubeError as exc:
            raise WidgetInputError(str(exc)) from exc
        self.box = (int(ix.min()), int(ix.max()), int(iy.min()), int(iy.max()))
        x0, x1, y0, y1 = self.box
        self.box_source.data = {
            "left": [x0 - 0.5],
            "right": [x1 + 0.5],
            "bottom": [y0 - 0.5],
            "top": [y1 + 0.5],
        }
        self.marker_source.data = {"x": [], "y": []}
        self._selection_changed()

    def _selection_changed(self) -> None:
        self._spectra = self._selected_spectra()
        self._model, self._overlays = None, None
        self._redraw_spectra()
        obs = None
        for callback in self._selection_callbacks:
            obs = obs if obs is not None else self.observation()
            callback(obs)

    @property
    def selection_label(self) -> str:
        """ "pixel (x, y)" or "box x x0–x1, y y0–y1": what the spectra show."""
        return box_label(self.box) if self.box else f"pixel ({self.pixel[0]}, {self.pixel[1]})"

    def observation(self) -> Any:
        """The engine Observation of what is selected (pixel, or box mean), in K."""
        if self.box is not None:
            return box_observation(self.cubes, self.box)
        return pixel_observation(self.cubes, *self.pixel)

    def _selected_spectra(self) -> list[np.ndarray]:
        if self.box is not None:
            from spectuner_nb.cube.maps import box_spectra

            return box_spectra(self.cubes, self.box)[0]
        return self.pixel_spectra()

    def pixel_spectra(self) -> list[np.ndarray]:
        """Spectra (K) of the selected pixel, one per window."""
        from .cubes import pixel_spectra

        return pixel_spectra(self.cubes, *self.pixel)

    # ------------------------------------------------------------------ spectra
    def _axis_values(self, index: int, freq: np.ndarray) -> np.ndarray:
        freq = np.asarray(freq, dtype=float)
        if self.axis == "velocity":
            return radio_velocity(freq, self.rest_mhz[index])
        return freq

    def _in_unit(self, index: int, freq: np.ndarray, values: np.ndarray) -> np.ndarray:
        """K values at sky frequencies ``freq`` (MHz) of window ``index`` in the shown unit."""
        win = self.windows[index]
        factor = np.interp(
            np.asarray(freq, dtype=float), win.freq_mhz, brightness_factor(win, self.unit)
        )
        return np.asarray(values, dtype=float) * factor

    def _redraw_spectra(self) -> None:
        """Draw data, model, overlays, lines, channel marker and labels from the current state
        (selection, axis, reference, unit): one path, so they always agree."""
        for i, win in enumerate(self.windows):
            freq = win.freq_mhz
            self.spectrum_sources[i].data = {
                "x": self._axis_values(i, freq),
                "y": self._in_unit(i, freq, self._spectra[i]),
                "freq": freq,
            }
            fig = self.spectrum_figures[i]
            fig.yaxis.axis_label = "T_B (K)" if self.unit == "K" else "I (Jy/beam)"
            if self.axis == "velocity":
                v = self._axis_values(i, freq)
                self._x_ranges[i].start, self._x_ranges[i].end = float(v.min()), float(v.max())
                fig.xaxis.axis_label = f"v_LSR (km/s, radio) for ν₀ = {self.rest_mhz[i]:.3f} MHz"
            else:
                self._x_ranges[i].start, self._x_ranges[i].end = win.freq_range_mhz
                fig.xaxis.axis_label = "sky frequency (MHz)"
        self._draw_model()
        self._draw_overlays()
        self._rescale_y()
        self._draw_lines()
        self._draw_channel_marker()
        self.status.value = self._status_text()
        for callback in self._redraw_callbacks:
            callback()

    def on_redraw(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after the spectra are redrawn (new selection, axis, velocity
        reference or unit), so that layers drawn by other components follow."""
        self._redraw_callbacks.append(callback)

    def display_x(self, index: int, freq: np.ndarray) -> np.ndarray:
        """Sky frequencies ``freq`` (MHz) of window ``index`` on the shown spectral axis."""
        return self._axis_values(index, freq)

    def display_y(self, index: int, freq: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Brightness ``values`` (K) at sky frequencies ``freq`` (MHz) of window ``index`` in
        the shown unit."""
        return self._in_unit(index, freq, values)

    def _status_text(self) -> str:
        finite = [s[np.isfinite(s)] for s in self._spectra]
        peak = max((float(f.max()) for f in finite if f.size), default=float("nan"))
        where = self.selection_label
        if self.box is None and self.cubes.wcs is not None and self.cubes.wcs.has_celestial:
            from astropy.wcs.utils import pixel_to_skycoord

            sky = pixel_to_skycoord(self.pixel[0], self.pixel[1], self.cubes.wcs).icrs
            where += f" = {sky.to_string('hmsdms', precision=2)}"
        return f"<b>{where}</b> — peak {peak:.2f} K"

    def _rescale_y(self) -> None:
        values = [np.asarray(s.data["y"], dtype=float) for s in self.spectrum_sources]
        values += [np.asarray(m.data["y"], dtype=float) for m in self.model_sources]
        finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.zeros(0)
        if finite.size == 0:
            return
        low, high = float(finite.min()), float(finite.max())
        pad = 0.05 * (high - low or 1.0)
        self._y_range.start, self._y_range.end = low - pad, high + pad

    def _draw_channel_marker(self) -> None:
        index = self.window_select.value
        for i, marker in enumerate(self.channel_markers):
            marker.visible = i == index
            if i == index:
                chan = min(self.channel_slider.value, self.windows[i].n_chan - 1)
                freq = self.windows[i].freq_mhz[chan]
                marker.location = float(self._axis_values(i, np.array([freq]))[0])

    def set_axis(self, axis: str) -> None:
        """Show spectra against ``"frequency"`` (MHz) or ``"velocity"`` (km/s, radio, relative
        to each window's rest frequency :attr:`rest_mhz`)."""
        if axis not in AXES:
            raise WidgetInputError(f"axis must be one of {AXES}, got {axis!r}")
        self.axis = axis
        if self.axis_buttons.value != axis:
            self.axis_buttons.value = axis  # observed: comes back here
            return
        self._redraw_spectra()

    def set_unit(self, unit: str) -> None:
        """Show brightness in ``"K"`` or ``"Jy/beam"`` (spectra, models and maps)."""
        if unit not in BRIGHTNESS_UNITS:
            raise WidgetInputError(f"unit must be one of {BRIGHTNESS_UNITS}, got {unit!r}")
        self.unit = unit
        if self.unit_buttons.value != unit:
            self.unit_buttons.value = unit
            return
        self._redraw_spectra()
        self._redraw_map()

    # ------------------------------------------------------------------ velocity reference
    def reference_frequency(self, index: int) -> float:
        """Rest frequency (MHz) that is v = 0 on the velocity axis of window ``index``."""
        return self.rest_mhz[index]

    def set_reference(self, index: int, rest_mhz: float) -> None:
        """Use rest frequency ``rest_mhz`` (MHz) as the velocity reference of window ``index``."""
        if not rest_mhz or rest_mhz <= 0:
            return
        self.rest_mhz[index] = float(rest_mhz)
        self._update_reference_options()
        self._reset_velocity_range()
        self._redraw_spectra()
        if self.kind_buttons.value == "moment 0":
            self._redraw_map()

    def _reference_chosen(self, change: dict) -> None:
        if change["new"] is not None and not self._setting_options:
            self.set_reference(self.window_select.value, change["new"])

    def _centre_rest(self, index: int) -> float:
        """Rest frequency (MHz, to 1 kHz) of window ``index``'s centre at the source velocity."""
        centre = float(np.mean(self.windows[index].freq_range_mhz))
        return round(float(rest_frequency(centre, self.v_lsr)), 3)

    def _reference_options(self, index: int) -> list[tuple[str, float]]:
        win = self.windows[index]
        centre = self._centre_rest(index)
        options = [(f"window centre ({centre:.3f} MHz)", centre)]
        for name, lines in self._lines.items():
            sky = sky_frequency(lines.freq, self.v_lsr)
            inside = (sky >= win.freq_range_mhz[0]) & (sky <= win.freq_range_mhz[1])
            for rest, qn in zip(lines.freq[inside], self._qn(lines)[inside], strict=True):
                options.append((f"{name.split(';')[0]} {qn} {rest:.3f} MHz", float(rest)))
        if all(abs(v - self.rest_mhz[index]) > 1e-9 for _, v in options):
            options.append((f"ν₀ = {self.rest_mhz[index]:.3f} MHz", self.rest_mhz[index]))
        return options

    def _update_reference_options(self) -> None:
        index = self.window_select.value
        options = self._reference_options(index)
        current = next(v for _, v in options if abs(v - self.rest_mhz[index]) <= 1e-9)
        self._setting_options = True
        try:
            self.reference_select.options = options
            self.reference_select.value = current
        finally:
            self._setting_options = False
        if abs(self.rest_text.value - self.rest_mhz[index]) > 1e-9:
            self.rest_text.value = self.rest_mhz[index]

    def _reset_velocity_range(self) -> None:
        index = self.window_select.value
        v = radio_velocity(self.windows[index].freq_mhz, self.rest_mhz[index])
        lo, hi = float(v.min()), float(v.max())
        self.velocity_range.min, self.velocity_range.max = -1e9, 1e9  # no clipping in between
        self.velocity_range.value = (lo, hi)
        self.velocity_range.min, self.velocity_range.max = lo, hi

    # ------------------------------------------------------------------ map
    def _window_changed(self) -> None:
        self.channel_slider.max = self.windows[self.window_select.value].n_chan - 1
        self._update_reference_options()
        self._reset_velocity_range()
        self._draw_channel_marker()
        self._redraw_map()

    def current_map(self) -> np.ndarray:
        """The map on display (K, K km/s, or Jy/beam, Jy/beam km/s), shape (ny, nx)."""
        index = self.window_select.value
        win = self.windows[index]
        kind = self.kind_buttons.value
        if kind == "peak":
            return peak_map(win, self.unit)
        if kind == "moment 0":
            return moment0_map(win, self.velocity_range.value, self.rest_mhz[index], self.unit)
        return channel_map(win, min(self.channel_slider.value, win.n_chan - 1), self.unit)

    def map_title(self) -> str:
        """What the map shows, with its unit."""
        index = self.window_select.value
        win = self.windows[index]
        kind = self.kind_buttons.value
        if kind == "channel":
            chan = min(self.channel_slider.value, win.n_chan - 1)
            v = radio_velocity(win.freq_mhz[chan], self.rest_mhz[index])
            return (
                f"channel {chan}: {win.freq_mhz[chan]:.2f} MHz, v = {float(v):.1f} km/s "
                f"({self.unit})"
            )
        if kind == "moment 0":
            lo, hi = self.velocity_range.value
            return f"{self.names[index]} moment 0, v {lo:.1f}…{hi:.1f} km/s ({self.unit} km/s)"
        return f"{self.names[index]} peak ({self.unit})"

    def _redraw_map(self) -> None:
        image = self.current_map()
        self.map_source.data = {"image": [image]}
        fresh = colour_mapper(image)
        self._mapper.low, self._mapper.high = fresh.low, fresh.high
        self.map_figure.title.text = self.map_title()

    # ------------------------------------------------------------------ overlays
    @staticmethod
    def _qn(lines: Any) -> np.ndarray:
        qn = np.asarray(lines.qn)
        return qn.astype(str) if qn.size == len(lines.freq) else np.full(len(lines.freq), "")

    def set_species(self, species: Sequence[str]) -> None:
        """Draw the catalog lines of ``species`` (any name the catalog resolves)."""
        self.species = list(species)
        windows = [
            tuple(rest_frequency(np.array(w.freq_range_mhz), self.v_lsr).tolist())
            for w in self.windows
        ]
        self._lines = {
            name: self.catalog.lines(name, windows=windows, pad_kms=0.0) for name in self.species
        }
        self._update_reference_options()
        self._draw_lines()

    def set_colours(self, colours: dict[str, str]) -> None:
        """Give species fixed line-marker colours ({species: colour}, e.g. those of an
        identification); the other species take colours of the cycle."""
        self.colours = dict(colours)
        self._draw_lines()

    def line_colour(self, name: str) -> str:
        """The colour of a chosen species' line markers: its entry in :attr:`colours` (set by
        the identification panel, so a species keeps one colour), else one of the cycle."""
        if name in self.colours:
            return self.colours[name]
        k = self.species.index(name) if name in self.species else 0
        return SPECTRUM_COLOURS[(k + 2) % len(SPECTRUM_COLOURS)]

    def _draw_lines(self) -> None:
        top = self._y_range.end
        for i, win in enumerate(self.windows):
            fmin, fmax = win.freq_range_mhz
            cols: dict[str, list] = {
                k: [] for k in ("freq", "rest", "colour", "label", "qn", "E_up", "A_ul")
            }
            for name, lines in self._lines.items():
                sky = sky_frequency(lines.freq, self.v_lsr)
                inside = (sky >= fmin) & (sky <= fmax)
                n = int(inside.sum())
                cols["freq"] += sky[inside].tolist()
                cols["rest"] += np.asarray(lines.freq)[inside].tolist()
                cols["qn"] += self._qn(lines)[inside].tolist()
                cols["E_up"] += np.asarray(lines.E_up)[inside].tolist()
                cols["A_ul"] += np.asarray(lines.A_ul)[inside].tolist()
                cols["label"] += [name] * n
                cols["colour"] += [self.line_colour(name)] * n
            n = len(cols["freq"])
            x = self._axis_values(i, np.asarray(cols["freq"], dtype=float))
            self.line_sources[i].data = dict(cols, x=list(x), y0=[0.0] * n, y1=[top] * n)

    def _segments_per_window(
        self, freqs: Sequence[np.ndarray], spectra: Sequence[np.ndarray]
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
            out.append(
                (
                    np.concatenate(f_parts) if f_parts else np.zeros(0),
                    np.concatenate(y_parts) if y_parts else np.zeros(0),
                )
            )
        return out

    def _draw_model(self) -> None:
        if self._model is None:
            for src in self.model_sources:
                src.data = {"x": [], "y": [], "freq": []}
            return
        for i, (f, y) in enumerate(self._segments_per_window(*self._model)):
            self.model_sources[i].data = {
                "x": self._axis_values(i, f),
                "y": self._in_unit(i, f, y),
                "freq": f,
            }

    def _draw_overlays(self) -> None:
        if self._overlays is None:
            for src in self.overlay_sources:
                src.data = {"xs": [], "ys": [], "freqs": [], "colour": [], "label": []}
            return
        freqs, curves = self._overlays
        per_label = {lab: self._segments_per_window(freqs, ys) for lab, ys in curves.items()}
        labels = list(curves)
        for i in range(len(self.windows)):
            fs = [per_label[lab][i][0] for lab in labels]
            self.overlay_sources[i].data = {
                "xs": [self._axis_values(i, f) for f in fs],
                "ys": [
                    self._in_unit(i, f, per_label[lab][i][1])
                    for f, lab in zip(fs, labels, strict=True)
                ],
                "freqs": fs,
                "colour": [
                    SPECTRUM_COLOURS[(k + 3) % len(SPECTRUM_COLOURS)] for k in range(len(labels))
                ],
                "label": labels,
            }

    def show_model(self, freqs: Sequence[np.ndarray], spectra: Sequence[np.ndarray]) -> None:
        """Draw a model: segments of sky frequency (MHz) and intensity (K), e.g. the windows
        of a fitted :class:`~spectuner_nb.observation.Observation` and its model spectra.
        It stays until the selection changes."""
        self._model = (
            [np.asarray(f, float) for f in freqs],
            [np.asarray(y, float) for y in spectra],
        )
        self._draw_model()
        self._rescale_y()
        self._draw_lines()

    def show_overlays(
        self, freqs: Sequence[np.ndarray], curves: dict[str, Sequence[np.ndarray]]
    ) -> None:
        """Draw several labelled model spectra over the data: ``curves[label]`` holds one
        intensity array (K) per segment of ``freqs`` (sky frequency, MHz)."""
        self._overlays = (list(freqs), dict(curves))
        self._draw_overlays()
