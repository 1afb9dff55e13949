"""Jupyter widgets of spectuner_nb: thin ipywidgets + Bokeh adapters over the engine.

Call :func:`setup_notebook` once in an early cell (it loads BokehJS inline, no
CDN), then display a component, e.g. ``SpectunerApp(cube_paths)``. Every
computation is an engine call; the widgets only display and dispatch.
"""

from .app import SpectunerApp
from .comparison import ComparisonView, ParameterMaps, as_parameter_maps
from .cube_browser import CubeBrowser
from .cubes import WidgetInputError, as_cubeset, pixel_observation
from .display import setup_notebook
from .fit_panel import FitPanel
from .identification_layer import IdentificationLayer
from .identify_panel import IdentifyPanel
from .species_picker import SpeciesPicker

__all__ = [
    "ComparisonView",
    "CubeBrowser",
    "FitPanel",
    "IdentificationLayer",
    "IdentifyPanel",
    "ParameterMaps",
    "SpeciesPicker",
    "SpectunerApp",
    "WidgetInputError",
    "as_cubeset",
    "as_parameter_maps",
    "pixel_observation",
    "setup_notebook",
]
