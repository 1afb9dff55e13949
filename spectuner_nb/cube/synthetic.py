"""Synthetic cubes with spatially varying, known LTE parameters (for tests, benchmarks, examples).

The line emission of every pixel is computed with :class:`spectuner_nb.model.LTEModel`
from catalog line lists, against a per-pixel continuum (background) temperature,
plus Gaussian noise. The continuum is written as a separate image, as for real
interferometric data (line cubes are continuum-subtracted; the continuum enters
the model as T_bg).

Parameter maps (r = distance from the map centre in units of half the map size):

* log10 N_tot = log10 N_peak − 1.5 r² (per species peak);
* T_ex = 40 + 160 exp(−r²) K;
* Δv = 2.5 + 2.5 exp(−r²) km/s;
* v_off = 3 (x − x_c)/half-width km/s (a velocity gradient along x);
* θ = 5 × the beam's geometric mean (η ≈ 0.96), constant.

Spectra come from :func:`spectuner_nb.cube.modelcube.model_spectra` (one pair of
prepared models whatever the continuum map).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from ..beam import header_keywords
from ..doppler import sky_frequency
from ..errors import CubeError
from ..parameters import N_PARAMS, PHYSICAL_NAMES, PHYSICAL_UNITS
from .load import CubeSet, CubeWindow
from .modelcube import model_spectra

__all__ = [
    "G327_WINDOWS_MHZ",
    "G327_N_CHANNELS",
    "DEFAULT_LOG_N_PEAK",
    "SyntheticCube",
    "celestial_wcs",
    "parameter_maps",
    "make_synthetic_cube",
]

G327_WINDOWS_MHZ: tuple[tuple[float, float], ...] = (
    (215565.0, 217273.0),
    (217572.0, 219271.0),
    (229611.0, 231319.0),
)
"""The three G327 windows of the paper's cube benchmark (docs/method.md §8), MHz."""
G327_N_CHANNELS: int = 8740
"""Total channels of the paper's G327 cube over the three windows."""

DEFAULT_LOG_N_PEAK: dict[str, float] = {
    "CH3OH": 17.5,
    "CH3OCHO": 16.5,
    "H2CO": 15.5,
    "HC3N": 14.8,
    "OCS": 16.0,
}
"""Peak log10 N_tot (cm⁻²) per species; species not listed get 15.5."""


