"""FitResult: the outcome of :func:`spectuner_nb.fit.fit_spectrum`.

Holds the best parameters in fit space (θ/η both available), the physical
values with units, the loss and its peak term, the cost (nfev) and per-stage
timings, the model spectra, flags and, for χ² fits, Laplace (Gauss-Newton
Hessian) uncertainties. Knows how to show itself (repr, astropy Table,
Bokeh plot), write itself (JSON, XCLASS molfit) and read itself back (JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ResultsError
from .observation import Observation
from .parameters import FIT_NAMES, PHYSICAL_NAMES, PHYSICAL_UNITS, fit_to_physical

__all__ = ["physical_errors", "FitResult", "observed_window_figure", "unconstrained_parameters"]

_LN10 = float(np.log(10.0))


def physical_errors(x: np.ndarray, x_err: np.ndarray, theta_b_sq: float) -> np.ndarray:
    """Propagate 1σ errors from fit space (..., 5) to physical units (..., 5), linearly.

    θ = θ_b √(η/(1−η)) gives dθ/d log10 η = ln10 · θ / (2(1 − η)); N_tot and
    Δv are 10^x, so their errors are ln10 · 10^x · σ_x.
    """
    x = np.asarray(x, dtype=float)
    err = np.asarray(x_err, dtype=float)
    phys = fit_to_physical(x, theta_b_sq)
    eta = 10.0 ** x[..., 0]
    out = np.empty_like(err)
    out[..., 0] = _LN10 * phys[..., 0] / (2.0 * (1.0 - eta)) * err[..., 0]
    out[..., 1] = err[..., 1]
    out[..., 2] = _LN10 * phys[..., 2] * err[..., 2]
    out[..., 3] = _LN10 * phys[..., 3] * err[..., 3]
    out[..., 4] = err[..., 4]
    return out


def unconstrained_parameters(
    x_err: np.ndarray, bounds: np.ndarray, at_edge: np.ndarray
) -> np.ndarray:
    """(..., n_entries, 5) bool: the data do not pin the parameter down inside ``bounds``
    ((5, 2) or (..., n_entries, 5, 2), fit space) — its 1σ error ``x_err`` exceeds half the
    bound range, or, errors having been estimated for that fit (any finite error over its
    last two axes), it got none although not at a bound (``at_edge``: held fixed as pinned
    by its bounds)."""
    x_err = np.asarray(x_err, float)
    bounds = np.asarray(bounds, float)
    half_range = 0.5 * (bounds[..., 1] - bounds[..., 0])
    estimated = np.isfinite(x_err).any(axis=(-2, -1), keepdims=True)
    with np.errstate(invalid="ignore"):
        wide = np.isfinite(x_err) & (x_err > half_range)
    return wide | (estimated & np.isnan(x_err) & ~np.asarray(at_edge, bool))


def observed_window_figure(obs: Observation, w: int, *, width: int, height: int):
    """Bokeh figure of window ``w`` of ``obs``: the observed spectrum (K) against rest
    frequency (MHz), titled with the window and the observation's name; models are drawn on
    it by the callers (:meth:`FitResult.plot`, the identification's plot)."""
    from bokeh.plotting import figure

    fig = figure(
        width=width,
        height=height,
        title=f"window {w}: {obs.name}",
        x_axis_label="rest frequency (MHz)",
        y_axis_label="T (K)",
        tools="pan,wheel_zoom,box_zoom,reset,save",
    )
    fig.step(
        obs.rest_freqs[w], obs.intensities[w], mode="center", color="black", legend_label="observed"
    )
    return fig


@dataclass
class FitResult:
    """Result of fitting one spectrum.

    Attributes
    ----------
    species
        Species of each fitted entry (one entry per species and velocity component).
    component
        Component index of each entry within its species (0, 1, …).
    x
        Best parameters in fit space (n_entries, 5): log10 η, T_ex K, log10 N_tot,
        log10 Δv, v_off km/s.
    x_err
        1σ Laplace errors in fit space (n_entries, 5); NaN when not estimated.
    theta_b_sq
        Reference beam θ_b² (arcsec²) used for θ ↔ η.
    loss_name, loss
        "chi2" or "pm", and the loss at ``x``.
    peak_term, has_peak
        Peak-matching peak term (K) and whether the model has any peak, at ``x``.
    chi2
        Noise-weighted χ² at ``x``.
    nfev, nfev_init, nfev_local, njev
        Forward-model evaluations in total, for the initial samples, for the
        optimiser; exact-gradient evaluations (included in nfev).
    timings
        Wall time per stage, s ("setup", "init", "local", "errors", "total").
    optimizer, init
        What was used.
    model
        Best-fit model spectra per window, K.
    at_bound
        (n_entries, 5): parameter within 0.1 % of the bound range from a bound.
    extrapolated_q
        (n_entries,): T_ex beyond the partition-function table.
    bounds
        Fit-space bounds (n_entries, 5, 2).
    obs
        The fitted observation.
    meta
        Free-form details (seed, message, gradient kind, free parameter count…).
    """

    species: list[str]
    component: list[int]
    x: np.ndarray
    x_err: np.ndarray
    theta_b_sq: float
    loss_name: str
    loss: float
    peak_term: float
    has_peak: bool
    chi2: float
    nfev: int
    nfev_init: int
    nfev_local: int
    njev: int
    timings: dict[str, float]
    optimizer: str
    init: str
    model: list[np.ndarray]
    at_bound: np.ndarray
    extrapolated_q: np.ndarray
    bounds: np.ndarray
    obs: Observation
    meta: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ derived values
    @property
    def params(self) -> np.ndarray:
        """Physical parameters (n_entries, 5): θ″, T_ex K, N_tot cm⁻², Δv km/s, v_off km/s."""
        return fit_to_physical(self.x, self.theta_b_sq)

    @property
    def params_err(self) -> np.ndarray:
        """1σ errors of :attr:`params` (linear propagation of :attr:`x_err`)."""
        return physical_errors(self.x, self.x_err, self.theta_b_sq)

    @property
    def eta(self) -> np.ndarray:
        """Beam filling factors (n_entries,)."""
        return 10.0 ** self.x[:, 0]

    @property
    def no_peaks(self) -> bool:
        """True when the best model has no peak above 4 rms (flag)."""
        return not self.has_peak

    @property
    def flags(self) -> dict[str, object]:
        """The flags as a dict: parameters at a bound, extrapolated Q, no model peaks."""
        at = {
            f"{s}#{c}": [FIT_NAMES[j] for j in np.flatnonzero(row)]
            for s, c, row in zip(self.species, self.component, self.at_bound, strict=True)
            if row.any()
        }
        return {
            "at_bound": at,
            "extrapolated_q": [
                s for s, e in zip(self.species, self.extrapolated_q, strict=True) if e
            ],
            "no_peaks": self.no_peaks,
        }

    @property
    def unconstrained(self) -> np.ndarray:
        """(n_entries, 5) bool: the data do not pin the parameter down inside its bounds — its
        1σ error in fit space exceeds half the bound range, or, errors having been estimated,
        it got none although not at a bound (held fixed as pinned by its bounds)."""
        return unconstrained_parameters(self.x_err, self.bounds, self.at_bound)

    def warnings(self) -> list[str]:
        """Why the fit should not be trusted as it stands, one sentence each (empty: none):
        parameters at a bound, unconstrained parameters, extrapolated Q(T), no model peak."""
        out = []
        p = self.params
        for k, (s, c) in enumerate(zip(self.species, self.component, strict=True)):
            for j in np.flatnonzero(self.at_bound[k]):
                out.append(
                    f"{s}[{c}]: {PHYSICAL_NAMES[j]} = {p[k, j]:.4g} "
                    f"{PHYSICAL_UNITS[j]} sits at a bound of the search range"
                )
            for j in np.flatnonzero(self.unconstrained[k] & ~self.at_bound[k]):
                out.append(
                    f"{s}[{c}]: {PHYSICAL_NAMES[j]} is unconstrained by the data "
                    "(error above half the search range, or none)"
                )
            if self.extrapolated_q[k]:
                out.append(f"{s}[{c}]: T_ex beyond the partition-function table (Q extrapolated)")
        if self.no_peaks:
            out.append("the model has no peak above 4 rms")
        return out

    def quantity(self, name: str):
        """One physical parameter for all entries as an astropy Quantity (e.g. "N_tot")."""
        import astropy.units as u

        try:
            j = PHYSICAL_NAMES.index(name)
        except ValueError as exc:
            raise ResultsError(f"unknown parameter {name!r}; one of {PHYSICAL_NAMES}") from exc
        return self.params[:, j] * u.Unit(PHYSICAL_UNITS[j])

    # ------------------------------------------------------------------ views
    def to_table(self):
        """One row per species/component with units, errors and flags (astropy Table)."""
        import astropy.units as u
        from astropy.table import Table

        p, e = self.params, self.params_err
        table = Table()
        table["species"] = self.species
        table["component"] = self.component
        for j, (name, unit) in enumerate(zip(PHYSICAL_NAMES, PHYSICAL_UNITS, strict=True)):
            table[name] = p[:, j] * u.Unit(unit)
            table[f"{name}_err"] = e[:, j] * u.Unit(unit)
        table["eta"] = self.eta
        table["log10_N_tot"] = self.x[:, 2]
        table["at_bound"] = [
            ",".join(FIT_NAMES[j] for j in np.flatnonzero(r)) for r in self.at_bound
        ]
        table["extrapolated_q"] = self.extrapolated_q
        table.meta.update(
            loss_name=self.loss_name,
            loss=self.loss,
            peak_term=self.peak_term,
            chi2=self.chi2,
            nfev=self.nfev,
            optimizer=self.optimizer,
            init=self.init,
        )
        return table

    def __repr__(self) -> str:
        lines = [
            f"<FitResult {self.loss_name}={self.loss:.6g} (peak term {self.peak_term:.4g} K, "
            f"χ²={self.chi2:.6g}) by {self.init}+{self.optimizer}, nfev={self.nfev} "
            f"({self.nfev_init} init + {self.nfev_local} local), "
            f"{self.timings.get('total', float('nan')):.3g} s"
        ]
        p, e = self.params, self.params_err
        for k, (s, c) in enumerate(zip(self.species, self.component, strict=True)):
            err = (
                ""
                if np.all(np.isnan(e[k]))
                else (
                    f" ± ({e[k, 0]:.2g}″, {e[k, 1]:.2g} K, {e[k, 2]:.2g}, {e[k, 3]:.2g}, "
                    f"{e[k, 4]:.2g})"
                )
            )
            lines.append(
                f"  {s}[{c}]: θ={p[k, 0]:.3g}″ (η={self.eta[k]:.3g}), T_ex={p[k, 1]:.4g} K, "
                f"N={p[k, 2]:.3e} cm⁻², Δv={p[k, 3]:.3g} km/s, v_off={p[k, 4]:.3g} km/s{err}"
            )
        flags = self.flags
        if flags["at_bound"] or flags["extrapolated_q"] or flags["no_peaks"]:
            lines.append(f"  flags: {flags}")
        return "\n".join(lines) + ">"

    def plot(self, *, width: int = 900, height: int = 260, components=None):
        """Bokeh figure(s): observed spectrum and best model per window (a column layout).

        ``components``: optional per-entry model spectra (list per entry of lists per
        window) drawn as thin lines (``fit.component_spectra`` gives them).
        """
        from bokeh.layouts import column
        from bokeh.palettes import Category10

        figs = []
        for w, (f, m) in enumerate(zip(self.obs.rest_freqs, self.model, strict=True)):
            fig = observed_window_figure(self.obs, w, width=width, height=height)
            fig.line(f, m, color="red", line_width=2, legend_label=f"model ({self.loss_name})")
            if components is not None:
                palette = Category10[10]
                for k, comp in enumerate(components):
                    fig.line(
                        f,
                        comp[w],
                        color=palette[k % 10],
                        line_width=1,
                        alpha=0.7,
                        legend_label=f"{self.species[k]}[{self.component[k]}]",
                    )
            fig.legend.click_policy = "hide"
            fig.legend.location = "top_left"
            figs.append(fig)
        return column(*figs)

    def save_png(self, path: str | Path, components=None, dpi: int = 110) -> None:
        """A static PNG of :meth:`plot` (matplotlib): observed and model per window."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n = self.obs.n_windows
        fig, axes = plt.subplots(n, 1, figsize=(11, 3.6 * n), squeeze=False)
        for w, ax in enumerate(axes[:, 0]):
            f = self.obs.rest_freqs[w]
            ax.step(f, self.obs.intensities[w], where="mid", color="k", lw=0.8, label="observed")
            ax.plot(
                f, self.model[w], color="r", lw=2.0, alpha=0.5, label=f"model ({self.loss_name})"
            )
            for k, comp in enumerate(components or []):
                ax.plot(f, comp[w], lw=0.9, label=f"{self.species[k]}[{self.component[k]}]")
            ax.set_ylabel("T (K)")
            ax.legend(fontsize=7, loc="upper right")
        axes[-1, 0].set_xlabel("rest frequency (MHz)")
        axes[0, 0].set_title(
            f"{self.obs.name}: {self.init}+{self.optimizer}, "
            f"{self.loss_name}={self.loss:.4g}, nfev={self.nfev}",
            fontsize=9,
        )
        fig.tight_layout()
        try:
            fig.savefig(path, dpi=dpi)
        except OSError as exc:
            raise ResultsError(f"cannot write {path}: {exc}") from exc
        finally:
            plt.close(fig)

    def to_molfit(self, path: str | Path | None = None) -> str:
        """XCLASS molfit text of the result (limits = fit bounds); also written to ``path``."""
        from .xclass import Molfit, MolfitComponent, MolfitEntry, write_molfit, xclass_name

        p = self.params
        lo = fit_to_physical(self.bounds[..., 0], self.theta_b_sq)
        hi = fit_to_physical(self.bounds[..., 1], self.theta_b_sq)
        molfit = Molfit()
        for k, (s, c) in enumerate(zip(self.species, self.component, strict=True)):
            comp = MolfitComponent(
                tuple(map(float, p[k])),
                tuple(map(float, lo[k])),
                tuple(map(float, hi[k])),
                (True,) * 5,
                "c",
            )
            name = xclass_name(s)
            if c == 0 or not molfit.entries or molfit.entries[-1].species != name:
                molfit.entries.append(MolfitEntry(name))
            molfit.entries[-1].components.append(comp)
        return write_molfit(molfit, path)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        """JSON-serialisable content, including the observation."""
        return {
            "species": list(self.species),
            "component": [int(c) for c in self.component],
            "x": self.x.tolist(),
            "x_err": [[None if np.isnan(v) else float(v) for v in row] for row in self.x_err],
            "params": self.params.tolist(),
            "param_names": list(PHYSICAL_NAMES),
            "param_units": list(PHYSICAL_UNITS),
            "fit_names": list(FIT_NAMES),
            "theta_b_sq": self.theta_b_sq,
            "loss_name": self.loss_name,
            "loss": self.loss,
            "peak_term": self.peak_term,
            "has_peak": bool(self.has_peak),
            "chi2": self.chi2,
            "nfev": int(self.nfev),
            "nfev_init": int(self.nfev_init),
            "nfev_local": int(self.nfev_local),
            "njev": int(self.njev),
            "timings": dict(self.timings),
            "optimizer": self.optimizer,
            "init": self.init,
            "model": [m.tolist() for m in self.model],
            "at_bound": self.at_bound.tolist(),
            "extrapolated_q": [bool(v) for v in self.extrapolated_q],
            "bounds": self.bounds.tolist(),
            "observation": self.obs.to_dict(),
            "meta": self.meta,
        }

    def to_json(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as JSON."""
        try:
            Path(path).write_text(json.dumps(self.to_dict(), indent=1, default=_json_default))
        except OSError as exc:
            raise ResultsError(f"cannot write {path}: {exc}") from exc

    @classmethod
    def from_dict(cls, d: dict) -> FitResult:
        """Inverse of :meth:`to_dict`."""

        def arr(v):
            return np.array([[np.nan if e is None else e for e in row] for row in v], dtype=float)

        return cls(
            species=list(d["species"]),
            component=list(d["component"]),
            x=np.asarray(d["x"], dtype=float),
            x_err=arr(d["x_err"]),
            theta_b_sq=float(d["theta_b_sq"]),
            loss_name=d["loss_name"],
            loss=d["loss"],
            peak_term=d["peak_term"],
            has_peak=d["has_peak"],
            chi2=d["chi2"],
            nfev=d["nfev"],
            nfev_init=d["nfev_init"],
            nfev_local=d["nfev_local"],
            njev=d["njev"],
            timings=d["timings"],
            optimizer=d["optimizer"],
            init=d["init"],
            model=[np.asarray(m, dtype=float) for m in d["model"]],
            at_bound=np.asarray(d["at_bound"], dtype=bool),
            extrapolated_q=np.asarray(d["extrapolated_q"], dtype=bool),
            bounds=np.asarray(d["bounds"], dtype=float),
            obs=Observation.from_dict(d["observation"]),
            meta=d.get("meta", {}),
        )

    @classmethod
    def from_json(cls, path: str | Path) -> FitResult:
        """Read a result written by :meth:`to_json`."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, KeyError, ValueError) as exc:
            raise ResultsError(f"cannot read fit result {path}: {exc}") from exc


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj)}")
