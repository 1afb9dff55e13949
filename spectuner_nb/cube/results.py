"""CubeFitResult: parameter, uncertainty and quality maps of a cube fit.

Per species and parameter a 2-D map on the cube's celestial grid, in physical
units: θ (arcsec), η (filling factor), T_ex (K), N_tot (cm⁻²), Δv (km/s) and
v_off (km/s); per pixel the loss, χ², nfev and flags. Two uncertainty maps per
parameter: the Gauss-Newton Hessian estimate of χ² at the solution
(``kind="hessian"``) and the spread (standard deviation) of the policy's
proposal samples (``kind="spread"``, policy init only), both propagated from
fit space to physical units linearly.

``write(dir)`` gives one FITS file per species and parameter (value, then the
two error HDUs) plus loss/χ²/nfev/flag/status maps, with the celestial WCS, BUNIT
and the run settings in the headers; ``read(dir)`` loads it back. Writing is
atomic as a whole: the files are written to a staging folder inside ``dir``, the
previous ``result.json`` is removed, the files are renamed into place and the new
``result.json``, listing every file with its SHA-256, is written last. ``read``
refuses a folder whose files do not match its ``result.json`` (an interrupted
write, or maps of two runs mixed), or that has none.

Per pixel, ``status`` says why a pixel has no fit (:data:`STATUS_REASONS`) and
``reasons`` holds the error message of each failed pixel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from ..atomic import read_index, write_folder
from ..errors import ResultsError
from ..parameters import PHYSICAL_NAMES, PHYSICAL_UNITS, fit_to_physical, reference_beam_sq
from ..results import physical_errors
from .store import UNREADABLE

if TYPE_CHECKING:
    from .preprocessing import Preprocessed

__all__ = ["PARAMETERS", "UNITS", "LABELS", "FLAGS", "DETECTION_SIGMA", "CubeFitResult"]

PARAMETERS: tuple[str, ...] = ("theta", "eta", "T_ex", "N_tot", "delta_v", "v_off")
UNITS: dict[str, str] = dict(zip(PHYSICAL_NAMES, PHYSICAL_UNITS, strict=True)) | {"eta": ""}
LABELS: dict[str, str] = {
    "theta": "θ (arcsec)",
    "eta": "η",
    "T_ex": "T_ex (K)",
    "N_tot": "N_tot (cm⁻²)",
    "delta_v": "Δv (km/s)",
    "v_off": "v_off (km/s)",
}

FLAG_NOT_FITTED, FLAG_FAILED, FLAG_AT_BOUND, FLAG_NO_PEAK = 1, 2, 4, 8
FLAG_NOT_CONVERGED, FLAG_NOTHING_TO_FIT = 16, 32
FLAGS: dict[int, str] = {
    FLAG_NOT_FITTED: "not fitted (dropped by the pixel selection)",
    FLAG_FAILED: "fit failed or the spectrum was unusable",
    FLAG_AT_BOUND: "a parameter lies at a Table 1 bound",
    FLAG_NO_PEAK: "the best model has no peak above 4 rms",
    FLAG_NOT_CONVERGED: "the optimiser stopped before converging",
    FLAG_NOTHING_TO_FIT: "the spectrum leaves nothing to fit (see reasons)",
}
STATUS_OK, STATUS_BAD_OBS, STATUS_FIT_FAILED, STATUS_NOTHING_TO_FIT = 0, 1, 2, 3
STATUS_REASONS: dict[int, str] = {
    STATUS_OK: "fitted (or not selected)",
    STATUS_BAD_OBS: "unusable spectrum",
    STATUS_FIT_FAILED: "fit failed",
    STATUS_NOTHING_TO_FIT: "nothing to fit",
}
"""Per-pixel status codes of a cube fit; the pixel's message is in ``reasons``."""
REASON_CHARS: int = 200
"""Longest per-pixel failure message kept."""
DETECTION_SIGMA: float = 4.0
"""A species is detected in a pixel when its own model peaks at this many rms or more in
some window (the threshold of the observed peaks, docs/method.md §3)."""
_ARRAYS = ("x", "x_err", "x_spread", "loss", "chi2", "nfev", "flags", "status", "reasons")
RESULT_FILE = "result.json"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9+-]+", "_", name).strip("_")


