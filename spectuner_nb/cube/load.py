"""Load spectral-window cubes (FITS or CASA images) onto one sky grid, in kelvin.

One :class:`CubeWindow` per spectral window, several windows of one source in a
:class:`CubeSet`. Reading goes through spectral-cube (FITS files and CASA image
directories), beams through radio-beam (one beam, or one per channel), both by
:func:`spectuner_nb.readers.read_cube`, the loader the one-spectrum readers use too. On load:

* the spectral axis is converted to observed (LSRK/sky) frequency in MHz
  (radio convention for velocity axes) and sorted ascending;
* Jy/beam is converted to K with the Rayleigh–Jeans relation
  T = c² I / (2 k ν² Ω_beam), channel by channel (per-channel beams included;
  :func:`spectuner_nb.beam.kelvin_per_jy_beam`);
* an optional continuum image per window is converted the same way at the
  window's mean frequency; it becomes the per-pixel background T_bg (K);
* bad channels (given by the user, or empty in every pixel) are masked.

The systemic velocity is kept with the data; :class:`~spectuner_nb.observation.Observation`
turns observed into rest-frame frequencies with it (ν_rest = ν_obs / (1 − v_LSR/c)).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.wcs import WCS

from ..beam import beam_from_header, kelvin_per_jy_beam, median_beam
from ..errors import CubeError
from ..observation import check_v_lsr
from ..readers import open_cube, read_cube

__all__ = ["kelvin_per_jy_beam", "CubeWindow", "CubeSet", "read_window", "load_cubes"]

PathLike = str | os.PathLike
BadChannels = np.ndarray | Sequence[tuple[int, int]] | None
"""Bad channels of one window: a boolean mask (n_chan,) or (first, last) index pairs,
inclusive, in the file's channel order."""


@dataclass(frozen=True)
class CubeWindow:
    """One spectral window on the common sky grid.

    Attributes
    ----------
    data
        Brightness, K, shape (n_chan, ny, nx), float32, channels ascending in frequency.
    freq_mhz
        Observed (LSRK) channel frequencies, MHz, ascending.
    beams
        Beam per channel, shape (n_chan, 3): B_maj (arcsec), B_min (arcsec), PA (deg).
    bad
        Bad-channel mask (n_chan,), True = excluded from preprocessing and fits.
    continuum_k
        Continuum brightness per pixel (ny, nx), K, or None.
    source
        Where the window was read from.
    """

    data: np.ndarray
    freq_mhz: np.ndarray
    beams: np.ndarray
    bad: np.ndarray
    continuum_k: np.ndarray | None = None
    source: str = ""

    def __post_init__(self) -> None:
        # The arrays are frozen with the window: the digest below is computed once.
        for arr in self._arrays():
            arr.flags.writeable = False

    def _arrays(self) -> list[np.ndarray]:
        return [
            a
            for a in (self.data, self.freq_mhz, self.bad, self.beams, self.continuum_k)
            if isinstance(a, np.ndarray)
        ]

    @property
    def digest(self) -> str:
        """SHA-256 of the window's data, frequencies, beams, mask and continuum (hex)."""
        cached = self.__dict__.get("_digest")
        if cached is None:
            h = hashlib.sha256()
            for arr in self._arrays():
                a = np.ascontiguousarray(arr)
                h.update(f"{a.dtype.str}{a.shape}".encode())
                h.update(a.reshape(-1).view(np.uint8).data)
            cached = h.hexdigest()
            object.__setattr__(self, "_digest", cached)
        return cached

    @property
    def n_chan(self) -> int:
        """Number of channels."""
        return int(self.freq_mhz.size)

    @property
    def good(self) -> np.ndarray:
        """Mask of the channels used (not bad), (n_chan,)."""
        return ~self.bad

    @property
    def beam_arcsec(self) -> tuple[float, float]:
        """Representative beam (B_maj, B_min) in arcsec: the median over good channels."""
        return median_beam(self.beams[self.good] if self.good.any() else self.beams)

    @property
    def freq_range_mhz(self) -> tuple[float, float]:
        """(lowest, highest) observed channel frequency, MHz."""
        return float(self.freq_mhz[0]), float(self.freq_mhz[-1])


