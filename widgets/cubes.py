"""The cubes as the widgets see them: the engine's :class:`~spectuner_nb.cube.load.CubeSet`.

Loading, unit conversion (Jy/beam → K) and frequency frames are the engine's
job (:func:`spectuner_nb.cube.load.load_cubes`), display maps and box averages
:mod:`spectuner_nb.cube.maps`'s; this module only accepts the forms a user is
likely to pass and builds engine observations of what is selected.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from spectuner_nb.cube.load import CubeSet, CubeWindow, load_cubes
from spectuner_nb.cube.maps import box_spectra, moment0_map, peak_map
from spectuner_nb.errors import SpectunerError

__all__ = [
    "CubeWindow",
    "WidgetInputError",
    "as_cubeset",
    "box_observation",
    "moment0_map",
    "peak_map",
    "pixel_observation",
    "pixel_spectra",
    "window_name",
]


class WidgetInputError(SpectunerError, ValueError):
    """A widget was given something it cannot display (names the object at fault)."""


def as_cubeset(cubes: Any, v_lsr: float | None = None) -> CubeSet:
    """A :class:`CubeSet` from a CubeSet, a :class:`~spectuner_nb.cube.synthetic.SyntheticCube`,
    or one or more FITS/CASA image paths (one per window; ``v_lsr`` in km/s)."""
    if isinstance(cubes, CubeSet):
        return cubes
    if isinstance(getattr(cubes, "cubes", None), CubeSet):
        return cubes.cubes
    if isinstance(cubes, (str, os.PathLike)) or (
        isinstance(cubes, (list, tuple))
        and cubes
        and all(isinstance(c, (str, os.PathLike)) for c in cubes)
    ):
        return load_cubes(cubes, v_lsr=0.0 if v_lsr is None else v_lsr)
    raise WidgetInputError(
        f"cannot display {type(cubes).__name__}: give a CubeSet, a SyntheticCube or cube paths"
    )


def window_name(window: CubeWindow, index: int) -> str:
    """A short label for a window: its file stem, else ``"window <index>"``."""
    stem = os.path.splitext(os.path.basename(window.source or ""))[0]
    return stem if stem and stem != "synthetic" else f"window {index}"


def pixel_spectra(cubes: CubeSet, x: int, y: int) -> list[np.ndarray]:
    """Spectra (K) of pixel (x, y) in every window, every channel (bad ones NaN)."""
    ny, nx = cubes.shape
    if not (0 <= x < nx and 0 <= y < ny):
        raise WidgetInputError(f"pixel ({x}, {y}) outside the {nx}×{ny} map")
    return [s[0] for s in cubes.spectra(np.array([y]), np.array([x]), masked=True)]


def pixel_observation(cubes: CubeSet, x: int, y: int) -> Any:
    """The engine's :class:`~spectuner_nb.observation.Observation` of pixel (x, y):
    its spectra (K), the cube's beam, continuum (T_bg) and v_LSR; rms estimated by the engine."""
    from spectuner_nb.observation import Observation

    spectra = pixel_spectra(cubes, x, y)
    t_bg = cubes.t_background(np.array([y]), np.array([x]))[0]
    return Observation.from_arrays(
        [w.freq_mhz for w in cubes.windows],
        spectra,
        beam=cubes.beam_arcsec,
        T_bg=t_bg,
        v_lsr=cubes.v_lsr,
        name=f"pixel ({x}, {y})",
    )


def box_observation(cubes: CubeSet, box: tuple[int, int, int, int]) -> Any:
    """The engine's Observation of the mean spectrum of box (x0, x1, y0, y1), inclusive."""
    from spectuner_nb.observation import Observation

    spectra, t_bg = box_spectra(cubes, box)
    return Observation.from_arrays(
        [w.freq_mhz for w in cubes.windows],
        spectra,
        beam=cubes.beam_arcsec,
        T_bg=t_bg,
        v_lsr=cubes.v_lsr,
        name=box_label(box),
    )


def box_label(box: tuple[int, int, int, int]) -> str:
    """How a box (x0, x1, y0, y1) is named in status lines and tables."""
    x0, x1, y0, y1 = box
    return f"box x {x0}–{x1}, y {y0}–{y1}"
