"""Observation: the observed spectral windows of one line of sight, ready to fit.

An :class:`Observation` holds one or more spectral windows, each with channel
frequencies (MHz, ascending, in the observer's LSR frame), intensities in K
(Rayleigh–Jeans brightness temperature), the rms noise (K) and the continuum
(background) temperature (K), plus the beam and the systemic velocity v_LSR
(km/s). The fitting code only reads :attr:`Observation.rest_freqs` (the
frequencies corrected to the source rest frame with v_LSR), the intensities,
the rms, the background and the beam.

NaN channels are masked, never propagated: NaNs at a window edge are trimmed
and NaN runs inside a window split it in two, so every stored window is a
contiguous, finite run of channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .constants import C_KM_S, C_M_S, K_B_J_K
from .errors import ObservationError
from .parameters import BeamSpec, beam_size_sq, is_single_dish, reference_beam_sq

__all__ = ["MIN_CHANNELS", "robust_rms", "jy_per_beam_to_k", "Observation", "load_cube"]

MIN_CHANNELS: int = 4
"""Smallest number of finite channels a stored window may have."""
FREQ_RANGE_MHZ: tuple[float, float] = (10.0, 1.0e7)
"""Plausible channel frequencies, MHz (10 MHz – 10 THz): values outside are in another unit."""
V_LSR_MAX_KMS: float = 0.1 * C_KM_S
"""Largest plausible |v_LSR|, km/s (0.1 c): larger values are in m/s or are redshifts."""

_ARCSEC_PER_RAD = 180.0 / np.pi * 3600.0
_BEAM_AREA_FACTOR = np.pi / (4.0 * np.log(2.0))
"""Ω_beam = _BEAM_AREA_FACTOR · θ_maj θ_min for a Gaussian beam (FWHMs)."""


def robust_rms(intensity: np.ndarray) -> float:
    """Noise rms (same unit as ``intensity``) by iterative 3σ clipping about the median.

    Lines are clipped away as outliers, so this works on line-rich spectra as
    long as line-free channels exist. NaNs are ignored.
    """
    from astropy.stats import sigma_clipped_stats

    data = np.asarray(intensity, dtype=float)
    data = data[np.isfinite(data)]
    if data.size < MIN_CHANNELS:
        raise ObservationError(f"cannot estimate rms from {data.size} finite channels")
    _, _, std = sigma_clipped_stats(data, sigma=3.0, maxiters=20)
    if not np.isfinite(std) or std <= 0:
        # constant data (e.g. a noiseless model): fall back to a tiny positive rms
        std = max(float(np.max(np.abs(data))) * 1e-6, 1e-12)
    return float(std)


def check_v_lsr(v_lsr: float) -> float:
    """``v_lsr`` (km/s) if finite and plausible (|v| ≤ :data:`V_LSR_MAX_KMS`), else
    :class:`ObservationError` (the FITS VELO-LSR keyword is in m/s)."""
    try:
        v = float(v_lsr)
    except (TypeError, ValueError) as exc:
        raise ObservationError(f"v_lsr must be a number in km/s, got {v_lsr!r}") from exc
    if not np.isfinite(v):
        raise ObservationError(f"v_lsr must be finite, got {v_lsr}")
    if abs(v) > V_LSR_MAX_KMS:
        raise ObservationError(
            f"v_LSR = {v:g} km/s is not plausible (|v_LSR| ≤ {V_LSR_MAX_KMS:.0f} km/s); "
            f"v_LSR is in km/s, the FITS VELO-LSR keyword in m/s ({v / 1e3:g} km/s?)"
        )
    return v


def _to_beam_spec(beam) -> BeamSpec:
    """Normalise a beam to the model's spec: dish diameter (m) or (B_maj, B_min) in arcsec."""
    import astropy.units as u

    if beam is None:
        raise ObservationError(
            "missing beam: give a radio_beam.Beam, (B_maj, B_min) in arcsec or a dish "
            "diameter in m"
        )
    if hasattr(beam, "major") and hasattr(beam, "minor"):  # radio_beam.Beam
        spec = (float(beam.major.to_value(u.arcsec)), float(beam.minor.to_value(u.arcsec)))
    elif isinstance(beam, u.Quantity) and beam.isscalar:
        if not beam.unit.is_equivalent(u.m):
            raise ObservationError(f"a scalar beam must be a dish diameter (length), got {beam}")
        spec = float(beam.to_value(u.m))
    elif not isinstance(beam, list | tuple | np.ndarray | u.Quantity):
        spec = float(beam)
    else:
        parts = list(beam)
        if len(parts) != 2:
            raise ObservationError(f"beam must be (B_maj, B_min), got {beam!r}")
        spec = tuple(
            float(p.to_value(u.arcsec)) if isinstance(p, u.Quantity) else float(p) for p in parts
        )
    try:
        beam_size_sq(spec, 1e5)
    except ValueError as exc:
        raise ObservationError(str(exc)) from exc
    return spec


