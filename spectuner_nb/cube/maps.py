"""Display quantities of a cube: peak and moment-0 maps, box averages, units, velocities.

What a cube viewer shows besides the fits, computed once here so that every
front-end (widgets, scripts) shows the same numbers:

* :func:`peak_map`, :func:`moment0_map` — maps over the good channels, the
  moment 0 optionally over a velocity range relative to a rest frequency;
* :func:`box_spectra` — the mean spectrum of a box of pixels (a region);
* :func:`radio_velocity`, :func:`sky_frequency` — the radio convention
  v = c (1 − ν/ν₀) and the sky frequency of a rest frequency at v_LSR, from
  :mod:`spectuner_nb.doppler` (importable here, as in earlier releases);
* :func:`brightness_factor` — K → Jy/beam per channel (Rayleigh–Jeans, the
  inverse of the conversion applied on load, docs/method.md §2).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..doppler import channel_width_kms, radio_velocity, sky_frequency
from ..errors import CubeError
from .load import CubeSet, CubeWindow, kelvin_per_jy_beam

__all__ = [
    "BRIGHTNESS_UNITS",
    "box_pixels",
    "box_spectra",
    "brightness_factor",
    "channel_map",
    "moment0_map",
    "peak_map",
    "radio_velocity",
    "sky_frequency",
    "velocity_channels",
]


BRIGHTNESS_UNITS: tuple[str, ...] = ("K", "Jy/beam")
"""Units a cube can be shown in."""


def brightness_factor(window: CubeWindow, unit: str) -> np.ndarray:
    """Per-channel factor (n_chan,) turning the window's K into ``unit`` ("K" or "Jy/beam")."""
    if unit == "K":
        return np.ones(window.n_chan)
    if unit == "Jy/beam":
        return 1.0 / kelvin_per_jy_beam(window.freq_mhz, window.beams)
    raise CubeError(f"brightness unit must be one of {BRIGHTNESS_UNITS}, got {unit!r}")


def _nan_reduce(func, data: np.ndarray) -> np.ndarray:
    finite = np.isfinite(data)
    with np.errstate(all="ignore"):
        out = np.asarray(func(np.where(finite, data, np.nan), axis=0), dtype=float)
    out[~finite.any(axis=0)] = np.nan
    return out


def _scaled(window: CubeWindow, channels: np.ndarray, unit: str) -> np.ndarray:
    factor = brightness_factor(window, unit)[channels]
    return np.asarray(window.data[channels], dtype=float) * factor[:, None, None]


def peak_map(window: CubeWindow, unit: str = "K") -> np.ndarray:
    """Largest brightness along the good channels (K or Jy/beam), shape (ny, nx)."""
    return _nan_reduce(np.nanmax, _scaled(window, np.flatnonzero(window.good), unit))


def channel_map(window: CubeWindow, channel: int, unit: str = "K") -> np.ndarray:
    """Brightness of one channel (K or Jy/beam), shape (ny, nx)."""
    if not 0 <= channel < window.n_chan:
        raise CubeError(f"channel {channel} outside 0..{window.n_chan - 1}")
    return _scaled(window, np.array([channel]), unit)[0]


def velocity_channels(
    window: CubeWindow, v_range_kms: tuple[float, float] | None, rest_mhz: float | None
) -> np.ndarray:
    """Good channels whose radio velocity w.r.t. ``rest_mhz`` lies in ``v_range_kms`` (inclusive);
    every good channel when ``v_range_kms`` is None. Returns channel indices."""
    good = window.good.copy()
    if v_range_kms is not None:
        if rest_mhz is None:
            raise CubeError("a velocity range needs a rest frequency")
        lo, hi = sorted(float(v) for v in v_range_kms)
        v = radio_velocity(window.freq_mhz, rest_mhz)
        good &= (v >= lo) & (v <= hi)
    return np.flatnonzero(good)


def moment0_map(
    window: CubeWindow,
    v_range_kms: tuple[float, float] | None = None,
    rest_mhz: float | None = None,
    unit: str = "K",
) -> np.ndarray:
    """Integrated intensity Σ T Δv (K km/s, or Jy/beam km/s), shape (ny, nx).

    Over the good channels, or those with radio velocity (w.r.t. ``rest_mhz``,
    MHz) inside ``v_range_kms``; Δv is the channel width in km/s at the window
    centre. All-NaN where no channel falls in the range.
    """
    freq = window.freq_mhz
    dv = channel_width_kms(freq) if freq.size > 1 else 1.0
    channels = velocity_channels(window, v_range_kms, rest_mhz)
    if channels.size == 0:
        return np.full(window.data.shape[1:], np.nan)
    return _nan_reduce(np.nansum, _scaled(window, channels, unit)) * dv


def box_pixels(cubes: CubeSet, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(iy, ix) of the pixels of an inclusive box (x0, x1, y0, y1), checked against the grid."""
    ny, nx = cubes.shape
    x0, x1, y0, y1 = (int(v) for v in box)
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    if x0 < 0 or y0 < 0 or x1 >= nx or y1 >= ny:
        raise CubeError(f"box x {x0}..{x1}, y {y0}..{y1} outside the {nx}×{ny} map")
    iy, ix = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
    return iy.ravel(), ix.ravel()


def box_spectra(
    cubes: CubeSet, box: tuple[int, int, int, int]
) -> tuple[list[np.ndarray], np.ndarray]:
    """Mean spectra (K) of the pixels of box (x0, x1, y0, y1), one per window (bad channels NaN),
    and the mean continuum T_bg (K) per window."""
    iy, ix = box_pixels(cubes, box)
    spectra = cubes.spectra(iy, ix, masked=True)
    with warnings.catch_warnings():  # all-NaN (bad) channels stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        means = [np.nanmean(s, axis=0) for s in spectra]
    return means, cubes.t_background(iy, ix).mean(axis=0)
