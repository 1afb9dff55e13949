"""spectuner_nb: LTE line fitting of interstellar molecules, Spectuner-D1 style.

The main names are importable from here and loaded on first use, so that
``import spectuner_nb`` stays cheap (no numba, torch or Dask)::

    from spectuner_nb import Observation, fit_spectrum, fit_cube, default_cache

The layers and their modules: docs/architecture.md.
"""

from __future__ import annotations

import importlib
from importlib.util import find_spec

from .errors import SpectunerError

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "Observation": "spectuner_nb.observation",
    "fit_spectrum": "spectuner_nb.fit",
    "FitSettings": "spectuner_nb.fit_settings",
    "FitResult": "spectuner_nb.results",
    "fit_cube": "spectuner_nb.cube",
    "CubeFitResult": "spectuner_nb.cube",
    "default_cache": "spectuner_nb.catalog",
    "TransitionCache": "spectuner_nb.catalog",
    "LineList": "spectuner_nb.catalog",
    "Policy": "spectuner_nb.policy",
    "identify": "spectuner_nb.identification",
    "IdentificationResult": "spectuner_nb.identification",
}
"""Public name → module that defines it (imported on first access)."""


def _available(module: str) -> bool:
    """True when ``module`` (a subpackage of this package) is installed."""
    return find_spec(module) is not None


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'spectuner_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = ["SpectunerError", "__version__"] + sorted(
    name for name, module in _LAZY.items() if _available(module)
)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