def jy_per_beam_to_k(freq_mhz: np.ndarray, beam: BeamSpec) -> np.ndarray:
    """Rayleigh–Jeans factor K per (Jy/beam) at each frequency (MHz) for a Gaussian beam.

    T = S c² / (2 k ν² Ω) with Ω = π θ_maj θ_min / (4 ln 2); for a single dish
    θ = 1.22 c/(ν D) at each frequency.
    """
    freq_hz = np.asarray(freq_mhz, dtype=float) * 1e6
    theta_sq_rad = beam_size_sq(beam, freq_mhz) / _ARCSEC_PER_RAD**2
    omega = _BEAM_AREA_FACTOR * theta_sq_rad
    return 1e-26 * C_M_S**2 / (2.0 * K_B_J_K * freq_hz**2 * omega)


def _intensity_factor(unit, freq_mhz: np.ndarray, beam: BeamSpec) -> np.ndarray | float:
    """Multiplicative factor turning intensities in ``unit`` into K."""
    import astropy.units as u

    try:
        unit = u.Unit(unit)
    except (ValueError, TypeError) as exc:
        raise ObservationError(f"unknown intensity unit {unit!r}") from exc
    if unit.is_equivalent(u.K):
        return float(unit.to(u.K))
    if unit.is_equivalent(u.Jy / u.beam):
        return float(unit.to(u.Jy / u.beam)) * jy_per_beam_to_k(freq_mhz, beam)
    raise ObservationError(
        f"intensity unit {unit} is neither a temperature (K) nor Jy/beam; convert it first"
    )


def _as_mhz(freq) -> np.ndarray:
    """Frequencies as a float array in MHz (plain numbers are taken as MHz)."""
    import astropy.units as u

    if isinstance(freq, u.Quantity):
        try:
            return np.atleast_1d(freq.to_value(u.MHz, equivalencies=u.spectral())).astype(float)
        except u.UnitConversionError as exc:
            raise ObservationError(
                f"spectral axis in {freq.unit} cannot be converted to MHz (velocity axes need "
                "a rest frequency: use Observation.from_fits)"
            ) from exc
    return np.atleast_1d(np.asarray(freq, dtype=float))