@dataclass
class CubeFitResult:
    """Maps of a cube fit (see the module docstring).

    Attributes
    ----------
    species
        Species names, in the order of the species axis.
    wcs
        Celestial WCS of the maps.
    x, x_err, x_spread
        Fit-space parameters and their Hessian / proposal-spread 1σ errors,
        (ny, nx, n_species, 5) [log10 η, T_ex, log10 N_tot, log10 Δv, v_off]; NaN where unfitted.
    loss, chi2
        Best loss and its χ² per pixel, (ny, nx).
    nfev
        Forward-model evaluations per pixel, (ny, nx).
    flags
        Bit mask per pixel (ny, nx), see :data:`FLAGS`.
    status
        Status code per pixel (ny, nx), see :data:`STATUS_REASONS`.
    reasons
        Failure message per pixel (ny, nx), "" where none.
    theta_b_sq
        Reference beam θ_b² (arcsec²) for θ ↔ η.
    meta
        Run settings and timings.
    lines
        The line lists used (not written to disk).
    preprocessed
        The pixel selection, when one was made (not written to disk).
    """

    species: list[str]
    wcs: WCS
    x: np.ndarray
    x_err: np.ndarray
    x_spread: np.ndarray
    loss: np.ndarray
    chi2: np.ndarray
    nfev: np.ndarray
    flags: np.ndarray
    theta_b_sq: float
    meta: dict = field(default_factory=dict)
    lines: list | None = None
    preprocessed: Preprocessed | None = None
    status: np.ndarray | None = None
    reasons: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.status is None:
            self.status = np.zeros(self.loss.shape, np.int8)
        if self.reasons is None:
            self.reasons = np.full(self.loss.shape, "", f"<U{REASON_CHARS}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pixels(
        cls,
        species,
        shape,
        wcs,
        pixels,
        arrays: dict,
        keep: np.ndarray,
        *,
        meta: dict,
        lines=None,
        preprocessed=None,
    ) -> CubeFitResult:
        """Assemble maps from per-pixel arrays (first axis = ``pixels``, flat indices)."""
        ny, nx = shape
        n_sp = len(species)
        iy, ix = np.unravel_index(np.asarray(pixels, int), shape)

        def grid(name, fill, dtype=float, tail=()):
            out = np.full((ny, nx) + tail, fill, dtype)
            out[iy, ix] = arrays[name]
            return out

        tail = (n_sp, 5)
        flags = np.where(np.asarray(keep, bool), 0, FLAG_NOT_FITTED).astype(np.int16)
        status = grid("status", 0, np.int8)
        flags[status != STATUS_OK] |= FLAG_FAILED
        flags[status == STATUS_NOTHING_TO_FIT] |= FLAG_NOTHING_TO_FIT
        flags[~grid("converged", True, bool) & (status == STATUS_OK)] |= FLAG_NOT_CONVERGED
        flags[grid("at_bound", False, bool, tail).any(axis=(2, 3))] |= FLAG_AT_BOUND
        no_peak = ~grid("has_peak", True, bool) & (status == 0) & np.asarray(keep, bool)
        flags[no_peak] |= FLAG_NO_PEAK
        beam = meta.get("beam_arcsec")
        freq = meta.get("mean_freq_mhz", 1e5)
        return cls(
            species=list(species),
            wcs=wcs,
            x=grid("x", np.nan, tail=tail),
            x_err=grid("x_err", np.nan, tail=tail),
            x_spread=grid("x_spread", np.nan, tail=tail),
            loss=grid("loss", np.nan),
            chi2=grid("chi2", np.nan),
            nfev=grid("nfev", 0, np.int64),
            flags=flags,
            theta_b_sq=reference_beam_sq(tuple(beam), freq) if beam else float("nan"),
            meta=meta,
            lines=lines,
            preprocessed=preprocessed,
            status=status,
            reasons=grid("reason", "", f"<U{REASON_CHARS}"),
        )

    @property
    def n_fitted(self) -> int:
        """Number of pixels with a fit (neither dropped by the selection nor failed)."""
        return int(np.sum((self.flags & (FLAG_NOT_FITTED | FLAG_FAILED)) == 0))

    def failures(self) -> dict[str, tuple[int, str]]:
        """Failed pixels per status: {reason: (count, one message)}."""
        out = {}
        status, reasons = np.asarray(self.status), np.asarray(self.reasons)
        for code, text in STATUS_REASONS.items():
            sel = status == code
            if code != STATUS_OK and sel.any():
                out[text] = (int(sel.sum()), str(reasons[sel][0]))
        return out

    # ------------------------------------------------------------------ maps
    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx)."""
        return self.loss.shape

    def _species_index(self, species: str) -> int:
        if species not in self.species:
            raise ResultsError(f"species {species!r} not fitted; have {self.species}")
        return self.species.index(species)

    def map(self, species: str, parameter: str) -> np.ndarray:
        """Map (ny, nx) of one parameter in physical units (see :data:`UNITS`)."""
        s = self._species_index(species)
        x = self.x[:, :, s]
        if parameter == "eta":
            return 10.0 ** x[..., 0]
        if parameter not in PHYSICAL_NAMES:
            raise ResultsError(f"unknown parameter {parameter!r}; one of {PARAMETERS}")
        out = np.full(self.shape, np.nan)
        ok = np.all(np.isfinite(x), axis=-1)
        out[ok] = fit_to_physical(x[ok], self.theta_b_sq)[:, PHYSICAL_NAMES.index(parameter)]
        return out

    def error_map(self, species: str, parameter: str, kind: str = "hessian") -> np.ndarray:
        """1σ uncertainty map (ny, nx) in physical units: ``kind`` "hessian" or "spread"."""
        if kind not in ("hessian", "spread"):
            raise ResultsError(f"kind must be 'hessian' or 'spread', got {kind!r}")
        s = self._species_index(species)
        x = self.x[:, :, s]
        err = (self.x_err if kind == "hessian" else self.x_spread)[:, :, s]
        if parameter == "eta":
            return np.log(10.0) * 10.0 ** x[..., 0] * err[..., 0]
        if parameter not in PHYSICAL_NAMES:
            raise ResultsError(f"unknown parameter {parameter!r}; one of {PARAMETERS}")
        out = np.full(self.shape, np.nan)
        ok = np.all(np.isfinite(x), axis=-1)
        phys = physical_errors(x[ok], err[ok], self.theta_b_sq)
        out[ok] = phys[:, PHYSICAL_NAMES.index(parameter)]
        return out

    def quantity_map(self, species: str, parameter: str):
        """:meth:`map` as an astropy Quantity."""
        import astropy.units as u

        return self.map(species, parameter) * u.Unit(UNITS[parameter] or "")

    # ------------------------------------------------------------------ model cubes
    def model_cubes(self, cubes, species: str | None = None) -> list[np.ndarray]:
        """Model cubes (K) per window, (n_chan, ny, nx), of all species or of one.

        ``cubes`` is the :class:`~spectuner_nb.cube.load.CubeSet` that was fitted
        (for the channels, the beam and the continuum).
        """
        from .fit import _rest_freqs
        from .modelcube import model_spectra

        if self.lines is None:
            from ..catalog import default_cache

            windows = [(float(f[0]), float(f[-1])) for f in _rest_freqs(cubes)]
            self.lines = [default_cache().lines(s, windows) for s in self.species]
        sel = range(len(self.species)) if species is None else [self._species_index(species)]
        ny, nx = self.shape
        params = np.full((ny * nx, len(sel), 5), np.nan)
        flat = self.x[:, :, list(sel)].reshape(ny * nx, len(sel), 5)
        ok = np.all(np.isfinite(flat), axis=(1, 2))
        params[ok] = fit_to_physical(flat[ok], self.theta_b_sq)
        iy, ix = np.unravel_index(np.arange(ny * nx), (ny, nx))
        spectra = model_spectra(
            _rest_freqs(cubes),
            [self.lines[i] for i in sel],
            cubes.beam_arcsec,
            params,
            cubes.t_background(iy, ix),
        )
        return [s.T.reshape(-1, ny, nx) for s in spectra]

    def detected(self, cubes, rms, n_sigma: float = DETECTION_SIGMA) -> np.ndarray:
        """(n_species, ny, nx) bool: the species' own model (:meth:`model_cubes`) peaks at
        ≥ ``n_sigma`` × ``rms`` in at least one window; False where the pixel has no fit.

        Where a species is not detected its lines are below the noise: the data bound its
        column density from above only, and the other parameters are undetermined (often
        at a bound). Report such pixels as not detected (the column density an upper
        limit), not as measurements.

        Parameters
        ----------
        cubes
            The fitted :class:`~spectuner_nb.cube.load.CubeSet`.
        rms
            Noise (K): a scalar, per window (n_windows,), or per window and pixel
            (n_windows, ny, nx).
        n_sigma
            Detection threshold in rms.
        """
        rms = np.asarray(rms, float)
        if rms.ndim == 1:
            rms = rms[:, None, None]
        out = np.zeros((len(self.species), *self.shape), bool)
        for k, name in enumerate(self.species):
            models = self.model_cubes(cubes, name)
            noise = np.broadcast_to(rms, (len(models), *self.shape))
            for w, m in enumerate(models):
                out[k] |= np.nan_to_num(m, nan=0.0).max(axis=0) >= n_sigma * noise[w]
        return out

    # ------------------------------------------------------------------ I/O
    def _header(self, bunit: str, what: str) -> fits.Header:
        h = self.wcs.to_header()
        h["BUNIT"] = bunit
        h["OBJECT"] = str(self.meta.get("object", ""))[:68]
        h["CONTENT"] = what[:68]
        h["ORIGIN"] = "spectuner_nb fit_cube"
        for key, label in (
            ("loss", "LOSS"),
            ("init", "INIT"),
            ("optimizer", "OPTIMIZ"),
            ("n_init", "N_INIT"),
            ("seed", "SEED"),
        ):
            if key in self.meta:
                h[label] = self.meta[key]
        if "v_lsr" in self.meta:
            h["VELO-LSR"] = (float(self.meta["v_lsr"]) * 1e3, "systemic velocity, m/s")
        if np.isfinite(self.theta_b_sq):
            h["THETAB2"] = (self.theta_b_sq, "reference beam theta_b^2, arcsec^2")
        return h

    def _write_files(self, folder: Path) -> list[str]:
        """Write the maps and result.npz into ``folder``; returns the file names."""
        names = []
        for name in self.species:
            for par in PARAMETERS:
                unit = UNITS[par]
                hdus = [
                    fits.PrimaryHDU(
                        self.map(name, par).astype(np.float32),
                        header=self._header(unit, f"{name} {par}"),
                    )
                ]
                for kind, ext in (("hessian", "ERR_HESSIAN"), ("spread", "ERR_SPREAD")):
                    hdus.append(
                        fits.ImageHDU(
                            self.error_map(name, par, kind).astype(np.float32),
                            header=self._header(unit, f"{name} {par} 1sigma {kind}"),
                            name=ext,
                        )
                    )
                hdus[0].header["SPECIES"] = name[:68]
                hdus[0].header["PARAM"] = par
                names.append(f"{_safe(name)}_{par}.fits")
                fits.HDUList(hdus).writeto(folder / names[-1])
        for key, unit in (
            ("loss", "K" if self.meta.get("loss") == "pm" else ""),
            ("chi2", ""),
            ("nfev", ""),
            ("flags", ""),
            ("status", ""),
        ):
            h = self._header(unit, key)
            table = FLAGS if key == "flags" else STATUS_REASONS if key == "status" else {}
            for code, text in table.items():
                h[f"{key[:4].upper()}{code}"] = text[:68]
            names.append(f"{key}.fits")
            fits.PrimaryHDU(np.asarray(getattr(self, key)), header=h).writeto(folder / names[-1])
        names.append("result.npz")
        np.savez(folder / names[-1], **{k: getattr(self, k) for k in _ARRAYS})
        return names

    def write(self, folder: str | Path) -> list[Path]:
        """Write the FITS maps, ``result.npz`` and ``result.json`` to ``folder`` atomically
        (module docstring, :func:`spectuner_nb.atomic.write_folder`); returns the paths."""
        info = {
            "species": self.species,
            "theta_b_sq": self.theta_b_sq,
            "meta": self.meta,
            "wcs": self.wcs.to_header_string(),
        }
        return write_folder(folder, self._write_files, RESULT_FILE, info, what="cube fit result")

    @classmethod
    def read(cls, folder: str | Path) -> CubeFitResult:
        """Load what :meth:`write` wrote; :class:`~spectuner_nb.errors.IncompleteResultError`
        if the folder holds no complete result or files that differ from those it lists."""
        folder = Path(folder)
        info = read_index(folder, RESULT_FILE, what="cube fit result")
        try:
            with np.load(folder / "result.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in _ARRAYS}
        except UNREADABLE as exc:
            raise ResultsError(f"{folder}/result.npz is unreadable: {exc}") from exc
        wcs = WCS(fits.Header.fromstring(info["wcs"]))
        return cls(
            species=info["species"],
            wcs=wcs,
            theta_b_sq=info["theta_b_sq"],
            meta=info["meta"],
            **arrays,
        )

    # ------------------------------------------------------------------ views
    def summary(self) -> str:
        """Median of every parameter per species over the fitted pixels, cost figures and
        the reasons of failed pixels."""
        fitted = (self.flags & (FLAG_NOT_FITTED | FLAG_FAILED)) == 0
        lines = [
            f"{int(fitted.sum())} pixels fitted of {self.flags.size}; "
            f"median nfev {np.median(self.nfev[fitted]) if fitted.any() else 0:.0f}"
        ]
        lines += [
            f"{n} pixels: {reason}, e.g. {example}"
            for reason, (n, example) in self.failures().items()
        ]
        n_nc = int(np.sum((self.flags & FLAG_NOT_CONVERGED) != 0))
        if n_nc:
            lines.append(f"{n_nc} fitted pixels: {FLAGS[FLAG_NOT_CONVERGED]}")
        for name in self.species:
            meds = [
                f"{p}={np.nanmedian(self.map(name, p)[fitted]):.4g}"
                for p in PARAMETERS
                if fitted.any()
            ]
            lines.append(f"{name}: " + ", ".join(meds))
        return "\n".join(lines)

    def plot(
        self,
        species: str | None = None,
        parameters: tuple[str, ...] = ("T_ex", "N_tot", "delta_v", "v_off"),
        size: int = 260,
    ):
        """Bokeh grid of maps (one row per species, one column per parameter)."""
        from bokeh.layouts import gridplot
        from bokeh.models import ColorBar, LinearColorMapper, LogColorMapper
        from bokeh.plotting import figure

        names = self.species if species is None else [species]
        ny, nx = self.shape
        rows = []
        for name in names:
            row = []
            for par in parameters:
                data = self.map(name, par)
                finite = data[np.isfinite(data)]
                lo, hi = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
                log = par in ("N_tot", "eta") and finite.size and lo > 0
                mapper = (LogColorMapper if log else LinearColorMapper)(
                    palette="Viridis256",
                    low=float(lo),
                    high=float(max(hi, lo * 1.0001 + 1e-30)),
                    nan_color="white",
                )
                fig = figure(
                    width=size + 60,
                    height=size,
                    title=f"{name}: {LABELS[par]}",
                    x_range=(-0.5, nx - 0.5),
                    y_range=(-0.5, ny - 0.5),
                    tools="pan,wheel_zoom,box_zoom,reset,hover",
                    tooltips=[("x", "$x{0}"), ("y", "$y{0}"), (par, "@image")],
                    match_aspect=True,
                )
                fig.image(image=[data], x=-0.5, y=-0.5, dw=nx, dh=ny, color_mapper=mapper)
                fig.add_layout(ColorBar(color_mapper=mapper, width=8), "right")
                fig.xaxis.axis_label, fig.yaxis.axis_label = "x (pixel)", "y (pixel)"
                row.append(fig)
            rows.append(row)
        return gridplot(rows)

    def __repr__(self) -> str:
        ny, nx = self.shape
        fitted = self.n_fitted
        return (
            f"<CubeFitResult {', '.join(self.species)}: {ny}x{nx} pixels, {fitted} fitted, "
            f"loss={self.meta.get('loss')}, init={self.meta.get('init')}>"
        )