@dataclass
class CubeSet:
    """The spectral windows of one source, sharing one celestial grid.

    Attributes
    ----------
    windows
        One :class:`CubeWindow` per spectral window.
    wcs
        Celestial (2-D) WCS of the pixel grid.
    v_lsr
        Systemic velocity used for rest-frame frequencies, km/s.
    header
        Celestial FITS header (from ``wcs``) plus OBJECT when known.
    """

    windows: list[CubeWindow]
    wcs: WCS
    v_lsr: float = 0.0
    header: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.windows:
            raise CubeError("a CubeSet needs at least one window")
        shapes = {w.data.shape[1:] for w in self.windows}
        if len(shapes) != 1:
            raise CubeError(f"windows are not on one pixel grid: spatial shapes {sorted(shapes)}")

    @property
    def shape(self) -> tuple[int, int]:
        """Spatial shape (ny, nx)."""
        return tuple(self.windows[0].data.shape[1:])  # type: ignore[return-value]

    @property
    def beam_arcsec(self) -> tuple[float, float]:
        """Beam (B_maj, B_min) in arcsec used by the model: median over all good channels."""
        return median_beam(np.concatenate([w.beams[w.good] for w in self.windows]))

    def spectra(self, iy: np.ndarray, ix: np.ndarray, *, masked: bool = False) -> list[np.ndarray]:
        """Spectra (K) of pixels (iy, ix), per window, shape (n_pix, n_chan).

        ``masked=False``: the good channels only; ``masked=True``: every channel,
        bad ones set to NaN (the form :class:`~spectuner_nb.observation.Observation` masks).
        """
        iy = np.atleast_1d(np.asarray(iy, int))
        ix = np.atleast_1d(np.asarray(ix, int))
        out = []
        for w in self.windows:
            if masked:
                spec = np.asarray(w.data[:, iy, ix].T, dtype=float)
                spec[:, w.bad] = np.nan
            else:
                spec = np.asarray(w.data[w.good][:, iy, ix].T, dtype=float)
            out.append(spec)
        return out

    def peak_pixel(self) -> tuple[int, int]:
        """(x, y) of the pixel holding the brightest good channel (K) of any window."""
        peak = np.fmax.reduce(
            [np.fmax.reduce(np.asarray(w.data[w.good], dtype=float), axis=0) for w in self.windows],
            axis=0,
        )
        if not np.isfinite(peak).any():
            raise CubeError("the cube holds no finite value")
        iy, ix = np.unravel_index(int(np.nanargmax(peak)), peak.shape)
        return int(ix), int(iy)

    def t_background(self, iy: np.ndarray | int, ix: np.ndarray | int) -> np.ndarray:
        """Continuum temperature (K) per pixel and window, shape (n_pix, n_windows); 0 if none."""
        iy = np.atleast_1d(np.asarray(iy, int))
        ix = np.atleast_1d(np.asarray(ix, int))
        cols = [
            np.zeros(iy.size) if w.continuum_k is None else w.continuum_k[iy, ix].astype(float)
            for w in self.windows
        ]
        return np.stack(cols, axis=1)

    def fingerprint(self) -> str:
        """A short hash of the data, frequencies, masks and v_LSR (for caches and resume).

        The windows' arrays are read-only, so each window is hashed once.
        """
        h = hashlib.sha256(np.float64(self.v_lsr).tobytes())
        for w in self.windows:
            h.update(w.digest.encode())
        return h.hexdigest()[:16]


def _bad_mask(bad: BadChannels, n_chan: int, path: Path) -> np.ndarray:
    mask = np.zeros(n_chan, bool)
    if bad is None:
        return mask
    arr = np.asarray(bad)
    if arr.dtype == bool:
        if arr.shape != (n_chan,):
            raise CubeError(f"{path}: bad-channel mask has shape {arr.shape}, need ({n_chan},)")
        return arr.copy()
    for first, last in np.atleast_2d(arr).astype(int):
        if not 0 <= first <= last < n_chan:
            raise CubeError(f"{path}: bad-channel range ({first}, {last}) outside 0..{n_chan - 1}")
        mask[first : last + 1] = True
    return mask


def _to_kelvin(values: np.ndarray, unit: u.UnitBase, factor: np.ndarray, what: str) -> np.ndarray:
    """Convert a brightness array to K; ``factor`` is K per Jy/beam (broadcast)."""
    if unit.is_equivalent(u.K):
        return values * unit.to(u.K)
    if unit.is_equivalent(u.Jy / u.beam):
        return values * unit.to(u.Jy / u.beam) * factor
    raise CubeError(f"{what}: brightness unit {unit} is neither K nor Jy/beam")


