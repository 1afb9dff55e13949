"""Checks of a cube fit's settings and inputs, and the identity of a run (docs/method.md §8).

:func:`check_settings` runs before anything is loaded, so a typo costs nothing;
:func:`run_identity` digests everything a pixel's result depends on besides the
data — line lists and partition functions, the policy's weights, every setting —
so that a resumed run can never adopt chunks computed from other inputs.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import numpy as np

from .. import __version__
from ..checks import as_count
from ..digests import linelist_digest, policy_digest
from ..errors import CubeError
from ..fit import fit_spectrum
from ..fit_settings import CUBE_INITS, CubeSettings, bounds_array, check_species
from ..observation import check_v_lsr
from ..parameters import is_auto_preset
from .preprocessing import PreprocessConfig

__all__ = [
    "INITS",
    "CUBE_OWNED_FIT_KWARGS",
    "allowed_fit_kwargs",
    "check_settings",
    "check_mask",
    "linelist_digest",
    "policy_digest",
    "run_identity",
]

INITS: tuple[str, ...] = CUBE_INITS
"""Accepted named ``init`` values of :func:`~spectuner_nb.cube.fit_cube`
(:data:`~spectuner_nb.fit_settings.CUBE_INITS`)."""
CUBE_OWNED_FIT_KWARGS: frozenset[str] = frozenset(
    {
        "obs",
        "species",
        "catalog",
        "loss",
        "optimizer",
        "init",
        "n_init",
        "seed",
        "lines",
        "errors",
        "n_components",
    }
)
""":func:`~spectuner_nb.fit.fit_spectrum` arguments that fit_cube sets itself (or that would
change the map layout); every other one may be passed through ``fit_kwargs``."""


def allowed_fit_kwargs() -> list[str]:
    """Names accepted in ``fit_kwargs``."""
    return sorted(set(inspect.signature(fit_spectrum).parameters) - CUBE_OWNED_FIT_KWARGS)


def check_settings(
    *,
    species,
    loss: str,
    init,
    optimizer: str,
    n_init,
    seed,
    chunk_size,
    n_workers,
    neighbour_stride,
    fit_kwargs,
    v_lsr,
    workdir,
    select,
) -> dict:
    """Validate fit_cube's settings (:meth:`CubeSettings.validate` and the run's own);
    returns them normalised (species list, ints, lower-case optimizer, fit_kwargs dict,
    ``bounds`` as a fit-space array or None for "auto", ``settings`` the
    :class:`CubeSettings`). Raises :class:`CubeError` naming the setting."""
    species = check_species(species, error=CubeError)
    fit_kwargs = dict(fit_kwargs or {})
    unknown = sorted(set(fit_kwargs) - set(allowed_fit_kwargs()))
    if unknown:
        raise CubeError(f"fit_kwargs cannot hold {unknown}; allowed: {allowed_fit_kwargs()}")
    if not (isinstance(init, str) or callable(getattr(init, "propose", None))):
        raise CubeError(
            f"init must be one of {INITS} or an object with a propose method, "
            f"got {type(init).__name__}"
        )
    bounds = fit_kwargs.get("bounds")
    settings = CubeSettings(
        loss=loss,
        init=init,
        n_init=n_init,
        optimizer=optimizer,
        seed=seed,
        bounds=bounds,
        gradient=fit_kwargs.get("gradient", "auto"),
        maxiter=fit_kwargs.get("maxiter", 1000),
        n_trial=fit_kwargs.get("n_trial", 3),
        chunk_size=chunk_size,
        neighbour_stride=neighbour_stride,
    ).validate(error=CubeError)
    if settings.seed is None:
        raise CubeError("seed must be a whole number ≥ 0 (a cube fit is reproducible), got None")
    if not (select is True or select is False or isinstance(select, PreprocessConfig)):
        raise CubeError(f"select must be True, False or a PreprocessConfig, got {select!r}")
    if not hasattr(v_lsr, "unit"):
        check_v_lsr(v_lsr)
    if workdir is not None and Path(workdir).exists() and not Path(workdir).is_dir():
        raise CubeError(f"workdir {workdir} exists and is not a directory")
    auto = bounds is None or is_auto_preset(bounds)
    return {
        "species": species,
        "optimizer": settings.optimizer,
        "n_init": settings.n_init,
        "fit_kwargs": fit_kwargs,
        "seed": settings.seed,
        "chunk_size": settings.chunk_size,
        "neighbour_stride": settings.neighbour_stride,
        "settings": settings,
        "bounds": None if auto else bounds_array(bounds, len(species), error=CubeError),
        "n_workers": None
        if n_workers is None
        else as_count(n_workers, "n_workers", maximum=os.cpu_count() or 1, error=CubeError),
    }


def check_mask(mask, shape: tuple[int, int]) -> np.ndarray | None:
    """``mask`` as a boolean (ny, nx) map, or :class:`CubeError` if its shape differs."""
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.shape != tuple(shape):
        raise CubeError(f"mask has shape {arr.shape}, the cube's pixel grid is {tuple(shape)}")
    return arr.astype(bool)


def run_identity(settings: dict, lines: list, policy=None) -> dict:
    """The parts of a run's manifest that are not data: settings, inputs' digests, version."""
    return {
        **settings,
        "lines": [linelist_digest(ll) for ll in lines],
        "policy": None if policy is None else policy_digest(policy),
        "version": __version__,
    }
