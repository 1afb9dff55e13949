"""Observation: the observed spectral windows of one line of sight, ready to fit.

An :class:`Observation` holds one or more spectral windows, each with channel
frequencies (MHz, ascending, in the observer's LSR frame), intensities in K
(Rayleigh–Jeans brightness temperature), the rms noise (K) and the continuum
(background) temperature (K), plus the beam and the systemic velocity v_LSR
(km/s). The fitting code only reads :attr:`Observation.rest_freqs` (the
frequencies corrected to the source rest frame with v_LSR), the intensities,
the rms, the background and the beam. Files (FITS spectra, text tables, cube pixels)
are read by :meth:`Observation.read` through the readers registered in
:mod:`spectuner_nb.readers`; beams and Jy/beam → K are :mod:`spectuner_nb.beam`'s.

NaN channels are masked, never propagated: NaNs at a window edge are trimmed
and NaN runs inside a window split it in two, so every stored window is a
contiguous, finite run of channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .beam import as_beam_spec, kelvin_per_jy_beam
from .doppler import rest_frequency
from .errors import ObservationError
from .parameters import BeamSpec, is_single_dish, reference_beam_sq

__all__ = [
    "MIN_CHANNELS",
    "FREQ_RANGE_MHZ",
    "V_LSR_MAX_KMS",
    "robust_rms",
    "check_v_lsr",
    "jy_per_beam_to_k",
    "Observation",
    "load_cube",
]

MIN_CHANNELS: int = 4
"""Smallest number of finite channels a stored window may have."""
FREQ_RANGE_MHZ: tuple[float, float] = (1.0e3, 1.0e7)
"""Plausible channel frequencies of ALMA-class data, MHz (1 GHz – 10 THz): values outside
are in another unit (GHz, Hz) or not data this package models."""
V_LSR_MAX_KMS: float = 1000.0
"""Largest plausible |v_LSR|, km/s: Galactic sources and nearby galaxies lie well within it;
larger values are in m/s (the FITS VELO-LSR keyword) or are redshifts."""

jy_per_beam_to_k = kelvin_per_jy_beam
"""K per (Jy/beam) at each frequency (MHz) for a beam: :func:`spectuner_nb.beam.kelvin_per_jy_beam`
(the name of earlier releases)."""


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


def _check_frequencies(i: int, f: np.ndarray) -> None:
    """ObservationError when window ``i``'s frequencies (MHz) lie outside
    :data:`FREQ_RANGE_MHZ`, with a hint at the unit they are probably in."""
    lo, hi = FREQ_RANGE_MHZ
    if f[0] >= lo and f[-1] <= hi:
        return
    if 1.0 <= f[0] and f[-1] < lo:
        hint = "they look like GHz: give MHz (×1000) or an astropy Quantity"
    elif f[-1] > hi:
        hint = "they look like Hz or kHz: give MHz or an astropy Quantity"
    else:
        hint = "give them in MHz (or as an astropy Quantity)"
    raise ObservationError(
        f"window {i}: frequencies {f[0]:.6g}–{f[-1]:.6g} MHz lie outside the plausible "
        f"{lo:g}–{hi:g} MHz; {hint}"
    )


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
        return float(unit.to(u.Jy / u.beam)) * kelvin_per_jy_beam(freq_mhz, beam)
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
            _check_frequencies(i, f)
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
        beam_spec = as_beam_spec(beam)
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
    def read(cls, path, format: str | None = None, **options) -> Observation:
        """Read an observation from a file with the reader registered for ``format``
        ("fits", "text", "cube"; guessed from the file when None).

        ``options``: ``beam``, ``rms``, ``T_bg``, ``v_lsr`` as in :meth:`from_arrays`, and the
        format's own (``unit``/``freq_unit`` for text, ``pixel``/``region`` for cubes); see
        :mod:`spectuner_nb.readers`.
        """
        from .readers import read_observation

        return read_observation(path, format, **options)

    @classmethod
    def from_fits(cls, paths, *, beam=None, rms=None, T_bg=0.0, v_lsr=0.0) -> Observation:
        """Read 1-D FITS spectra (one file per window) with a spectral WCS.

        The spectral axis may be frequency, or velocity/wavelength with a rest
        frequency in the header; BUNIT must be K or Jy/beam. The beam comes from
        BMAJ/BMIN unless given; a descending axis is reversed.
        """
        from .readers import read_fits_spectrum

        return read_fits_spectrum(paths, beam=beam, rms=rms, T_bg=T_bg, v_lsr=v_lsr)

    @classmethod
    def from_cube_pixel(
        cls, cubes, x: int, y: int, *, beam=None, rms=None, T_bg=0.0, v_lsr=0.0
    ) -> Observation:
        """One pixel (x = column, y = row) of one cube per window.

        ``cubes``: a ``spectral_cube.SpectralCube``, a path readable by
        spectral-cube (FITS or CASA image), or a list of those (one per window).
        The beam is read from the cube (the median of per-channel beams) unless
        given; Jy/beam is converted to K channel by channel.
        """
        from .readers import read_cube_spectrum

        return read_cube_spectrum(cubes, pixel=(x, y), beam=beam, rms=rms, T_bg=T_bg, v_lsr=v_lsr)

    @classmethod
    def from_cube_region(
        cls,
        cubes,
        x: tuple[int, int],
        y: tuple[int, int],
        *,
        beam=None,
        rms=None,
        T_bg=0.0,
        v_lsr=0.0,
    ) -> Observation:
        """The mean spectrum of the pixels x0…x1, y0…y1 (inclusive) of one cube per window.

        ``cubes`` as in :meth:`from_cube_pixel`; channels masked in every pixel of the
        region are masked. The rms is estimated from the averaged spectrum unless given.
        """
        from .readers import read_cube_spectrum

        return read_cube_spectrum(cubes, region=(x, y), beam=beam, rms=rms, T_bg=T_bg, v_lsr=v_lsr)

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
        return [rest_frequency(f, self.v_lsr) for f in self.freqs]

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

    def with_intensities(
        self, intensities: Sequence[np.ndarray], name: str | None = None
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
            "beam": float(self.beam) if is_single_dish(self.beam) else list(self.beam),
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
        beam = (
            f"{self.beam:.1f} m dish"
            if is_single_dish(self.beam)
            else f'{self.beam[0]:.3g}"×{self.beam[1]:.3g}"'
        )
        label = f" {self.name!r}" if self.name else ""
        return (
            f"<Observation{label}: {self.n_windows} window(s) ["
            + "; ".join(parts)
            + f"], beam {beam}, v_LSR {self.v_lsr:g} km/s>"
        )


def load_cube(item):
    """A spectral-cube object from a cube or a path: :func:`spectuner_nb.readers.open_cube`
    (the name of earlier releases)."""
    from .readers import open_cube

    return open_cube(item)
