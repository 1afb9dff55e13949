"""Bokeh-in-Jupyter plumbing shared by every widget: inline resources, figures, wrapping.

Nothing here knows any science; it only builds empty Bokeh figures and turns
them into ipywidgets (through :class:`jupyter_bokeh.BokehModel`) so they can
sit in ipywidgets layouts and talk back to the kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "SPECTRUM_COLOURS", "setup_notebook", "as_widget", "image_figure", "spectrum_figure",
    "colour_mapper", "Component",
]

SPECTRUM_COLOURS: tuple[str, ...] = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
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


def as_widget(layout: Any) -> Any:
    """Wrap a Bokeh layout (figure, row, column) as an ipywidget."""
    from jupyter_bokeh import BokehModel

    return BokehModel(layout)


def image_figure(ny: int, nx: int, *, title: str = "", size: int = 320, **kwargs: Any) -> Any:
    """An empty square-pixel figure for an (ny, nx) map, axes in pixel indices."""
    from bokeh.plotting import figure

    scale = size / max(nx, ny)
    fig = figure(
        title=title,
        width=int(nx * scale) + 60,
        height=int(ny * scale) + 40,
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


def spectrum_figure(*, title: str = "", x_label: str = "frequency (MHz)",
                    width: int = 560, height: int = 260, **kwargs: Any) -> Any:
    """An empty figure for a spectrum (brightness temperature in K against ``x_label``)."""
    from bokeh.plotting import figure

    fig = figure(title=title, width=width, height=height,
                 tools="pan,xwheel_zoom,box_zoom,reset,save", **kwargs)
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
