"""The settings of a fit, with one set of defaults, checked in one place.

:class:`FitSettings` holds what every fitting entry point shares — the loss, the start
strategy (``init``), the number of initial samples, the optimiser, the bounds, the seed
and the optimiser's limits — and :data:`DEFAULTS` is the one set of default values that
:func:`~spectuner_nb.fit.fit_spectrum`, :func:`~spectuner_nb.cube.fit_cube`,
:func:`~spectuner_nb.identification.identify`, the command line, the CASA tasks and the
widgets use. :class:`CubeSettings` adds what a cube fit needs besides (pixels per task,
the seed-grid spacing of neighbour starts).

:meth:`FitSettings.validate` rejects a bad value before any data is read, with the
caller's typed error (:class:`~spectuner_nb.errors.FitError` by default) naming the
setting; the error carries that name in its ``setting`` attribute, so that an adapter can
report it in its own spelling (the CASA tasks say ``ninit`` for ``n_init``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Self

import numpy as np

from .checks import N_INIT_MAX, as_count, as_seed
from .errors import FitError, ModelInputError, SpectunerError
from .optimize import OPTIMIZERS
from .parameters import FIT_NAMES, N_PARAMS, TABLE1_BOUNDS, bounds_preset, is_auto_preset

__all__ = [
    "LOSSES",
    "GRADIENTS",
    "INITS",
    "CUBE_INITS",
    "N_INIT_MAX",
    "FitSettings",
    "CubeSettings",
    "DEFAULTS",
    "CUBE_DEFAULTS",
    "QUICK_DEFAULTS",
    "bounds_array",
    "check_species",
    "PARAMETER_ALIASES",
]

LOSSES: tuple[str, ...] = ("pm", "chi2")
"""Accepted losses: peak matching (docs/method.md §3) and the noise-weighted χ²."""
GRADIENTS: tuple[str, ...] = ("auto", "exact", "jacobian", "3-point")
"""Accepted ``gradient`` values of :func:`~spectuner_nb.fit.fit_spectrum`."""
INITS: tuple[str, ...] = ("auto", "policy", "random")
"""Named start strategies (:func:`~spectuner_nb.starts.resolve_init`); an array of starts
or any object with a ``propose`` method is accepted too."""
CUBE_INITS: tuple[str, ...] = INITS + ("neighbour",)
"""Named start strategies of a cube fit: :data:`INITS` and "neighbour"."""
PARAMETER_ALIASES: dict[str, str] = {
    "eta": "log10_eta",
    "theta": "log10_eta",
    "N_tot": "log10_N_tot",
    "delta_v": "log10_delta_v",
}
"""Other names of the fit parameters accepted in bound dictionaries and ``shared``."""


def _fail(error: type[SpectunerError], setting: str, message: str) -> SpectunerError:
    exc = error(message)
    exc.setting = setting  # type: ignore[attr-defined]
    return exc


def _named(check, setting: str, error: type[SpectunerError]):
    """Run a check of :mod:`~spectuner_nb.checks`, tagging its error with the setting."""
    try:
        return check()
    except SpectunerError as exc:
        raise _fail(error, setting, str(exc)) from None


def bounds_array(
    bounds, n_entries: int = 1, *, error: type[SpectunerError] = FitError
) -> np.ndarray:
    """Fit-space bounds (n_entries, 5, 2) from None (Table 1), a preset name of
    :data:`~spectuner_nb.parameters.BOUND_PRESETS`, a (5, 2) or (n_entries, 5, 2) array,
    or a dict overriding Table 1 by parameter name, e.g. ``{"v_off": (-5, 5)}``.

    Raises ``error`` when they are not finite, inverted (lower ≥ upper) or allow η ≥ 1.
    """
    base = np.array(TABLE1_BOUNDS, dtype=float)
    if isinstance(bounds, str):
        try:
            base, bounds = bounds_preset(bounds), None
        except ModelInputError as exc:
            raise _fail(error, "bounds", str(exc)) from exc
    if bounds is None:
        out = np.broadcast_to(base, (n_entries, N_PARAMS, 2)).copy()
    elif isinstance(bounds, Mapping):
        for key, pair in bounds.items():
            name = PARAMETER_ALIASES.get(key, key)
            if name not in FIT_NAMES:
                raise _fail(error, "bounds", f"unknown bound {key!r}; use one of {FIT_NAMES}")
            try:
                base[FIT_NAMES.index(name)] = np.asarray(pair, dtype=float).reshape(2)
            except (TypeError, ValueError) as exc:
                raise _fail(
                    error, "bounds", f"bound {key!r} must be (lower, upper), got {pair!r}"
                ) from exc
        out = np.broadcast_to(base, (n_entries, N_PARAMS, 2)).copy()
    else:
        try:
            arr = np.asarray(bounds, dtype=float)
        except (TypeError, ValueError) as exc:
            raise _fail(error, "bounds", f"bounds must be numbers, got {bounds!r}") from exc
        if arr.shape == (N_PARAMS, 2):
            out = np.broadcast_to(arr, (n_entries, N_PARAMS, 2)).copy()
        elif arr.shape == (n_entries, N_PARAMS, 2):
            out = arr.copy()
        else:
            raise _fail(
                error,
                "bounds",
                f"bounds must be (5, 2) or ({n_entries}, 5, 2) in fit space, got {arr.shape}",
            )
    if np.any(~np.isfinite(out)) or np.any(out[..., 1] <= out[..., 0]):
        raise _fail(error, "bounds", "bounds must be finite with lower < upper")
    if np.any(out[:, 0, 1] >= 0.0):
        raise _fail(error, "bounds", "the log10 η upper bound must be < 0 (η < 1)")
    return out


def check_species(species, *, error: type[SpectunerError] = FitError) -> list[str]:
    """``species`` (one name or several) as a non-empty list of non-empty names."""
    names = [species] if isinstance(species, str) else list(species or ())
    if not names:
        raise _fail(error, "species", "give at least one species")
    bad = [s for s in names if not isinstance(s, str) or not s.strip()]
    if bad:
        raise _fail(error, "species", f"species must be non-empty names, got {bad}")
    return names


def _check_init(init, inits: Sequence[str], error: type[SpectunerError]):
    if isinstance(init, str):
        if init not in inits:
            raise _fail(
                error,
                "init",
                f"init must be one of {tuple(inits)}, an array of "
                f"fit-space starts or an object with a propose method; got {init!r}",
            )
        return init
    if callable(getattr(init, "propose", None)):
        return init
    try:
        arr = np.asarray(init, dtype=float)
    except (TypeError, ValueError) as exc:
        raise _fail(
            error,
            "init",
            f"init must be one of {tuple(inits)}, an array of "
            f"fit-space starts or an object with a propose method; got {init!r}",
        ) from exc
    if arr.ndim < 2 or arr.shape[-1] != N_PARAMS or arr.size == 0:
        raise _fail(
            error,
            "init",
            "an init array must be fit-space (n_entries, 5) or "
            f"(n, n_entries, 5), got shape {arr.shape}",
        )
    if not np.all(np.isfinite(arr)):
        raise _fail(error, "init", "the init array holds NaN or infinite values")
    return arr


@dataclass(frozen=True, eq=False)
class FitSettings:
    """The settings every fit shares (see the module docstring).

    Attributes
    ----------
    loss
        "pm" (peak matching, docs/method.md §3) or "chi2" (noise-weighted χ²).
    init
        Start strategy: "auto" (the policy where a checkpoint loads and the bounds lie
        inside those it was trained on, uniform draws otherwise), "policy", "random",
        a fit-space array (n_entries, 5) / (n, n_entries, 5), or an object with a
        ``propose(obs, lines, n_init, seed=...)`` method (:class:`~spectuner_nb.starts.Proposer`).
    n_init
        Initial samples per fit (1 … :data:`~spectuner_nb.checks.N_INIT_MAX`); the best
        starts the local optimiser.
    optimizer
        One of :data:`~spectuner_nb.optimize.OPTIMIZERS` ("slsqp", …, "pso", "none").
    bounds
        Fit-space bounds: a preset name ("hot_core" = Table 1, "cold_core"), "auto"
        (chosen from the observed line widths), None (Table 1), an array or a dict
        (:func:`bounds_array`).
    seed
        Seed of the random draws (≥ 0), or None for fresh entropy.
    gradient
        Gradient of the gradient optimisers, one of :data:`GRADIENTS`.
    maxiter
        Iteration limit of the local optimiser (PSO's iteration cap).
    n_trial
        PSO trials.
    """

    loss: str = "pm"
    init: Any = "auto"
    n_init: int = 50
    optimizer: str = "slsqp"
    bounds: Any = "hot_core"
    seed: int | None = 0
    gradient: str = "auto"
    maxiter: int = 1000
    n_trial: int = 3

    #: named start strategies accepted by :meth:`validate`
    inits = INITS

    def replace(self, **changes) -> Self:
        """A copy with ``changes`` (not validated)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The settings as a plain dictionary (field name → value)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def validate(self, *, error: type[SpectunerError] = FitError) -> Self:
        """The settings checked and normalised (whole numbers as ``int``, the optimiser in
        lower case); raises ``error`` naming the first bad setting (its ``setting``
        attribute holds the field name)."""
        if self.loss not in LOSSES:
            raise _fail(error, "loss", f"loss must be one of {LOSSES}, got {self.loss!r}")
        optimizer = self.optimizer.lower() if isinstance(self.optimizer, str) else self.optimizer
        if optimizer not in OPTIMIZERS:
            raise _fail(
                error, "optimizer", f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"
            )
        if self.gradient not in GRADIENTS:
            raise _fail(
                error, "gradient", f"gradient must be one of {GRADIENTS}, got {self.gradient!r}"
            )
        if self.gradient == "exact" and self.loss != "chi2":
            raise _fail(error, "gradient", "an exact gradient exists for loss='chi2' only")
        n_init = _named(lambda: as_count(self.n_init, "n_init", error=error), "n_init", error)
        if n_init > N_INIT_MAX:
            raise _fail(
                error,
                "n_init",
                f"n_init must be at most {N_INIT_MAX}, got {n_init}: "
                "the initial samples are evaluated in one batched model call whose "
                "memory grows as n_init × channels (a few hundred are plenty)",
            )
        seed = _named(lambda: as_seed(self.seed, error=error), "seed", error)
        maxiter = _named(lambda: as_count(self.maxiter, "maxiter", error=error), "maxiter", error)
        n_trial = _named(lambda: as_count(self.n_trial, "n_trial", error=error), "n_trial", error)
        init = _check_init(self.init, self.inits, error)
        bounds = self.bounds
        if not (bounds is None or is_auto_preset(bounds)):
            arr = None if isinstance(bounds, str | Mapping) else np.asarray(bounds)
            n = arr.shape[0] if arr is not None and arr.ndim == 3 else 1
            bounds_array(bounds, n, error=error)
        return replace(
            self,
            optimizer=optimizer,
            n_init=n_init,
            seed=seed,
            maxiter=maxiter,
            n_trial=n_trial,
            init=init,
        )


@dataclass(frozen=True, eq=False)
class CubeSettings(FitSettings):
    """:class:`FitSettings` of a cube fit, plus how its pixels are split.

    Attributes
    ----------
    chunk_size
        Pixels per task (≥ 1).
    neighbour_stride
        Spacing of the seed-pixel grid of ``init="neighbour"`` (≥ 1).
    """

    chunk_size: int = 32
    neighbour_stride: int = 3

    inits = CUBE_INITS

    def validate(self, *, error: type[SpectunerError] = FitError) -> CubeSettings:
        """As :meth:`FitSettings.validate`, plus ``chunk_size`` and ``neighbour_stride``."""
        out = FitSettings.validate(self, error=error)
        chunk = _named(
            lambda: as_count(self.chunk_size, "chunk_size", error=error), "chunk_size", error
        )
        stride = _named(
            lambda: as_count(self.neighbour_stride, "neighbour_stride", error=error),
            "neighbour_stride",
            error,
        )
        return replace(out, chunk_size=chunk, neighbour_stride=stride)


DEFAULTS: FitSettings = FitSettings()
"""The default fit settings of every entry point: peak matching, ``init="auto"``, 50
initial samples, SLSQP, Table 1 (hot-core) bounds, seed 0."""
CUBE_DEFAULTS: CubeSettings = CubeSettings()
""":data:`DEFAULTS` with the cube's defaults (32 pixels per task, seed grid every 3rd
pixel)."""
QUICK_DEFAULTS: FitSettings = DEFAULTS.replace(n_init=10)
""":data:`DEFAULTS` with 10 initial samples per fit: the interactive identification panel's
defaults, an answer within seconds (the user can raise n_init there)."""
