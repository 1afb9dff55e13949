"""Bokeh-in-Jupyter plumbing shared by every widget: inline resources, figures, wrapping.

Nothing here knows any science; it only builds empty Bokeh figures and turns
them into ipywidgets (through :class:`jupyter_bokeh.BokehModel`) so they can
sit in ipywidgets layouts and talk back to the kernel.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

import numpy as np

__all__ = [
    "SPECTRUM_COLOURS",
    "setup_notebook",
    "as_widget",
    "refresh_plots",
    "download_link",
    "image_figure",
    "sky_axes",
    "draw_beam",
    "spectrum_figure",
    "colour_mapper",
    "Component",
    "Ticker",
]

SPECTRUM_COLOURS: tuple[str, ...] = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
)
"""Colours of overlaid curves and line markers, cycled in order."""

_setup_done = False


def setup_notebook() -> None:
    """Load BokehJS inline (no CDN) into the notebook; call once in an early cell.

    :class:`jupyter_bokeh.BokehModel` only renders once BokehJS has been
    loaded by ``output_notebook`` in an *earlier* cell.
    """
    global _setup_done
    from bokeh.io import output_notebook
    from bokeh.resources import INLINE

    output_notebook(resources=INLINE, hide_banner=True)
    _setup_done = True


@functools.cache
def _bokeh_widget_class() -> type:
    from jupyter_bokeh import BokehModel

    class CurrentBokehModel(BokehModel):
        """BokehModel whose widget state is the current document, not the first drawing."""

        def refresh(self) -> None:
            """Send the current document as the widget state (views made from now on show it)."""
            self.render_bundle = self._model_to_traits(self._model)

        def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict:
            if key is None:  # a full state request: a (re)connecting page; no change event
                self._trait_values["render_bundle"] = self._model_to_traits(self._model)
            return super().get_state(key=key, drop_defaults=drop_defaults)

        def _repr_mimebundle_(self, **kwargs: Any) -> Any:
            self.refresh()
            return super()._repr_mimebundle_(**kwargs)

    return CurrentBokehModel


def as_widget(layout: Any) -> Any:
    """Wrap a Bokeh layout (figure, row, column) as an ipywidget that shows its current state.

    :class:`jupyter_bokeh.BokehModel` keeps the document of its first drawing as its
    widget state and sends later changes as patches that only views already on the page
    receive. Changes made before the widget is shown (in the cell that builds it) and
    pages that connect later (a reload) would get the first drawing. The state is
    therefore rebuilt whenever it is requested in full and when the widget is displayed
    (:func:`refresh_plots`).
    """
    return _bokeh_widget_class()(layout)


def refresh_plots(widget: Any) -> None:
    """Refresh the state of every Bokeh plot inside an ipywidgets layout (before display)."""
    cls = _bokeh_widget_class()
    if isinstance(widget, cls):
        widget.refresh()
    for child in getattr(widget, "children", ()):
        refresh_plots(child)


def download_link(path: Any, label: str | None = None) -> str:
    """HTML link that downloads the file at ``path`` from the page (data URI; works in
    JupyterLab and Voilà, where the kernel's files are not served)."""
    import base64
    import mimetypes
    from html import escape
    from pathlib import Path

    path = Path(path)
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    data = base64.b64encode(path.read_bytes()).decode()
    return (
        f"<a class='spectuner-download' download='{escape(path.name)}' "
        f"href='data:{mime};base64,{data}'>{escape(label or path.name)}</a>"
    )


def image_figure(ny: int, nx: int, *, title: str = "", size: int = 320, **kwargs: Any) -> Any:
    """An empty square-pixel figure for an (ny, nx) map, axes in pixel indices."""
    from bokeh.plotting import figure

    scale = size / max(nx, ny)
    fig = figure(
        title=title,
        frame_width=int(nx * scale),  # square pixels whatever the axes and colour bar take
        frame_height=int(ny * scale),
        x_range=kwargs.pop("x_range", (-0.5, nx - 0.5)),
        y_range=kwargs.pop("y_range", (-0.5, ny - 0.5)),
        tools="tap,pan,wheel_zoom,box_zoom,reset,save",
        match_aspect=True,
        **kwargs,
    )
    fig.xaxis.axis_label = "x (pixel)"
    fig.yaxis.axis_label = "y (pixel)"
    fig.grid.visible = False
    return fig


def sky_axes(fig: Any, wcs: Any, ny: int, nx: int, n_ticks: int = 4) -> None:
    """Label the pixel axes of ``fig`` with right ascension and declination (astropy WCS).

    Ticks sit at pixel positions along the central row (RA) and column (Dec) of a
    grid whose axes are aligned with RA and Dec (the usual interferometer image).
    """
    from astropy.wcs.utils import pixel_to_skycoord
    from bokeh.models import FixedTicker

    if wcs is None or not getattr(wcs, "has_celestial", False):
        return
    xs = np.linspace(0, nx - 1, n_ticks).round().astype(int)
    ys = np.linspace(0, ny - 1, n_ticks).round().astype(int)
    ra = pixel_to_skycoord(xs, np.full(xs.size, (ny - 1) / 2), wcs).icrs.ra
    dec = pixel_to_skycoord(np.full(ys.size, (nx - 1) / 2), ys, wcs).icrs.dec
    fig.xaxis.ticker = FixedTicker(ticks=[float(v) for v in xs])
    fig.yaxis.ticker = FixedTicker(ticks=[float(v) for v in ys])
    fig.xaxis.major_label_overrides = {
        float(x): a.to_string(unit="hourangle", sep=":", precision=2, pad=True)
        for x, a in zip(xs, ra, strict=True)
    }
    fig.yaxis.major_label_overrides = {
        float(y): d.to_string(unit="deg", sep=":", precision=1, alwayssign=True, pad=True)
        for y, d in zip(ys, dec, strict=True)
    }
    fig.xaxis.axis_label, fig.yaxis.axis_label = "RA (ICRS)", "Dec (ICRS)"
    fig.xaxis.major_label_orientation = 0.35


def draw_beam(fig: Any, wcs: Any, beam: tuple[float, float, float], ny: int, nx: int) -> None:
    """Draw the beam ellipse (B_maj, B_min arcsec, PA deg east of north) in the lower left corner
    of a map with celestial ``wcs`` (north up, east left)."""
    from astropy.wcs.utils import proj_plane_pixel_scales

    if wcs is None or not getattr(wcs, "has_celestial", False):
        return
    scale = float(np.mean(proj_plane_pixel_scales(wcs.celestial))) * 3600.0  # arcsec / pixel
    bmaj, bmin, pa = (float(v) for v in beam)
    w, h = bmaj / scale, bmin / scale
    fig.ellipse(
        x=0.1 * nx + w / 2,
        y=0.1 * ny + w / 2,
        width=w,
        height=h,
        angle=np.deg2rad(90.0 + pa),
        fill_color=None,
        line_color="white",
        line_width=2,
        name="beam_ellipse",
    )


def spectrum_figure(
    *,
    title: str = "",
    x_label: str = "frequency (MHz)",
    width: int = 560,
    height: int = 260,
    **kwargs: Any,
) -> Any:
    """An empty figure for a spectrum (brightness temperature in K against ``x_label``)."""
    from bokeh.plotting import figure

    fig = figure(
        title=title,
        width=width,
        height=height,
        tools="pan,xwheel_zoom,box_zoom,reset,save",
        **kwargs,
    )
    from bokeh.models import BasicTickFormatter

    fig.xaxis.axis_label = x_label
    fig.xaxis.formatter = BasicTickFormatter(use_scientific=False)
    fig.yaxis.axis_label = "T_B (K)"
    return fig


def colour_mapper(values: np.ndarray, palette: str = "Viridis256", symmetric: bool = False) -> Any:
    """A linear colour mapper spanning the finite values of ``values`` (robust 1–99 %)."""
    from bokeh.models import LinearColorMapper

    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        low, high = 0.0, 1.0
    else:
        low, high = (float(v) for v in np.percentile(finite, [1.0, 99.0]))
    if symmetric:
        high = max(abs(low), abs(high)) or 1.0
        low = -high
        palette = "RdBu11"
    if high <= low:
        high = low + 1.0
    return LinearColorMapper(palette=palette, low=low, high=high, nan_color="rgba(0,0,0,0)")


class Component:
    """Base of the widget components: notebook display of ``self.widget`` and the
    transition cache, opened on first use (:func:`spectuner_nb.catalog.default_cache`)."""

    widget: Any
    _catalog: Any = None

    def _ipython_display_(self) -> None:
        from IPython.display import display

        refresh_plots(self.widget)
        display(self.widget)

    @property
    def catalog(self) -> Any:
        """The transition cache the component queries."""
        if self._catalog is None:
            from spectuner_nb.catalog import default_cache

            self._catalog = default_cache()
        return self._catalog

    @catalog.setter
    def catalog(self, value: Any) -> None:
        self._catalog = value


class Ticker:
    """While a blocking call runs, show :attr:`stage` and the elapsed seconds in an HTML
    widget, refreshed every ``every_s`` seconds; :attr:`stage` may change meanwhile."""

    def __init__(self, status: Any, stage: str, every_s: float = 0.5) -> None:
        self.status, self.stage, self.every_s = status, stage, every_s
        self._stop = threading.Event()

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.wait(self.every_s):
            self.status.value = f"{self.stage} … {time.monotonic() - start:.0f} s"

    def __enter__(self) -> Ticker:
        self.status.value = f"{self.stage} …"
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