@dataclass
class SyntheticCube:
    """A synthetic multi-window cube and the parameters it was made from.

    Attributes
    ----------
    cubes
        The data as a :class:`CubeSet` (K; continuum maps attached).
    species
        Species names, in the order of ``truth``'s species axis.
    truth
        Physical parameters per pixel, (ny, nx, n_species, 5): θ (arcsec), T_ex (K),
        N_tot (cm⁻²), Δv (km/s), v_off (km/s).
    rms
        Noise rms per window, K.
    peak_snr
        Peak line intensity over rms per pixel (max over windows), (ny, nx).
    """

    cubes: CubeSet
    species: list[str]
    truth: np.ndarray
    rms: np.ndarray
    peak_snr: np.ndarray

    def write(self, folder: str | Path, stem: str = "synthetic") -> dict[str, list[Path]]:
        """Write FITS files: one cube and one continuum image per window, and the truth.

        Returns ``{"cubes": [...], "continuum": [...], "truth": [path]}``. Cubes have a
        FREQ axis in Hz (LSRK), RA---SIN/DEC--SIN axes, BUNIT K and the beam keywords.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out: dict[str, list[Path]] = {"cubes": [], "continuum": [], "truth": []}
        cel = self.cubes.wcs.to_header()
        for i, w in enumerate(self.cubes.windows):
            hdr = _cube_header(cel, w, self.cubes.v_lsr)
            path = folder / f"{stem}_w{i}.fits"
            fits.PrimaryHDU(w.data, header=hdr).writeto(path, overwrite=True)
            out["cubes"].append(path)
            if w.continuum_k is not None:
                chdr = cel.copy()
                chdr["BUNIT"] = "K"
                chdr.update(header_keywords(w.beams[0]))
                cpath = folder / f"{stem}_w{i}_continuum.fits"
                fits.PrimaryHDU(w.continuum_k, header=chdr).writeto(cpath, overwrite=True)
                out["continuum"].append(cpath)
        hdus = [fits.PrimaryHDU(self.peak_snr.astype(np.float32), header=cel)]
        hdus[0].header["EXTNAME"] = "PEAK_SNR"
        for s, name in enumerate(self.species):
            for k, (par, unit) in enumerate(zip(PHYSICAL_NAMES, PHYSICAL_UNITS, strict=True)):
                h = cel.copy()
                h["BUNIT"] = unit
                hdus.append(
                    fits.ImageHDU(self.truth[:, :, s, k], header=h, name=f"{name}:{par}"[:68])
                )
        tpath = folder / f"{stem}_truth.fits"
        fits.HDUList(hdus).writeto(tpath, overwrite=True)
        out["truth"].append(tpath)
        return out


def _cube_header(cel: fits.Header, w: CubeWindow, v_lsr: float) -> fits.Header:
    hdr = cel.copy()
    hdr["WCSAXES"] = 3
    step = float(np.diff(w.freq_mhz).mean()) if w.n_chan > 1 else 1.0
    hdr["CTYPE3"], hdr["CUNIT3"] = "FREQ", "Hz"
    hdr["CRPIX3"], hdr["CRVAL3"], hdr["CDELT3"] = 1.0, w.freq_mhz[0] * 1e6, step * 1e6
    hdr["SPECSYS"] = "LSRK"
    hdr["RESTFRQ"] = float(np.mean(w.freq_mhz)) * 1e6
    hdr["VELO-LSR"] = (v_lsr * 1e3, "systemic velocity, m/s")
    hdr["BUNIT"] = "K"
    hdr.update(header_keywords(w.beams[0]))
    return hdr


def celestial_wcs(
    shape: tuple[int, int], pixel_arcsec: float, centre_deg: tuple[float, float] = (248.0, -54.6)
) -> WCS:
    """A RA---SIN/DEC--SIN WCS of ``shape`` (ny, nx) with square pixels (arcsec)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.crpix = [(shape[1] + 1) / 2.0, (shape[0] + 1) / 2.0]
    wcs.wcs.crval = list(centre_deg)
    wcs.wcs.cdelt = [-pixel_arcsec / 3600.0, pixel_arcsec / 3600.0]
    wcs.wcs.radesys = "ICRS"
    return wcs


def parameter_maps(
    species: Sequence[str],
    shape: tuple[int, int],
    beam: tuple[float, float],
    log_n_peak: dict[str, float] | None = None,
) -> np.ndarray:
    """The known physical parameters (ny, nx, n_species, 5) of the synthetic source."""
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    yc, xc = (ny - 1) / 2.0, (nx - 1) / 2.0
    half = max(ny, nx) / 2.0
    r2 = ((yy - yc) ** 2 + (xx - xc) ** 2) / half**2
    peaks = dict(DEFAULT_LOG_N_PEAK, **(log_n_peak or {}))
    out = np.empty((ny, nx, len(species), N_PARAMS))
    theta = 5.0 * np.sqrt(beam[0] * beam[1])
    for s, name in enumerate(species):
        out[:, :, s, 0] = theta
        out[:, :, s, 1] = 40.0 + 160.0 * np.exp(-r2)
        out[:, :, s, 2] = 10.0 ** (peaks.get(name, 15.5) - 1.5 * r2)
        out[:, :, s, 3] = 2.5 + 2.5 * np.exp(-r2)
        out[:, :, s, 4] = 3.0 * (xx - xc) / half
    return out