def read_window(path: PathLike, *, bad_channels: BadChannels = None) -> tuple[CubeWindow, WCS]:
    """Read one spectral window (FITS file or CASA image directory) in K.

    Returns the window (channels ascending in observed frequency) and its
    celestial WCS.
    """
    path = Path(path)
    cube = read_cube(path)
    bad = _bad_mask(bad_channels, cube.freq_mhz.size, path)[cube.order]
    data = cube.kelvin(dtype=np.float32).astype(np.float32, copy=False)
    empty = ~np.isfinite(data).any(axis=(1, 2)) | np.all(np.nan_to_num(data) == 0, axis=(1, 2))
    window = CubeWindow(
        data=np.ascontiguousarray(data),
        freq_mhz=cube.freq_mhz,
        beams=cube.beams,
        bad=bad | empty,
        source=str(path),
    )
    return window, cube.cube.wcs.celestial


def _read_continuum(path: PathLike, window: CubeWindow) -> np.ndarray:
    """Continuum image (2-D, or a cube averaged over its spectral axis) → K per pixel."""
    from astropy.io import fits

    path = Path(path)
    if path.is_dir():
        cube = open_cube(path)
        values = np.nanmean(np.asarray(cube.unmasked_data[:].value, float), axis=0)
        unit = cube.unit
        try:
            beam = cube.beam
        except Exception:  # spectral_cube.NoBeamError: the cube's beam is used
            beam = None
    else:
        if not path.exists():
            raise CubeError(f"continuum image not found: {path}")
        with fits.open(path) as hdul:
            hdr = hdul[0].header
            values = np.squeeze(np.asarray(hdul[0].data, float))
        if values.ndim == 3:
            values = np.nanmean(values, axis=0)
        unit = u.Unit(hdr.get("BUNIT", "K"), parse_strict="silent")
        beam = beam_from_header(hdr)
    if values.shape != window.data.shape[1:]:
        raise CubeError(
            f"continuum image {path} has shape {values.shape}, the cube {window.data.shape[1:]}"
        )
    factor = kelvin_per_jy_beam(
        np.mean(window.freq_mhz), window.beam_arcsec if beam is None else beam
    )
    return _to_kelvin(np.nan_to_num(values), unit, factor, str(path)).astype(np.float32)


def _as_list(x, n: int, what: str) -> list:
    if x is None:
        return [None] * n
    if isinstance(x, (str, os.PathLike)) or (isinstance(x, np.ndarray) and x.dtype == bool):
        x = [x]
    x = list(x)
    if len(x) != n:
        raise CubeError(f"{what}: {len(x)} given for {n} windows")
    return x


def load_cubes(
    paths: PathLike | Sequence[PathLike],
    *,
    continuum: PathLike | Sequence[PathLike | None] | None = None,
    v_lsr: float | u.Quantity = 0.0,
    bad_channels: Sequence[BadChannels] | None = None,
) -> CubeSet:
    """Read the spectral windows of one source into a :class:`CubeSet` (K, MHz).

    Parameters
    ----------
    paths
        One FITS file or CASA image per window, all on the same pixel grid.
    continuum
        Optional continuum image per window (2-D, Jy/beam or K), same pixel grid.
    v_lsr
        Systemic velocity, km/s (or a Quantity), for rest-frame frequencies.
    bad_channels
        Per window, a boolean mask or (first, last) channel ranges (file order).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise CubeError("no cube given")
    conts = _as_list(continuum, len(paths), "continuum images")
    bads = [None] * len(paths) if bad_channels is None else list(bad_channels)
    if len(bads) != len(paths):
        raise CubeError(f"bad_channels: {len(bads)} given for {len(paths)} windows")
    if isinstance(v_lsr, u.Quantity):
        v_lsr = v_lsr.to_value(u.km / u.s)
    v_lsr = check_v_lsr(v_lsr)
    windows, wcs0 = [], None
    for path, cont, bad in zip(paths, conts, bads, strict=True):
        window, wcs = read_window(path, bad_channels=bad)
        if wcs0 is None:
            wcs0 = wcs
        elif window.data.shape[1:] != windows[0].data.shape[1:] or not np.allclose(
            wcs.wcs.crval, wcs0.wcs.crval, rtol=0, atol=1e-9
        ):
            raise CubeError(f"{path} is not on the pixel grid of {paths[0]}")
        if cont is not None:
            window = CubeWindow(
                data=window.data,
                freq_mhz=window.freq_mhz,
                beams=window.beams,
                bad=window.bad,
                continuum_k=_read_continuum(cont, window),
                source=window.source,
            )
        windows.append(window)
    assert wcs0 is not None  # paths is not empty
    header = dict(wcs0.to_header())
    return CubeSet(windows=windows, wcs=wcs0, v_lsr=float(v_lsr), header=header)
