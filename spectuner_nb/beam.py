"""Beams and the Jy/beam ↔ K conversion: the one place that knows them.

An interferometer's beam is a :class:`radio_beam.Beam` (one per cube, or
:class:`radio_beam.Beams`, one per channel); a single dish is a
:class:`SingleDishBeam`, a circular Gaussian of FWHM θ_b = 1.22 c/(ν D) that
changes with frequency. The model reads a beam as its plain spec
(:data:`~spectuner_nb.parameters.BeamSpec`: a dish diameter in m, or
(B_maj, B_min) in arcsec); :func:`as_beam_spec` makes one from any of these.

Jy/beam → K is the Rayleigh–Jeans relation T = c² I / (2 k ν² Ω_beam), applied
through astropy's :func:`~astropy.units.brightness_temperature` (Jy/sr ↔ K) with
the beam's solid angle Ω = π θ_maj θ_min / (4 ln 2) (``Beam.sr``); per-channel
beams convert channel by channel (docs/method.md §2). FITS beam keywords
(BMAJ/BMIN/BPA, degrees) are read by :func:`beam_from_header` and written from
:func:`header_keywords`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ObservationError
from .parameters import BeamSpec, beam_size_sq

_FROM_RADIO_BEAM: tuple[str, ...] = ("Beam", "Beams")
"""radio-beam's classes, importable from here (imported on first use: radio-beam is slow to
import)."""

__all__ = [
    "SingleDishBeam",
    "as_beam_spec",
    "to_beam",
    "beam_area_sr",
    "kelvin_per_jy_beam",
    "beam_from_header",
    "header_keywords",
    "common_beam",
    "median_beam",
    *_FROM_RADIO_BEAM,
]

_GAUSSIAN_AREA = np.pi / (4.0 * np.log(2.0))
"""Ω = _GAUSSIAN_AREA · θ_maj θ_min for a Gaussian beam of FWHMs θ_maj, θ_min."""
_ARCSEC2_PER_SR = (180.0 / np.pi * 3600.0) ** 2


def __getattr__(name: str) -> Any:
    """``Beam`` and ``Beams`` are radio-beam's classes, imported when first used."""
    if name in _FROM_RADIO_BEAM:
        import radio_beam

        return getattr(radio_beam, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class SingleDishBeam:
    """The beam of a single dish of diameter ``diameter`` (m, or a length Quantity): a
    circular Gaussian of FWHM 1.22 c/(ν D) at frequency ν."""

    diameter: float

    def __post_init__(self) -> None:
        d: Any = self.diameter
        if hasattr(d, "unit"):
            import astropy.units as u

            d = d.to_value(u.m)
        d = float(d)
        if not np.isfinite(d) or d <= 0:
            raise ObservationError(f"dish diameter must be positive and finite, got {d} m")
        object.__setattr__(self, "diameter", d)

    def fwhm_arcsec(self, freq_mhz) -> np.ndarray:
        """Beam FWHM (arcsec) at frequencies ``freq_mhz`` (MHz)."""
        return np.sqrt(beam_size_sq(self.diameter, freq_mhz))

    def sr(self, freq_mhz) -> np.ndarray:
        """Beam solid angle (sr) at frequencies ``freq_mhz`` (MHz)."""
        return _GAUSSIAN_AREA * beam_size_sq(self.diameter, freq_mhz) / _ARCSEC2_PER_SR

    def at(self, freq_mhz: float):
        """The :class:`radio_beam.Beam` of the dish at one frequency (MHz)."""
        import astropy.units as u
        from radio_beam import Beam

        return Beam(float(self.fwhm_arcsec(float(freq_mhz))) * u.arcsec)


def as_beam_spec(beam) -> BeamSpec:
    """The model's beam spec from any beam: a dish diameter (m) or (B_maj, B_min) (arcsec).

    ``beam``: a :class:`radio_beam.Beam`, a :class:`SingleDishBeam`, a length Quantity or
    a plain number (dish diameter, m), or a pair (B_maj, B_min) of arcsec values or angle
    Quantities. :class:`ObservationError` names what is wrong.
    """
    import astropy.units as u

    if beam is None:
        raise ObservationError(
            "missing beam: give a radio_beam.Beam, (B_maj, B_min) in arcsec or a dish diameter in m"
        )
    if isinstance(beam, SingleDishBeam):
        spec: BeamSpec = beam.diameter
    elif hasattr(beam, "major") and hasattr(beam, "minor"):  # radio_beam.Beam
        if np.ndim(beam.major) != 0:
            raise ObservationError("one beam needed, got per-channel Beams: use common_beam()")
        spec = (float(beam.major.to_value(u.arcsec)), float(beam.minor.to_value(u.arcsec)))
    elif isinstance(beam, u.Quantity) and beam.isscalar:
        if not beam.unit.is_equivalent(u.m):
            raise ObservationError(f"a scalar beam must be a dish diameter (length), got {beam}")
        spec = float(beam.to_value(u.m))
    elif not isinstance(beam, list | tuple | np.ndarray | u.Quantity):
        try:
            spec = float(beam)
        except (TypeError, ValueError) as exc:
            raise ObservationError(f"cannot read a beam from {beam!r}") from exc
    else:
        parts = list(beam)
        if len(parts) != 2:
            raise ObservationError(f"beam must be (B_maj, B_min), got {beam!r}")
        try:
            spec = tuple(
                float(p.to_value(u.arcsec)) if isinstance(p, u.Quantity) else float(p)
                for p in parts
            )
        except (TypeError, ValueError, u.UnitConversionError) as exc:
            raise ObservationError(f"beam must be (B_maj, B_min) in arcsec, got {beam!r}") from exc
    try:
        beam_size_sq(spec, 1e5)
    except ValueError as exc:
        raise ObservationError(str(exc)) from exc
    return spec


def to_beam(beam):
    """A beam object: :class:`SingleDishBeam` for a dish, :class:`radio_beam.Beam` otherwise
    (any input of :func:`as_beam_spec`; B_maj, B_min in arcsec, position angle 0)."""
    if isinstance(beam, SingleDishBeam) or (hasattr(beam, "major") and np.ndim(beam.major) == 0):
        return beam
    spec = as_beam_spec(beam)
    if np.ndim(spec) == 0:
        return SingleDishBeam(float(spec))
    import astropy.units as u
    from radio_beam import Beam

    return Beam(major=spec[0] * u.arcsec, minor=spec[1] * u.arcsec)


def beam_area_sr(beam, freq_mhz) -> np.ndarray:
    """Beam solid angle (sr) at each frequency (MHz).

    ``beam``: anything :func:`to_beam` takes, :class:`radio_beam.Beams` (one per
    frequency), or an array (n_freq, ≥ 2) of B_maj, B_min in arcsec per frequency
    (a :class:`~spectuner_nb.cube.load.CubeWindow`'s ``beams``).
    """
    freq = np.asarray(freq_mhz, dtype=float)
    if hasattr(beam, "major") and np.ndim(beam.major) == 1:  # radio_beam.Beams
        import astropy.units as u

        beam = np.stack([beam.major.to_value(u.arcsec), beam.minor.to_value(u.arcsec)], axis=1)
    if isinstance(beam, np.ndarray) and beam.ndim == 2:
        if beam.shape[0] != freq.size or beam.shape[1] < 2:
            raise ObservationError(
                f"per-channel beams of shape {beam.shape} for {freq.size} "
                "frequencies; need (n_freq, ≥ 2)"
            )
        return _GAUSSIAN_AREA * beam[:, 0] * beam[:, 1] / _ARCSEC2_PER_SR
    beam = to_beam(beam)
    if isinstance(beam, SingleDishBeam):
        return beam.sr(freq)
    import astropy.units as u

    return np.full(freq.shape, beam.sr.to_value(u.sr))


def kelvin_per_jy_beam(freq_mhz, beam) -> np.ndarray:
    """K per (Jy/beam) at each frequency (MHz), Rayleigh–Jeans (module docstring).

    ``beam`` as in :func:`beam_area_sr`. Divide by it to convert K into Jy/beam.
    """
    import astropy.units as u

    freq = np.asarray(freq_mhz, dtype=float)
    k_per_jy_sr = (1.0 * u.Jy / u.sr).to_value(
        u.K, equivalencies=u.brightness_temperature(freq * u.MHz)
    )
    return k_per_jy_sr / beam_area_sr(beam, freq)


def beam_from_header(header: Mapping):
    """The :class:`radio_beam.Beam` of a FITS header (BMAJ/BMIN/BPA in degrees, or a
    CASA/AIPS history record), or None when the header has none."""
    from radio_beam import Beam
    from radio_beam.beam import NoBeamException

    if "BMAJ" not in header and not any("BMAJ" in str(v) for v in header.get("HISTORY", [])):
        return None
    try:
        return Beam.from_fits_header(header)
    except (NoBeamException, TypeError, ValueError, KeyError):
        return None


def header_keywords(beam) -> dict[str, float]:
    """FITS keywords of a beam: {"BMAJ", "BMIN", "BPA"} in degrees.

    ``beam``: a :class:`radio_beam.Beam`, or B_maj, B_min (arcsec) and optionally the
    position angle (degrees), e.g. a row of a CubeWindow's ``beams``.
    """
    if hasattr(beam, "to_header_keywords"):
        return {k: float(v) for k, v in beam.to_header_keywords().items()}
    values = [float(b) for b in np.asarray(beam, dtype=float).ravel()]
    if len(values) not in (2, 3):
        raise ObservationError(f"beam must be (B_maj, B_min[, PA]), got {beam!r}")
    pa = values[2] if len(values) == 3 else 0.0
    return {"BMAJ": values[0] / 3600.0, "BMIN": values[1] / 3600.0, "BPA": pa}


def common_beam(beams):
    """The smallest :class:`radio_beam.Beam` enclosing every beam of ``beams``
    (:class:`radio_beam.Beams`, or an array (n, 3) of B_maj″, B_min″, PA°); the beam itself
    when all are equal."""
    import astropy.units as u
    from radio_beam import Beam, Beams

    if not hasattr(beams, "common_beam"):
        arr = np.atleast_2d(np.asarray(beams, dtype=float))
        beams = Beams(
            major=arr[:, 0] * u.arcsec,
            minor=arr[:, 1] * u.arcsec,
            pa=(arr[:, 2] if arr.shape[1] > 2 else np.zeros(len(arr))) * u.deg,
        )
    if len(beams) == 0:
        raise ObservationError("no beam to combine")
    first = beams[0]
    if all(b == first for b in beams):
        return Beam(major=first.major, minor=first.minor, pa=first.pa)
    return beams.common_beam()


def median_beam(beams: np.ndarray) -> tuple[float, float]:
    """The beam the model uses for a cube: median B_maj and median B_min (arcsec) of per-channel
    beams (n_chan, ≥ 2) in arcsec; channel-by-channel K conversion keeps each channel's own."""
    b = np.atleast_2d(np.asarray(beams, dtype=float))
    if b.size == 0:
        raise ObservationError("no beam to take the median of")
    return float(np.median(b[:, 0])), float(np.median(b[:, 1]))
