"""FitProblem: the objective of one fit — parameter layout, prepared model and loss.

Free parameters ``z`` (one row per start) map onto fit-space entries (n_entries, 5) —
log10 η, T_ex (K), log10 N_tot (cm⁻²), log10 Δv (km/s), v_off (km/s) per species and
velocity component — with the parameters named in ``shared`` taking one value for all
entries. The loss is peak matching or χ² (docs/method.md §3) of the LTE model
(docs/method.md §2) plus an optional fixed base spectrum; :meth:`FitProblem.jacobian`
gives the exact Jacobian and :meth:`FitProblem.laplace_errors` the 1σ errors
(docs/method.md §7). :func:`~spectuner_nb.fit.fit_spectrum` drives it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import numpy as np

from . import losses
from ._lte_kernels import linear_rows
from .catalog.names import resolve
from .errors import CatalogError, FitError
from .fit_settings import LOSSES, PARAMETER_ALIASES, bounds_array
from .observation import Observation
from .parameters import FIT_NAMES, N_PARAMS, at_bound, resolve_preset

__all__ = ["FitProblem"]


class FitProblem:
    """The objective of one fit: parameter layout, prepared model and loss.

    Parameters
    ----------
    obs
        The observation.
    species
        Species names (resolved through the catalog's resolver).
    catalog
        A transition cache with ``lines(species, windows)``; default the user cache.
    loss
        "pm" (peak matching) or "chi2" (noise-weighted).
    n_components
        Velocity components per species (int or one per species).
    shared
        Fit parameters shared by all entries ("v_off", "log10_delta_v", "T_ex", …).
    bounds
        Fit-space bounds, see :func:`fit_spectrum`.
    lines
        Pre-fetched line lists, one per species (skips the catalog).
    base
        Fixed spectrum per window (K) added to the model before the loss, or None.
    """

    def __init__(
        self,
        obs: Observation,
        species: Sequence[str],
        *,
        catalog=None,
        loss: str = "pm",
        n_components: int | Sequence[int] = 1,
        shared: Sequence[str] = (),
        bounds=None,
        lines=None,
        base=None,
    ) -> None:
        from .model import LTEModel

        if not isinstance(obs, Observation):
            raise FitError(f"obs must be an Observation, got {type(obs).__name__}")
        if loss not in LOSSES:
            raise FitError(f"loss must be one of {LOSSES}, got {loss!r}")
        species = [species] if isinstance(species, str) else list(species)
        if not species:
            raise FitError("give at least one species")
        self.obs = obs
        self.loss_name = loss
        self.species_in = [resolve(s) for s in species]
        # np.ndim also takes numpy integers and arrays, which mypy cannot narrow on
        counts = (
            [cast(int, n_components)] * len(species)
            if np.ndim(n_components) == 0
            else list(cast(Sequence[int], n_components))
        )
        if len(counts) != len(species) or any(int(c) < 1 for c in counts):
            raise FitError(f"n_components must be ≥ 1, one per species; got {n_components}")
        if lines is None:
            if catalog is None:
                from .catalog import default_cache

                catalog = default_cache()
            try:
                lines = [catalog.lines(s, obs.windows) for s in self.species_in]
            except CatalogError as exc:
                raise FitError(f"cannot get lines: {exc}") from exc
        if len(lines) != len(species):
            raise FitError(f"{len(lines)} line lists for {len(species)} species")
        self.species_lines = list(lines)
        self.species_in = [
            ll.species or name for ll, name in zip(lines, self.species_in, strict=True)
        ]
        self.species = [
            s for s, c in zip(self.species_in, counts, strict=True) for _ in range(int(c))
        ]
        self.component = [k for c in counts for k in range(int(c))]
        self.entry_species = [i for i, c in enumerate(counts) for _ in range(int(c))]
        self.lines = [lines[i] for i in self.entry_species]
        self.n_entries = len(self.species)
        self.model = LTEModel(obs.rest_freqs, self.lines, beam=obs.beam, T_bg=list(obs.T_bg))
        self.theta_b_sq = self.model.theta_b_sq_ref
        self.bounds = bounds_array(resolve_preset(bounds, obs), self.n_entries)
        self.base = None if base is None else _base_spectrum(base, obs)
        """Fixed spectrum added to the model (n_chan_total,), K, or None."""
        self._base_windows = (
            None
            if self.base is None
            else np.split(self.base, np.cumsum([f.size for f in obs.rest_freqs])[:-1])
        )

        shared_idx = []
        for name in shared:
            key = PARAMETER_ALIASES.get(name, name)
            if key not in FIT_NAMES:
                raise FitError(f"cannot share {name!r}; use one of {FIT_NAMES}")
            shared_idx.append(FIT_NAMES.index(key))
        self.shared = sorted(set(shared_idx))
        idx = np.empty((self.n_entries, N_PARAMS), dtype=int)
        z_bounds: list = []  # [low, high] per free parameter
        for j in range(N_PARAMS):
            if j in self.shared:
                idx[:, j] = len(z_bounds)
                z_bounds.append([self.bounds[:, j, 0].max(), self.bounds[:, j, 1].min()])
            else:
                for k in range(self.n_entries):
                    idx[k, j] = len(z_bounds)
                    z_bounds.append(self.bounds[k, j])
        self.idx = idx
        self.z_bounds = np.asarray(z_bounds, dtype=float)
        if np.any(self.z_bounds[:, 1] <= self.z_bounds[:, 0]):
            raise FitError("shared parameters have disjoint bounds across entries")
        self.n_free = len(z_bounds)
        self.model_failures = 0

        self._obs_y = list(obs.intensities)
        self._obs_all = np.concatenate(self._obs_y)
        self._weights = np.concatenate(
            [np.full(y.size, 1.0 / r**2) for y, r in zip(self._obs_y, obs.rms, strict=True)]
        )
        self._identity_layout = bool(np.array_equal(idx.ravel(), np.arange(self.n_free)))
        self._chi2 = losses.chi2
        self._pm = losses.PeakMatchingLoss(obs.rest_freqs, self._obs_y, obs.rms)

    # ------------------------------------------------------------------ layout
    def expand(self, z: np.ndarray) -> np.ndarray:
        """Free parameters (..., n_free) → fit-space entries (..., n_entries, 5)."""
        return np.asarray(z, dtype=float)[..., self.idx]

    def reduce(self, x: np.ndarray) -> np.ndarray:
        """Fit-space entries (..., n_entries, 5) → free parameters (shared ones averaged)."""
        x = np.asarray(x, dtype=float)
        lead = x.shape[:-2]
        z = np.zeros(lead + (self.n_free,))
        count = np.zeros(self.n_free)
        flat_idx = self.idx.ravel()
        np.add.at(count, flat_idx, 1.0)
        xf = x.reshape(lead + (-1,))
        for col, target in enumerate(flat_idx):
            z[..., target] += xf[..., col]
        return z / count

    def sample_uniform(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` free-parameter vectors drawn uniformly within the bounds (n, n_free)."""
        lo, hi = self.z_bounds[:, 0], self.z_bounds[:, 1]
        return lo + rng.random((n, self.n_free)) * (hi - lo)

    # ------------------------------------------------------------------ objective
    def _entries(self, z: np.ndarray) -> np.ndarray:
        """Free parameters → fit-space entries clipped into each entry's bounds."""
        return np.clip(self.expand(z), self.bounds[..., 0], self.bounds[..., 1])

    def spectra(self, z: np.ndarray) -> list[np.ndarray]:
        """Model spectra per window (n_batch, n_chan) for free parameters (n_batch, n_free),
        the base included."""
        out = self.model.from_fit(self._entries(np.atleast_2d(z)))
        if self._base_windows is None:  # no base
            return out
        return [m + b for m, b in zip(out, self._base_windows, strict=True)]

    def loss_of_stacked(self, pred: np.ndarray) -> np.ndarray:
        """The chosen loss of model spectra with the windows concatenated,
        (n_batch, n_chan_total) in K → (n_batch,)."""
        if self.loss_name == "chi2":
            resid = pred - self._obs_all
            return np.einsum("ij,ij,j->i", resid, resid, self._weights)
        return self._pm.stacked(pred).loss

    def _stacked_spectra(self, z: np.ndarray) -> np.ndarray:
        out = self.model.stacked_from_fit(self._entries(z))
        return out if self.base is None else out + self.base

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Loss of free-parameter vectors (n_batch, n_free) → (n_batch,).

        If the compiled model fails on a batch (numerical error in the kernel),
        the rows are evaluated one by one and the failing ones get +inf, so the
        optimiser steers away; :attr:`model_failures` counts them.
        """
        z = np.atleast_2d(z)
        try:
            return self.loss_of_stacked(self._stacked_spectra(z))
        except (ArithmeticError, SystemError):
            out = np.full(z.shape[0], np.inf)
            for i, row in enumerate(z):
                try:
                    out[i] = self.loss_of_stacked(self._stacked_spectra(row[None]))[0]
                except (ArithmeticError, SystemError):
                    self.model_failures += 1
            return out

    def linearised(self, z: np.ndarray) -> Callable[[np.ndarray], np.ndarray] | None:
        """The loss of the model linearised at ``z`` with its exact Jacobian:
        ``f(Z) = loss(T(z) + (Z − z) Jᵀ)`` for free-parameter rows Z (n_batch, n_free).

        Agrees with the loss to second order in Z − z at the cost of one Jacobian pass,
        so 3-point differences of it give the loss gradient without 2·n_free model
        evaluations (:func:`~spectuner_nb.optimize.minimize_local`'s ``local_model``).
        None where the Jacobian is unavailable (a numerical failure of the kernel).
        """
        z = np.asarray(z, dtype=float)
        try:
            spectrum, jac = self.jacobian(z)
        except (ArithmeticError, SystemError):
            return None
        return lambda zs: self.loss_of_stacked(linear_rows(spectrum, jac, np.atleast_2d(zs) - z))

    def jacobian(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Model spectrum over all windows (n_chan_total,), base included, and the exact
        Jacobian ∂T/∂z (n_chan_total, n_free), from one kernel pass
        (:meth:`LTEModel.spectrum_and_jacobian`)."""
        spectrum, jac_x = self.model.spectrum_and_jacobian(self._entries(z))
        if self.base is not None:
            spectrum = spectrum + self.base
        if self._identity_layout:
            return spectrum, jac_x
        jac_z = np.zeros((jac_x.shape[0], self.n_free))
        for col, target in enumerate(self.idx.ravel()):
            jac_z[:, target] += jac_x[:, col]
        return spectrum, jac_z

    def chi2_value_and_grad(self, z: np.ndarray) -> tuple[float, np.ndarray]:
        """Noise-weighted χ² and its exact gradient with respect to z."""
        spectrum, jac = self.jacobian(z)
        return losses.chi2_and_gradient(self._obs_all, self._weights, spectrum, jac)

    def laplace_errors(self, z: np.ndarray, free: np.ndarray | None = None) -> np.ndarray:
        """1σ errors of z from the Gauss-Newton Hessian of χ²: cov = (Jᵀ W J)⁻¹ (n_free,).

        Only free parameters enter the Hessian: those where boolean ``free`` is True
        (default: not at a bound), less those pinned by their bounds — a parameter
        whose bound range is narrower than its own 1σ error is fixed by the bounds,
        not by the data: the one with the largest error/range ratio is held fixed and
        the others recomputed, until none is (docs/method.md §7). The fixed ones, and
        any with a non-positive variance, get NaN.
        """
        _, jac = self.jacobian(z)
        free = (~at_bound(z, self.z_bounds) if free is None else np.asarray(free, bool)).copy()
        span = self.z_bounds[:, 1] - self.z_bounds[:, 0]
        while True:
            out = self._gauss_newton_errors(jac, free)
            ratio = np.where(free, np.nan_to_num(out / span, nan=np.inf), 0.0)
            if not np.any(ratio >= 1.0):
                return out
            free[int(np.argmax(ratio))] = False

    def _gauss_newton_errors(self, jac: np.ndarray, free: np.ndarray) -> np.ndarray:
        out = np.full(self.n_free, np.nan)
        if not free.any():
            return out
        j = jac[:, free]
        fisher = j.T @ (self._weights[:, None] * j)
        try:
            cov = np.linalg.inv(fisher)
        except np.linalg.LinAlgError:
            cov = np.linalg.pinv(fisher)
        diag = np.diag(cov)
        out[free] = np.where(diag > 0, np.sqrt(np.abs(diag)), np.nan)
        return out

    def component_spectra(self, x: np.ndarray) -> list[list[np.ndarray]]:
        """Spectra of each entry alone (others at N_tot = 0): list per entry of lists per window."""
        params = self.model.to_physical(np.asarray(x, dtype=float))
        batch = np.repeat(params[None], self.n_entries, axis=0)
        for k in range(self.n_entries):
            batch[k, np.arange(self.n_entries) != k, 2] = 0.0
        spectra = self.model(batch)
        return [[s[k] for s in spectra] for k in range(self.n_entries)]


def _base_spectrum(base, obs: Observation) -> np.ndarray:
    """A fixed spectrum per window (K) as one concatenated array (n_chan_total,)."""
    parts = [base] if isinstance(base, np.ndarray) and base.ndim == 1 else list(base)
    sizes = [f.size for f in obs.rest_freqs]
    if len(parts) != len(sizes) or any(
        np.shape(b) != (n,) for b, n in zip(parts, sizes, strict=True)
    ):
        raise FitError(f"base must hold one spectrum per window with {sizes} channels")
    out = np.concatenate([np.asarray(b, dtype=float) for b in parts])
    if not np.all(np.isfinite(out)):
        raise FitError("base holds NaN or infinite values")
    return out