def make_synthetic_cube(
    species: Sequence[str] = ("CH3OH",),
    *,
    windows_mhz: Sequence[tuple[float, float]] = ((218150.0, 218550.0),),
    n_channels: int | Sequence[int] = 200,
    shape: tuple[int, int] = (8, 8),
    beam_arcsec: tuple[float, float] = (0.6, 0.45),
    pixel_arcsec: float = 0.15,
    rms_k: float = 0.1,
    continuum_peak_k: float = 20.0,
    v_lsr: float = 0.0,
    log_n_peak: dict[str, float] | None = None,
    seed: int = 0,
    lines: Sequence | None = None,
) -> SyntheticCube:
    """Make a synthetic cube with known parameters (see module docstring).

    Parameters
    ----------
    species
        Species names resolvable by the catalog.
    windows_mhz
        (f_min, f_max) per window in the source rest frame, MHz.
    n_channels
        Channels per window (one number for all, or one per window).
    shape
        (ny, nx) pixels.
    beam_arcsec
        (B_maj, B_min), arcsec.
    pixel_arcsec
        Pixel size, arcsec.
    rms_k
        Gaussian noise per channel, K.
    continuum_peak_k
        Peak of the Gaussian continuum blob (K), FWHM half the map.
    v_lsr
        Systemic velocity, km/s: observed frequencies are ν_rest (1 − v_LSR/c).
    log_n_peak
        Peak log10 N_tot per species (overrides :data:`DEFAULT_LOG_N_PEAK`).
    seed
        Seed of the noise.
    lines
        Line lists per species; default: ``catalog.default_cache().lines(...)``.
    """
    species = list(species)
    n_win = len(windows_mhz)
    counts = np.atleast_1d(np.asarray(n_channels))
    n_chan = [int(counts[0])] * n_win if np.ndim(n_channels) == 0 else [int(n) for n in counts]
    if len(n_chan) != n_win or min(n_chan) < 4:
        raise CubeError("n_channels: one value ≥ 4 for all windows or one per window")
    rest = [np.linspace(lo, hi, n) for (lo, hi), n in zip(windows_mhz, n_chan, strict=True)]
    if lines is None:
        from ..catalog import default_cache

        cache = default_cache()
        lines = [cache.lines(s, windows=list(windows_mhz)) for s in species]
    ny, nx = shape
    truth = parameter_maps(species, shape, beam_arcsec, log_n_peak)
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    sig = max(ny, nx) / 2.0 / 2.3548
    cont = continuum_peak_k * np.exp(
        -((yy - (ny - 1) / 2) ** 2 + (xx - (nx - 1) / 2) ** 2) / (2 * sig**2)
    )
    flat_cont = np.repeat(cont.reshape(-1, 1), n_win, axis=1)
    lines_k = model_spectra(
        rest, lines, beam_arcsec, truth.reshape(ny * nx, len(species), -1), flat_cont
    )
    rng = np.random.default_rng(seed)
    peak = np.max([np.abs(j).max(axis=1) for j in lines_k], axis=0)
    data = [(j + rng.normal(0.0, rms_k, j.shape)).T.astype(np.float32) for j in lines_k]
    wcs = celestial_wcs(shape, pixel_arcsec)
    beams_row = [beam_arcsec[0], beam_arcsec[1], 0.0]
    windows = [
        CubeWindow(
            data=d.reshape(n, ny, nx),
            freq_mhz=sky_frequency(f, v_lsr),
            beams=np.tile(beams_row, (n, 1)),
            bad=np.zeros(n, bool),
            continuum_k=cont.astype(np.float32),
            source="synthetic",
        )
        for d, f, n in zip(data, rest, n_chan, strict=True)
    ]
    return SyntheticCube(
        cubes=CubeSet(windows=windows, wcs=wcs, v_lsr=v_lsr, header=dict(wcs.to_header())),
        species=species,
        truth=truth,
        rms=np.full(n_win, rms_k),
        peak_snr=(peak / rms_k).reshape(ny, nx),
    )
