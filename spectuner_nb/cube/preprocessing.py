"""Select the pixels worth fitting (docs/method.md §8), with a report and a mask image.

Steps, per window w of a :class:`~spectuner_nb.cube.load.CubeSet`:

1. global rms σ_w: sigma-clipped standard deviation of the good channels of at
   most ``n_sample`` random pixels;
2. peaks of every pixel at ``n_sigma_global`` σ_w (scipy ``find_peaks`` with
   height = prominence = threshold, as the peak-matching loss does);
   pixels whose mean number of peaks per window is below ``n_cut`` are dropped;
3. for the survivors, a local rms per window (sigma-clipped std of the pixel's
   own spectrum) and the peaks at ``n_sigma_local`` local rms; pixels whose
   mean number of such peaks per window is below ``n_cut`` are dropped;
4. the kept pixels are put in ``n_bins`` even bins of their peak number
   (step 2 counts), the bins used to sample pixels for training and reports.

Results are cached on disk (keyed by the data fingerprint and the settings),
so refitting other species does not redo this.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.stats import sigma_clip, sigma_clipped_stats

from ..atomic import atomic_write
from ..errors import CubeError
from ..losses import find_peaks_above
from ..settings import cache_dir
from .load import CubeSet
from .store import UNREADABLE

__all__ = [
    "REASONS",
    "PreprocessConfig",
    "Preprocessed",
    "count_peaks",
    "clipped_rms",
    "global_rms",
    "preprocess",
]

KEPT, INVALID, FEW_PEAKS_GLOBAL, FEW_PEAKS_LOCAL = 0, 1, 2, 3
REASONS: dict[int, str] = {
    KEPT: "kept",
    INVALID: "no finite data (NaN or blank) in a window",
    FEW_PEAKS_GLOBAL: "mean peaks per window at n_sigma_global x global rms < n_cut",
    FEW_PEAKS_LOCAL: "mean peaks per window at n_sigma_local x local rms < n_cut",
}

_BLOCK = 2048  # pixels per block for vectorised sigma clipping
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreprocessConfig:
    """Settings of the pixel selection (docs/method.md §8 defaults)."""

    n_sigma_global: float = 4.0
    n_sigma_local: float = 6.0
    n_cut: float = 3.0
    n_sample: int = 10_000
    n_bins: int = 5
    sigma_clip: float = 3.0
    seed: int = 0

    def __post_init__(self) -> None:  # 3 and 3.0 must give the same cache key
        for name, kind in (
            ("n_sigma_global", float),
            ("n_sigma_local", float),
            ("n_cut", float),
            ("n_sample", int),
            ("n_bins", int),
            ("sigma_clip", float),
            ("seed", int),
        ):
            object.__setattr__(self, name, kind(getattr(self, name)))


@dataclass
class Preprocessed:
    """What the pixel selection found.

    Attributes
    ----------
    rms_global
        Global rms per window, K, shape (n_windows,).
    n_peaks_global
        Peaks per window at n_sigma_global·rms_global, (n_windows, ny, nx).
    rms_local
        Local rms per window and pixel, K, (n_windows, ny, nx); NaN where not computed.
    n_peaks_local
        Peaks at n_sigma_local·rms_local, (n_windows, ny, nx); −1 where not computed.
    reason
        Why each pixel was kept or dropped, (ny, nx): a key of :data:`REASONS`.
    bins
        Peak-number bin (0 … n_bins−1) of kept pixels, −1 elsewhere, (ny, nx).
    bin_edges
        Edges of the bins in mean peaks per window, (n_bins + 1,).
    config
        The settings used.
    """

    rms_global: np.ndarray
    n_peaks_global: np.ndarray
    rms_local: np.ndarray
    n_peaks_local: np.ndarray
    reason: np.ndarray
    bins: np.ndarray
    bin_edges: np.ndarray
    config: PreprocessConfig

    @property
    def keep(self) -> np.ndarray:
        """Boolean map (ny, nx) of the pixels to fit."""
        return self.reason == KEPT

    def pixels(self) -> tuple[np.ndarray, np.ndarray]:
        """(iy, ix) of the kept pixels, row-major order."""
        iy, ix = np.nonzero(self.keep)
        return iy, ix

    def counts(self) -> dict[str, int]:
        """Number of pixels per reason."""
        return {REASONS[k]: int(np.sum(self.reason == k)) for k in REASONS}

    def report(self) -> str:
        """A plain-text report of the selection: thresholds, numbers kept and dropped, bins."""
        c = self.config
        lines = [
            f"pixels: {self.reason.size} ({self.reason.shape[0]} x {self.reason.shape[1]})",
            "global rms per window (K): " + ", ".join(f"{r:.4g}" for r in self.rms_global),
            f"thresholds: {c.n_sigma_global:g} sigma_global, {c.n_sigma_local:g} sigma_local, "
            f"N_cut = {c.n_cut:g} mean peaks per window",
        ]
        lines += [f"  {n:6d}  {text}" for text, n in self.counts().items()]
        edges = self.bin_edges
        for b in range(len(edges) - 1):
            n = int(np.sum(self.bins == b))
            lines.append(f"  bin {b}: {edges[b]:.2f}-{edges[b + 1]:.2f} peaks/window: {n} pixels")
        return "\n".join(lines)

    def write_mask(self, path: str | Path, wcs=None) -> Path:
        """FITS mask image: HDU 0 = reason code (0 kept), HDU 1 = peak bin (−1 dropped)."""
        from astropy.io import fits

        header = wcs.to_header() if wcs is not None else fits.Header()
        for k, text in REASONS.items():
            header[f"REASON{k}"] = text[:68]
        hdu0 = fits.PrimaryHDU(self.reason.astype(np.int16), header=header)
        hdu0.header["EXTNAME"] = "REASON"
        hdu1 = fits.ImageHDU(self.bins.astype(np.int16), header=header, name="PEAKBIN")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fits.HDUList([hdu0, hdu1]).writeto(path, overwrite=True)
        return path

    def save(self, path: Path) -> None:
        """Write to ``path`` (.npz) atomically (a unique temporary name, then a rename)."""
        # Any: the stub of np.savez would match the arrays against allow_pickle
        arrays: dict[str, Any] = {
            k: v for k, v in self.__dict__.items() if isinstance(v, np.ndarray)
        }
        atomic_write(
            Path(path), lambda fh: np.savez(fh, config=json.dumps(asdict(self.config)), **arrays)
        )

    @classmethod
    def load(cls, path: Path) -> Preprocessed:
        """Read what :meth:`save` wrote; :class:`CubeError` naming ``path`` if it cannot."""
        try:
            with np.load(path, allow_pickle=False) as z:
                kw = {k: z[k] for k in z.files if k != "config"}
                config = PreprocessConfig(**json.loads(str(z["config"])))
            return cls(config=config, **kw)
        except (*UNREADABLE, TypeError) as exc:
            raise CubeError(f"preprocessing cache file {path} is unreadable: {exc}") from exc


def count_peaks(spectra: np.ndarray, threshold: np.ndarray | float) -> np.ndarray:
    """Peaks per spectrum with height = prominence = threshold (K); spectra (n, n_chan)."""
    spectra = np.asarray(spectra, float)
    thr = np.broadcast_to(np.asarray(threshold, float), (spectra.shape[0],))
    return np.array(
        [find_peaks_above(spec, t).size for spec, t in zip(spectra, thr, strict=True)], dtype=int
    )


def clipped_rms(spectra: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """Sigma-clipped standard deviation of each row of (n, n_chan), K."""
    out = np.empty(spectra.shape[0])
    for start in range(0, spectra.shape[0], _BLOCK):
        block = sigma_clip(spectra[start : start + _BLOCK], sigma=sigma, axis=1, maxiters=5)
        out[start : start + _BLOCK] = np.ma.std(block, axis=1).filled(np.nan)
    return out


def global_rms(cubes: CubeSet, n_sample: int = 10_000, sigma: float = 3.0, seed: int = 0):
    """Global rms per window (K): sigma clipping over ≤ ``n_sample`` random pixels."""
    ny, nx = cubes.shape
    rng = np.random.default_rng(seed)
    flat = rng.choice(ny * nx, size=min(n_sample, ny * nx), replace=False)
    iy, ix = np.unravel_index(np.sort(flat), (ny, nx))
    out = []
    for spec in cubes.spectra(iy, ix):
        values = spec[np.isfinite(spec)]
        if values.size == 0:
            raise CubeError("a window has no finite data in the sampled pixels")
        out.append(float(sigma_clipped_stats(values, sigma=sigma, maxiters=10)[2]))
    return np.asarray(out)


def _cache_key(cubes: CubeSet, config: PreprocessConfig) -> str:
    text = cubes.fingerprint() + json.dumps(asdict(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def preprocess(
    cubes: CubeSet,
    config: PreprocessConfig | None = None,
    *,
    cache: bool | str | Path = True,
) -> Preprocessed:
    """Run the pixel selection of docs/method.md §8 on ``cubes`` (cached).

    Parameters
    ----------
    cubes
        The windows of one source, in K.
    config
        Thresholds; defaults to :class:`PreprocessConfig` ().
    cache
        True: the user cache directory; a path: that directory; False: no cache.
    """
    config = config or PreprocessConfig()
    cache_file = None
    if cache:
        folder = cache_dir() / "cube_preprocess" if cache is True else Path(cache)
        folder.mkdir(parents=True, exist_ok=True)
        cache_file = folder / f"{_cache_key(cubes, config)}.npz"
        if cache_file.exists():
            try:
                return Preprocessed.load(cache_file)
            except CubeError as exc:
                log.warning("%s; recomputing it", exc)
                cache_file.unlink(missing_ok=True)
    result = _select(cubes, config)
    if cache_file is not None:
        result.save(cache_file)
    return result


def _blocks(n: int):
    for start in range(0, n, _BLOCK):
        yield np.arange(start, min(start + _BLOCK, n))


def _select(cubes: CubeSet, c: PreprocessConfig) -> Preprocessed:
    ny, nx = cubes.shape
    n_pix, n_win = ny * nx, len(cubes.windows)
    rms = global_rms(cubes, c.n_sample, c.sigma_clip, c.seed)
    valid = np.ones(n_pix, bool)
    n_glob = np.zeros((n_win, n_pix), int)
    for block in _blocks(n_pix):
        iy, ix = np.unravel_index(block, (ny, nx))
        for w, spec in enumerate(cubes.spectra(iy, ix)):
            valid[block] &= np.isfinite(spec).all(axis=1)
            n_glob[w, block] = count_peaks(np.nan_to_num(spec), c.n_sigma_global * rms[w])
    mean_glob = n_glob.mean(axis=0)
    reason = np.full(n_pix, KEPT, np.int16)
    reason[~valid] = INVALID
    reason[valid & (mean_glob < c.n_cut)] = FEW_PEAKS_GLOBAL
    survive = np.flatnonzero(reason == KEPT)
    rms_loc = np.full((n_win, n_pix), np.nan)
    n_loc = np.full((n_win, n_pix), -1)
    for part in _blocks(survive.size):
        idx = survive[part]
        iy, ix = np.unravel_index(idx, (ny, nx))
        for w, spec in enumerate(cubes.spectra(iy, ix)):
            rms_loc[w, idx] = clipped_rms(spec, c.sigma_clip)
            n_loc[w, idx] = count_peaks(spec, c.n_sigma_local * rms_loc[w, idx])
    reason[survive[n_loc[:, survive].mean(axis=0) < c.n_cut]] = FEW_PEAKS_LOCAL
    kept = reason == KEPT
    lo, hi = (mean_glob[kept].min(), mean_glob[kept].max()) if kept.any() else (0.0, 1.0)
    edges = np.linspace(lo, max(hi, lo + 1e-9), c.n_bins + 1)
    bins = np.full(n_pix, -1, np.int16)
    bins[kept] = np.clip(np.searchsorted(edges, mean_glob[kept], side="right") - 1, 0, c.n_bins - 1)
    return Preprocessed(
        rms_global=rms,
        n_peaks_global=n_glob.reshape(n_win, ny, nx),
        rms_local=rms_loc.reshape(n_win, ny, nx),
        n_peaks_local=n_loc.reshape(n_win, ny, nx),
        reason=reason.reshape(ny, nx),
        bins=bins.reshape(ny, nx),
        bin_edges=edges,
        config=c,
    )
