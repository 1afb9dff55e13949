"""Frequency ↔ velocity in the radio convention: the one place that knows the Doppler shift.

Every velocity in the package is a radio velocity (docs/method.md §2), the
convention of XCLASS, CASA's LSRK cubes and astropy's :func:`~astropy.units.doppler_radio`:

    v = c (1 − ν/ν₀)        ν = ν₀ (1 − v/c)

with ν₀ the rest frequency. A source at v_LSR moves every line of rest frequency
ν₀ to the sky frequency ν₀ (1 − v_LSR/c); the observed channels ν correspond to
rest-frame frequencies ν / (1 − v_LSR/c). A velocity offset v_off shifts a line
the same way, and a width Δv (km/s) at frequency ν spans ν Δv / c (MHz).

The functions take plain numbers (frequencies in MHz, velocities in km/s, fast on
arrays) or astropy Quantities, which are converted first; they return plain arrays
in MHz or km/s. :func:`spectral_axis_mhz` turns a spectral axis in any unit
(frequency, wavelength, energy, or velocity with a rest frequency) into MHz through
astropy's equivalencies; the readers use it at the edge. The numba LTE kernel
(``_lte_kernels``) applies the same formula inline, where no Python call is possible.
"""

from __future__ import annotations

import numpy as np

from .constants import C_KM_S
from .errors import ObservationError

__all__ = [
    "CONVENTION",
    "radio_velocity",
    "sky_frequency",
    "rest_frequency",
    "velocity_width",
    "frequency_width",
    "channel_width_kms",
    "radio_equivalencies",
    "spectral_axis_mhz",
]

CONVENTION: str = "radio"
"""The velocity convention of every velocity in the package (spectral-cube's spelling)."""


def _mhz(freq) -> np.ndarray:
    """Frequencies as a float array in MHz (plain numbers are MHz)."""
    if hasattr(freq, "unit"):
        import astropy.units as u

        return np.asarray(freq.to_value(u.MHz, equivalencies=u.spectral()), dtype=float)
    return np.asarray(freq, dtype=float)


def _kms(velocity) -> np.ndarray | float:
    """Velocities as floats in km/s (plain numbers are km/s)."""
    if hasattr(velocity, "unit"):
        import astropy.units as u

        return np.asarray(velocity.to_value(u.km / u.s), dtype=float)
    return np.asarray(velocity, dtype=float)


def radio_velocity(freq_mhz, rest_mhz) -> np.ndarray:
    """Radio velocity v = c (1 − ν/ν₀), km/s, of frequencies ν (MHz) for rest frequency ν₀ (MHz).

    With LSRK sky frequencies the result is the LSR velocity: a line of rest
    frequency ν₀ emitted by a source at v_LSR appears at v = v_LSR.
    """
    rest = _mhz(rest_mhz)
    if not np.all(rest > 0):
        raise ObservationError(f"rest frequency must be positive, got {rest_mhz} MHz")
    return C_KM_S * (1.0 - _mhz(freq_mhz) / rest)


def sky_frequency(rest_mhz, v_kms) -> np.ndarray:
    """Frequency ν₀ (1 − v/c), MHz, at which a line of rest frequency ν₀ (MHz) appears from
    gas at radio velocity v (km/s): the sky frequency at v_LSR, or a line shifted by v_off."""
    return _mhz(rest_mhz) * (1.0 - _kms(v_kms) / C_KM_S)


def rest_frequency(freq_mhz, v_kms) -> np.ndarray:
    """Rest-frame frequency ν / (1 − v/c), MHz, of observed frequencies ν (MHz) from gas at
    radio velocity v (km/s); the inverse of :func:`sky_frequency`."""
    return _mhz(freq_mhz) * (1.0 / (1.0 - _kms(v_kms) / C_KM_S))


def velocity_width(dnu_mhz, freq_mhz) -> np.ndarray:
    """Velocity width c Δν/ν, km/s, of a frequency interval Δν (MHz) at frequency ν (MHz)."""
    return C_KM_S * _mhz(dnu_mhz) / _mhz(freq_mhz)


def frequency_width(dv_kms, freq_mhz) -> np.ndarray:
    """Frequency width ν Δv/c, MHz, of a velocity interval Δv (km/s) at frequency ν (MHz)."""
    return _mhz(freq_mhz) * _kms(dv_kms) / C_KM_S


def channel_width_kms(freq_mhz) -> float:
    """Typical channel width of a window, km/s: c · median |Δν| / mean ν (≥ 2 channels)."""
    f = _mhz(freq_mhz)
    if f.size < 2:
        raise ObservationError("a channel width needs at least two channels")
    return float(velocity_width(np.median(np.abs(np.diff(f))), np.mean(f)))


def radio_equivalencies(rest_mhz):
    """astropy's radio-convention equivalencies for rest frequency ``rest_mhz`` (MHz or a
    Quantity), with the spectral ones (frequency ↔ wavelength ↔ energy)."""
    import astropy.units as u

    return u.doppler_radio(float(_mhz(rest_mhz)) * u.MHz) + u.spectral()


def spectral_axis_mhz(axis, rest_mhz=None) -> np.ndarray:
    """A spectral axis (Quantity: frequency, wavelength, energy, or radio velocity) in MHz.

    Velocity axes need the rest frequency ``rest_mhz`` (MHz or a Quantity; a FITS
    header's RESTFRQ); :class:`ObservationError` when it is missing or the unit is
    not spectral.
    """
    import astropy.units as u

    rest = 0.0 if rest_mhz is None else float(_mhz(rest_mhz))
    equiv = radio_equivalencies(rest) if rest > 0 else u.spectral()
    try:
        return np.asarray(u.Quantity(axis).to_value(u.MHz, equivalencies=equiv), dtype=float)
    except u.UnitConversionError as exc:
        hint = (
            " (velocity axes need a rest frequency, RESTFRQ)"
            if u.Quantity(axis).unit.is_equivalent(u.km / u.s)
            else ""
        )
        raise ObservationError(
            f"spectral axis in {u.Quantity(axis).unit} cannot be converted to MHz{hint}"
        ) from exc