def _split_finite(freq: np.ndarray, data: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Contiguous finite runs of (freq, data) with at least MIN_CHANNELS channels."""
    good = np.isfinite(data) & np.isfinite(freq)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], good.astype(int), [0]])))
    runs = []
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start >= MIN_CHANNELS:
            runs.append((freq[start:stop], data[start:stop]))
    return runs


def _per_window(value, n: int, name: str) -> np.ndarray:
    """A scalar or length-n sequence as a float array of n values."""
    import astropy.units as u

    if isinstance(value, u.Quantity):
        value = value.to_value(u.K)
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    arr = arr.ravel()
    if arr.size != n:
        raise ObservationError(f"{name}: {arr.size} values for {n} windows")
    return arr.copy()


@dataclass(frozen=True)
class Observation:
    """Observed spectral windows of one line of sight.

    Attributes
    ----------
    freqs
        Channel frequencies per window, MHz, ascending, observer (LSR) frame.
    intensities
        Brightness temperature per window, K (finite).
    rms
        Noise rms per window, K, shape (n_windows,).
    T_bg
        Continuum/background brightness temperature per window, K.
    beam
        Dish diameter in m (float) or (B_maj, B_min) in arcsec.
    v_lsr
        Systemic velocity, km/s; :attr:`rest_freqs` are corrected with it.
    name
        Free-form label (file and pixel, for instance).
    """

    freqs: tuple[np.ndarray, ...]
    intensities: tuple[np.ndarray, ...]
    rms: np.ndarray
    T_bg: np.ndarray
    beam: BeamSpec
    v_lsr: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.freqs) == 0:
            raise ObservationError("an observation needs at least one spectral window")
        if len(self.freqs) != len(self.intensities):
            raise ObservationError("freqs and intensities must have one entry per window")
        for i, (f, y) in enumerate(zip(self.freqs, self.intensities, strict=True)):
            if f.shape != y.shape or f.ndim != 1:
                raise ObservationError(f"window {i}: frequency and intensity shapes differ")
            if f.size < MIN_CHANNELS:
                raise ObservationError(f"window {i} has {f.size} channels (< {MIN_CHANNELS})")
            if not (np.all(np.isfinite(f)) and np.all(np.isfinite(y))):
                raise ObservationError(f"window {i}: non-finite values left after masking")
            if f[0] < FREQ_RANGE_MHZ[0] or f[-1] > FREQ_RANGE_MHZ[1]:
                raise ObservationError(
                    f"window {i}: frequencies {f[0]:.6g}–{f[-1]:.6g} MHz lie outside the "
                    f"plausible {FREQ_RANGE_MHZ[0]:g}–{FREQ_RANGE_MHZ[1]:g} MHz; give them in "
                    "MHz (or as an astropy Quantity)"
                )
            step = np.diff(f)
            if np.any(step == 0):
                raise ObservationError(f"window {i}: duplicated frequencies")
            if np.any(step < 0):
                raise ObservationError(
                    f"window {i}: frequencies must be ascending (reverse the window first)"
                )
        if np.shape(self.rms) != (len(self.freqs),) or np.any(~(np.asarray(self.rms) > 0)):
            raise ObservationError(f"rms must be one positive value per window, got {self.rms}")
        if np.shape(self.T_bg) != (len(self.freqs),) or not np.all(np.isfinite(self.T_bg)):
            raise ObservationError(f"T_bg must be one finite value per window, got {self.T_bg}")
        check_v_lsr(self.v_lsr)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(
        cls,
        freqs,
        intensities,
        *,
        beam,
        rms=None,
        T_bg=0.0,
        v_lsr=0.0,
        unit="K",
        name: str = "",
    ) -> Observation:
        """Build from arrays: one window (1-D arrays) or several (sequences of 1-D arrays).

        Parameters
        ----------
        freqs
            Channel frequencies in MHz (or frequency/wavelength Quantities), ascending.
        intensities
            Intensities in ``unit`` (or Quantities in K or Jy/beam). NaNs are masked.
        beam
            ``radio_beam.Beam``, (B_maj, B_min) in arcsec (floats or Quantities), or a
            dish diameter (float in m or a length Quantity).
        rms
            Noise per window in K (scalar or one per window); ``None`` estimates it
            robustly from each window (:func:`robust_rms`).
        T_bg
            Continuum temperature per window, K (scalar or one per window).
        v_lsr
            Systemic velocity in km/s (or a velocity Quantity).
        unit
            Unit of plain-number intensities: "K", "Jy/beam", "mJy/beam", …
        """
        import astropy.units as u

        if isinstance(freqs, list | tuple):
            single = len(freqs) > 0 and np.ndim(freqs[0]) == 0
        else:
            single = np.ndim(freqs) <= 1
        f_list = [freqs] if single else list(freqs)
        y_list = [intensities] if single else list(intensities)
        if len(f_list) != len(y_list):
            raise ObservationError(
                f"{len(f_list)} frequency arrays for {len(y_list)} intensity arrays"
            )
        if len(f_list) == 0:
            raise ObservationError("an observation needs at least one spectral window")
        beam_spec = _to_beam_spec(beam)
        if isinstance(v_lsr, u.Quantity):
            v_lsr = v_lsr.to_value(u.km / u.s)
        rms_in = None if rms is None else _per_window(rms, len(f_list), "rms")
        bg_in = _per_window(T_bg, len(f_list), "T_bg")
        out_f, out_y, out_rms, out_bg = [], [], [], []
        for i, (f, y) in enumerate(zip(f_list, y_list, strict=True)):
            f_mhz = _as_mhz(f)
            y_unit = y.unit if isinstance(y, u.Quantity) else unit
            y_val = np.atleast_1d(y.value if isinstance(y, u.Quantity) else np.asarray(y, float))
            if f_mhz.shape != y_val.shape or f_mhz.ndim != 1:
                raise ObservationError(
                    f"window {i}: {f_mhz.shape} frequencies for {y_val.shape} intensities"
                )
            if f_mhz.size == 0:
                raise ObservationError(f"window {i} is empty")
            y_k = y_val * _intensity_factor(y_unit, f_mhz, beam_spec)
            runs = _split_finite(f_mhz, y_k)
            if not runs:
                raise ObservationError(
                    f"window {i} has fewer than {MIN_CHANNELS} finite channels in a row"
                )
            window_rms = robust_rms(y_k) if rms_in is None else float(rms_in[i])
            for rf, ry in runs:
                out_f.append(rf.copy())
                out_y.append(ry.copy())
                out_rms.append(window_rms)
                out_bg.append(bg_in[i])
        return cls(
            freqs=tuple(out_f),
            intensities=tuple(out_y),
            rms=np.asarray(out_rms),
            T_bg=np.asarray(out_bg),
            beam=beam_spec,
            v_lsr=float(v_lsr),
            name=name,
        )

    @classmethod
    def from_fits(cls, paths, *, beam=None, rms=None, T_bg=0.0, v_lsr=0.0) -> Observation:
        """Read 1-D FITS spectra (one file per window) with a spectral WCS.

        The spectral axis may be frequency, or velocity/wavelength with a rest
        frequency in the header; BUNIT must be K or Jy/beam. The beam comes from
        BMAJ/BMIN unless given; a descending axis is reversed.
        """
        paths = [paths] if isinstance(paths, str | Path) else list(paths)
        freqs, data = [], []
        beam_found = beam
        for path in paths:
            f, y, b = _read_fits_spectrum(Path(path))
            freqs.append(f)
            data.append(y)
            beam_found = beam_found if beam_found is not None else b
        return cls.from_arrays(
            freqs, data, beam=beam_found, rms=rms, T_bg=T_bg, v_lsr=v_lsr,
            name=", ".join(Path(p).name for p in paths),
        )

    @classmethod
    def from_cube_pixel(
        cls, cubes, x: int, y: int, *, beam=None, rms=None, T_bg=0.0, v_lsr=0.0
    ) -> Observation:
        """One pixel (x = column, y = row) of one cube per window.

        ``cubes``: a ``spectral_cube.SpectralCube``, a path readable by
        spectral-cube (FITS or CASA image), or a list of those (one per window).
        The beam is read from the cube (the median beam for per-channel beams)
        unless given; Jy/beam is converted to K.
        """
        return cls._from_cubes(cubes, (x, x), (y, y), f"pixel ({x}, {y})", beam=beam, rms=rms,
                               T_bg=T_bg, v_lsr=v_lsr)

    @classmethod
    def from_cube_region(
        cls, cubes, x: tuple[int, int], y: tuple[int, int], *, beam=None, rms=None, T_bg=0.0,
        v_lsr=0.0,
    ) -> Observation:
        """The mean spectrum of the pixels x0…x1, y0…y1 (inclusive) of one cube per window.

        ``cubes`` as in :meth:`from_cube_pixel`; channels masked in every pixel of the
        region are masked. The rms is estimated from the averaged spectrum unless given.
        """
        (x0, x1), (y0, y1) = (sorted(map(int, x)), sorted(map(int, y)))
        return cls._from_cubes(cubes, (x0, x1), (y0, y1), f"mean of x {x0}–{x1}, y {y0}–{y1}",
                               beam=beam, rms=rms, T_bg=T_bg, v_lsr=v_lsr)

    @classmethod
    def _from_cubes(cls, cubes, x: tuple[int, int], y: tuple[int, int], label: str, *, beam,
                    rms, T_bg, v_lsr) -> Observation:
        """Pixel x0…x1, y0…y1 of each cube: the pixel itself, or the mean of a region."""
        items = cubes if isinstance(cubes, list | tuple) else [cubes]
        (x0, x1), (y0, y1) = x, y
        freqs, data, names = [], [], []
        beam_found = beam
        for item in items:
            cube = load_cube(item)
            if not (0 <= y0 and y1 < cube.shape[1] and 0 <= x0 and x1 < cube.shape[2]):
                raise ObservationError(f"{label} outside cube of shape {cube.shape}")
            px, py = (x0, y0) if (x0, y0) == (x1, y1) else (slice(x0, x1 + 1), slice(y0, y1 + 1))
            f, spec, b = _cube_spectrum(cube, px, py)
            freqs.append(f)
            data.append(spec)
            beam_found = beam_found if beam_found is not None else b
            names.append(Path(str(item)).name if isinstance(item, str | Path) else "cube")
        return cls.from_arrays(
            freqs, data, beam=beam_found, rms=rms, T_bg=T_bg, v_lsr=v_lsr,
            name=f"{', '.join(names)} {label}",
        )

    # ------------------------------------------------------------------ derived views
    @property
    def n_windows(self) -> int:
        """Number of stored (contiguous, finite) windows."""
        return len(self.freqs)

    @property
    def n_channels(self) -> int:
        """Total number of channels over all windows."""
        return int(sum(f.size for f in self.freqs))

    @property
    def rest_freqs(self) -> list[np.ndarray]:
        """Channel frequencies in the source rest frame, MHz: ν / (1 − v_LSR/c)."""
        scale = 1.0 / (1.0 - self.v_lsr / C_KM_S)
        return [f * scale for f in self.freqs]

    @property
    def windows(self) -> list[tuple[float, float]]:
        """(f_min, f_max) of each window in the rest frame, MHz."""
        return [(float(f[0]), float(f[-1])) for f in self.rest_freqs]

    @property
    def theta_b_sq_ref(self) -> float:
        """Reference θ_b² (arcsec²) for θ ↔ η: the beam at the mean observed frequency."""
        return reference_beam_sq(self.beam, float(np.mean(np.concatenate(self.rest_freqs))))

    @property
    def is_single_dish(self) -> bool:
        """True when the beam is a dish diameter."""
        return is_single_dish(self.beam)

    def with_intensities(self, intensities: Sequence[np.ndarray], name: str | None = None
                         ) -> Observation:
        """A copy with new intensities (K), same channels, rms, background and beam."""
        return Observation(
            freqs=self.freqs,
            intensities=tuple(np.asarray(y, dtype=float) for y in intensities),
            rms=self.rms,
            T_bg=self.T_bg,
            beam=self.beam,
            v_lsr=self.v_lsr,
            name=self.name if name is None else name,
        )

    def to_dict(self) -> dict:
        """A JSON-serialisable description (frequencies MHz, intensities K)."""
        return {
            "freqs_mhz": [f.tolist() for f in self.freqs],
            "intensities_k": [y.tolist() for y in self.intensities],
            "rms_k": self.rms.tolist(),
            "T_bg_k": self.T_bg.tolist(),
            "beam": list(self.beam) if not self.is_single_dish else float(self.beam),
            "v_lsr_kms": self.v_lsr,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Observation:
        """Inverse of :meth:`to_dict`."""
        beam = data["beam"]
        return cls(
            freqs=tuple(np.asarray(f, dtype=float) for f in data["freqs_mhz"]),
            intensities=tuple(np.asarray(y, dtype=float) for y in data["intensities_k"]),
            rms=np.asarray(data["rms_k"], dtype=float),
            T_bg=np.asarray(data["T_bg_k"], dtype=float),
            beam=tuple(beam) if isinstance(beam, list) else float(beam),
            v_lsr=float(data.get("v_lsr_kms", 0.0)),
            name=data.get("name", ""),
        )

    def __repr__(self) -> str:
        parts = [
            f"{f[0]:.2f}–{f[-1]:.2f} MHz ({f.size} ch, rms {r * 1e3:.1f} mK)"
            for f, r in zip(self.freqs, self.rms, strict=True)
        ]
        beam = (f"{self.beam:.1f} m dish" if self.is_single_dish
                else f"{self.beam[0]:.3g}\"×{self.beam[1]:.3g}\"")
        label = f" {self.name!r}" if self.name else ""
        return (f"<Observation{label}: {self.n_windows} window(s) [" + "; ".join(parts)
                + f"], beam {beam}, v_LSR {self.v_lsr:g} km/s>")


def load_cube(item):
    """A SpectralCube from a cube object or a path (FITS or CASA image)."""
    from spectral_cube import SpectralCube

    if hasattr(item, "spectral_axis"):
        return item
    path = Path(item)
    if not path.exists():
        raise ObservationError(f"cube {path} not found")
    try:
        fmt = "casa_image" if path.is_dir() else None
        cube = SpectralCube.read(str(path), format=fmt) if fmt else SpectralCube.read(str(path))
    except Exception as exc:  # spectral-cube raises many types for unreadable files
        raise ObservationError(f"cannot read cube {path}: {exc}") from exc
    return cube


def _cube_spectrum(cube, x: int | slice, y: int | slice):
    """(freq MHz ascending, intensity Quantity, beam) of one pixel of a SpectralCube, or
    the mean over the pixels of slices ``x``, ``y`` (masked values left out)."""
    import astropy.units as u

    try:
        fcube = cube.with_spectral_unit(u.MHz, velocity_convention="radio")
    except Exception as exc:
        raise ObservationError(f"cannot convert the spectral axis to MHz: {exc}") from exc
    freq = np.asarray(fcube.spectral_axis.to_value(u.MHz), dtype=float)
    spec = fcube.unmasked_data[:, y, x]
    unit = spec.unit
    if unit == u.dimensionless_unscaled:
        raise ObservationError("cube has no intensity unit (BUNIT); cannot convert to K")
    values = np.asarray(spec.value, dtype=float)
    mask = fcube.mask.include(view=(slice(None), y, x))
    values = np.where(mask, values, np.nan)
    if values.ndim == 3:
        finite = np.isfinite(values).sum(axis=(1, 2))
        values = np.where(finite > 0, np.nansum(values, axis=(1, 2)) / np.maximum(finite, 1),
                          np.nan)
    beam = _cube_beam(cube)
    if freq.size > 1 and freq[1] < freq[0]:
        freq, values = freq[::-1], values[::-1]
    return freq, values * _normalise_unit(unit), beam


def _cube_beam(cube):
    """The cube's beam (the common beam of per-channel beams), or None when it has none
    (spectral-cube raises its own NoBeamError and others for missing beams)."""
    try:
        beam = getattr(cube, "beam", None)
        if beam is None and hasattr(cube, "beams"):
            beam = cube.beams.common_beam() if len(cube.beams) else None
    except Exception:  # spectral_cube.NoBeamError and radio-beam errors
        return None
    return beam


def _normalise_unit(unit):
    """Map FITS spellings such as 'beam-1 Jy' onto astropy units."""
    import astropy.units as u

    if unit.is_equivalent(u.Jy / u.beam) or unit.is_equivalent(u.K):
        return unit
    raise ObservationError(f"unknown intensity unit {unit}")


def _read_fits_spectrum(path: Path):
    """(freq MHz ascending, intensity Quantity, beam or None) of a 1-D FITS spectrum."""
    import astropy.units as u
    from astropy.io import fits
    from astropy.wcs import WCS

    if not path.exists():
        raise ObservationError(f"spectrum {path} not found")
    try:
        with fits.open(path) as hdul:
            hdu = next((h for h in hdul if h.data is not None and h.data.ndim >= 1), None)
            if hdu is None:
                raise ObservationError(f"{path}: no data")
            data = np.asarray(hdu.data, dtype=float).squeeze()
            header = hdu.header
    except ObservationError:
        raise
    except Exception as exc:  # astropy raises OSError, TypeError, VerifyError…
        raise ObservationError(f"{path} is not a readable FITS file: {exc}") from exc
    if data.ndim != 1:
        raise ObservationError(
            f"{path}: data has shape {data.shape}; use Observation.from_cube_pixel for cubes"
        )
    try:
        wcs = WCS(header).sub(["spectral"])
        axis = wcs.pixel_to_world(np.arange(data.size))
        freq = axis.to(u.MHz, equivalencies=u.doppler_radio(wcs.wcs.restfrq * u.Hz)
                       if wcs.wcs.restfrq else u.spectral())
    except Exception as exc:
        raise ObservationError(f"{path}: no usable spectral axis ({exc})") from exc
    try:
        unit = u.Unit(header.get("BUNIT", ""), parse_strict="raise")
    except ValueError as exc:
        raise ObservationError(f"{path}: unknown BUNIT {header.get('BUNIT')!r}") from exc
    if unit == u.dimensionless_unscaled:
        raise ObservationError(f"{path}: BUNIT missing; cannot tell K from Jy/beam")
    beam = None
    if "BMAJ" in header and "BMIN" in header:
        beam = (header["BMAJ"] * 3600.0, header["BMIN"] * 3600.0)
    f = np.asarray(freq.value if hasattr(freq, "value") else freq, dtype=float)
    if f.size > 1 and f[1] < f[0]:
        f, data = f[::-1], data[::-1]
    return f, data * _normalise_unit(unit), beam
