"""The tie step: source parameters the data leave unconstrained, taken from the species
that constrain them (docs/method.md §9; used by the identification and, per pixel, by
cube fits).

A species with one or a few lines over a narrow E_up range does not constrain T_ex: T_ex, N
and η are degenerate and χ² leaves them wherever its start put them, often at the 1000 K
or η → 1 bound with N off by orders of magnitude. :func:`tie_unconstrained` gives such a
species, as bounds on its :data:`TIED_PARAMS` (filling factor and T_ex), the range those
parameters span among the species that constrain every parameter at the source velocity
(one emitting region, the common hot-core assumption), and minimises χ² again; a rare
isotopologue or vibrational state takes its parent's values when the parent is in the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .observation import Observation
from .parameters import FIT_NAMES, at_bound
from .results import unconstrained_parameters

__all__ = [
    "JOINT_MAXITER",
    "N_TIE_COLUMN_STARTS",
    "TIED_AT_BOUND",
    "TIED_PARAMS",
    "TIED_VELOCITY",
    "TIED_WIDTH",
    "TIE_MARGIN",
    "TIE_MAX_REL_ERR",
    "TIE_ROUNDS",
    "TIE_RULES_REVISION",
    "TIE_V_TOL",
    "family_parents",
    "loose_parameters",
    "loose_values",
    "saturated",
    "tie_unconstrained",
    "tied_starts",
]

JOINT_MAXITER: int = 300
"""SLSQP iteration limit of the joint χ² refinements."""
TIED_PARAMS: tuple[str, ...] = ("log10_eta", "T_ex")
"""Source parameters (filling factor, excitation temperature) that a species left at a
bound by the χ² refinement takes from the species whose parameters are all inside
their bounds (one emitting region, as hot-core analyses commonly assume)."""
TIED_WIDTH: str = "log10_delta_v"
"""A species whose line width ends at a bound of the preset (blended sub-lines or an
optically thick line, where width and opacity trade) takes it from the range of the
species that constrain it, like :data:`TIED_PARAMS` (one emitting region, one turbulence)."""
TIED_VELOCITY: str = "v_off"
"""A species whose velocity offset ends at a bound of the preset is fitting another
species' or an unknown line with its own lines shifted by the whole velocity range; it takes
the v_off range of the species that constrain it, like :data:`TIED_WIDTH` (one emitting
region moves as one), and either fits its own lines there or fades."""
TIED_AT_BOUND: tuple[str, ...] = (TIED_WIDTH, TIED_VELOCITY)
"""Parameters tied when they end at a bound of the preset (:data:`TIED_WIDTH`,
:data:`TIED_VELOCITY`); :data:`TIED_PARAMS` are tied whenever they are unconstrained."""
TIE_MARGIN: float = 0.02
"""Half-width added on each side of the constrained species' range when it is imposed,
as a fraction of the preset's span of that parameter (a single constrained species
still leaves room: ±20 K in T_ex, ±0.06 dex in log10 η for Table 1)."""
TIE_MAX_REL_ERR: float = 0.5
"""Relative χ² error of T_ex above which the data do not constrain it."""
TIE_V_TOL: float = 1.0
"""Species lend their source parameters to a tie only when their v_off lies within this
many median line widths (FWHM) of the median v_off of the constrained species: one
emitting region moves as one; a species at another velocity is another component."""
TIE_ROUNDS: int = 3
"""χ² refinements with tied parameters at most (a tie can leave another species
unconstrained; the next round ties that one too)."""
TIE_RULES_REVISION: int = 2
"""Revision of the tie step's rules, raised whenever they change; part of a tied cube fit's
run identity, so that a map resumed across a change is refused, never mixed (2: a column
density at the upper bound leaves T_ex and η unmeasured, :func:`saturated`, and up to three
refits)."""
N_TIE_COLUMN_STARTS: int = 16
"""Column densities tried for the newly tied species before the χ² refit after a tie
(:func:`tied_starts`)."""


def loose_parameters(joint, preset: np.ndarray) -> np.ndarray:
    """(n_species, 5) bool: the parameter is at a bound of ``preset``, unconstrained in the
    sense of :attr:`~spectuner_nb.results.FitResult.unconstrained` or, for T_ex, its χ²
    error exceeds :data:`TIE_MAX_REL_ERR` of its value; T_ex and η also where the column
    density is :func:`saturated`."""
    return _loose(joint.x, joint.x_err, preset, at_bound(joint.x, preset) | joint.unconstrained)


def loose_values(x: np.ndarray, x_err: np.ndarray, preset: np.ndarray) -> np.ndarray:
    """:func:`loose_parameters` of stored fits: ``x`` and ``x_err`` (..., n_species, 5) in
    fit space, judged against ``preset`` alone (e.g. every pixel of a cube fit)."""
    edge = at_bound(x, preset)
    return _loose(x, x_err, preset, edge | unconstrained_parameters(x_err, preset, edge))


def _loose(x: np.ndarray, x_err: np.ndarray, preset: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out`` with T_ex marked loose where its error exceeds :data:`TIE_MAX_REL_ERR`, and
    T_ex and η where the column density is at the upper bound of ``preset``
    (:func:`saturated`)."""
    x, err = np.asarray(x, float), np.asarray(x_err, float)
    out = np.array(out, bool)
    j = FIT_NAMES.index("T_ex")
    with np.errstate(invalid="ignore"):
        out[..., j] |= ~np.isfinite(err[..., j]) | (err[..., j] > TIE_MAX_REL_ERR * x[..., j])
    source = [FIT_NAMES.index(p) for p in TIED_PARAMS]
    out[..., source] |= saturated(x, preset)[..., None]
    return out


def saturated(x: np.ndarray, preset: np.ndarray) -> np.ndarray:
    """(...,) bool: the column density of fits ``x`` (..., 5) is at the upper bound of
    ``preset``. The lines are then optically thick: their peak, η (J(T_ex) − J(T_bg)),
    no longer depends on N, and T_ex and η trade along it, whatever their Laplace errors
    say (the upper bound itself, 10²² cm⁻² for Table 1, is no measurement)."""
    col = FIT_NAMES.index("log10_N_tot")
    return at_bound(x, preset)[..., col] & (
        np.asarray(x, float)[..., col] > np.mean(np.asarray(preset, float)[..., col, :], axis=-1)
    )


def _at_source_velocity(x: np.ndarray, constrained: np.ndarray) -> np.ndarray:
    """(n_species,) bool: v_off within :data:`TIE_V_TOL` median line widths (FWHM) of the
    median v_off of the ``constrained`` species (all True when none is constrained)."""
    if not constrained.any():
        return np.ones(len(x), bool)
    v_col, w_col = FIT_NAMES.index("v_off"), FIT_NAMES.index("log10_delta_v")
    v_ref = np.median(x[constrained, v_col])
    width = np.median(10.0 ** x[constrained, w_col])
    return np.abs(x[:, v_col] - v_ref) <= TIE_V_TOL * width


def tied_starts(x: np.ndarray, tied: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Start points (n_starts, n_species, 5) of the χ² refit after a tie: ``x`` clipped
    into ``bounds``, and the same with log10 N_tot of the species in ``tied`` set, all
    together, to each of :data:`N_TIE_COLUMN_STARTS` values spread over their bounds.

    A tie can move T_ex or η far (e.g. 1000 K → 150 K); at the old column density the
    line is then saturated, where χ² is flat in N, and the refit would leave N there or
    run it to a bound. The batched evaluation of the starts (``fit_spectrum``) picks the
    best one for the optimiser.
    """
    x0 = np.clip(x, bounds[..., 0], bounds[..., 1])
    col = FIT_NAMES.index("log10_N_tot")
    starts = np.repeat(x0[None], N_TIE_COLUMN_STARTS + 1, axis=0)
    lo, hi = bounds[tied, col, 0], bounds[tied, col, 1]
    frac = (np.arange(N_TIE_COLUMN_STARTS) + 0.5) / N_TIE_COLUMN_STARTS
    starts[1:, tied, col] = lo + frac[:, None] * (hi - lo)
    return starts


def family_parents(names: Sequence[str]) -> np.ndarray:
    """(n_species,) int: the index in ``names`` of each species' parent
    (:func:`~spectuner_nb.catalog.families.parent_species`: main isotopologue, ground
    state), -1 for a parent or a species whose parent is not among ``names``."""
    from .catalog.families import parent_species

    index = {name: i for i, name in enumerate(names)}
    out = np.full(len(names), -1)
    for i, name in enumerate(names):
        j = index.get(parent_species(name, names), i)
        out[i] = -1 if j == i else j
    return out


def tie_unconstrained(
    obs: Observation,
    names: Sequence[str],
    lines: Sequence,
    joint,
    settings: dict,
    lent: np.ndarray | None = None,
):
    """Refit the joint χ² model with the :data:`TIED_PARAMS` of the species whose T_ex the
    data leave unconstrained held in the range of the species that constrain them (see the
    module docstring).

    T_ex is unconstrained (:func:`loose_parameters`) when it lies at a bound of the preset
    ``settings["bounds"]`` (fit space, (5, 2) or one (5, 2) per species), has no finite
    Laplace error or a relative error above :data:`TIE_MAX_REL_ERR` (T_ex, N and η
    degenerate, as for a species with one line);
    η likewise, and both are tied when either is unconstrained or when the column density
    is at the upper bound of the preset (:func:`saturated`: optically thick lines, often
    a weak species shifted onto another species' or an unknown line).
    Each tied parameter of such a species gets the bound [min − m, max + m] of its values
    among the species whose parameters are all constrained and whose v_off is that of the
    source (:data:`TIE_V_TOL`) (m = :data:`TIE_MARGIN` × the preset span, clipped to the
    preset; not tied when no species constrains it): one emitting region. A rare
    isotopologue or vibrational state whose parent (:func:`family_parents`) is in the model
    takes the parent's value ± m instead, or the parent's bounds when the parent is tied
    too: one molecule, one gas. A species whose line width or velocity offset
    (:data:`TIED_AT_BOUND`) is at a bound of the preset has it tied in the same way. A
    parameter that no species of ``obs`` constrains takes the range ``lent`` gives it
    ((5, 2) fit space, NaN rows for none; e.g. the constrained species of neighbouring cube
    pixels, :mod:`~spectuner_nb.cube.lend`). χ² is then minimised again from the current
    solution, with the tied species' column densities restarted (:func:`tied_starts`);
    repeated up to :data:`TIE_ROUNDS` times while further species lose their constraint.

    Returns
    -------
    (FitResult, dict)
        The joint fit (its ``at_bound`` against the preset, its ``bounds`` those used)
        and {species: names of its tied parameters} (only the species with a tie).
    """
    from .fit import fit_spectrum

    preset = np.broadcast_to(np.asarray(settings["bounds"], float), (len(names), len(FIT_NAMES), 2))
    source_cols = [FIT_NAMES.index(p) for p in TIED_PARAMS]
    parent = family_parents(names)
    per = preset.copy()
    tied = np.zeros((len(names), len(FIT_NAMES)), bool)
    for _ in range(TIE_ROUNDS):
        loose = loose_parameters(joint, preset)
        # T_ex and η are measured together or not at all (they trade with N)
        unmeasured = np.asarray(loose[:, source_cols].any(axis=1) & ~tied.any(axis=1))
        constrained = np.asarray(~loose.any(axis=1) & ~tied.any(axis=1))  # lenders
        source = np.repeat(
            (constrained & _at_source_velocity(joint.x, constrained))[:, None], loose.shape[1], 1
        )
        new = np.zeros_like(tied)
        new[:, source_cols] = unmeasured[:, None]
        edge_cols = [FIT_NAMES.index(p) for p in TIED_AT_BOUND]
        new[:, edge_cols] = at_bound(joint.x, preset)[:, edge_cols] & ~tied[:, edge_cols]
        for col in np.flatnonzero(new.any(axis=0)):
            v_lo, v_hi = np.full(len(names), np.nan), np.full(len(names), np.nan)
            if source[:, col].any():
                vals = joint.x[source[:, col], col]
                v_lo[:], v_hi[:] = vals.min(), vals.max()
            elif lent is not None and np.isfinite(lent[col]).all():
                v_lo[:], v_hi[:] = lent[col]
            kin = parent >= 0  # one molecule, one gas: a family member follows its parent
            new[~kin, col] &= np.isfinite(v_lo[~kin])  # nothing constrains it: not tied
            follows = kin & (new | tied)[np.maximum(parent, 0), col]  # parent tied: its bounds
            keeps = kin & ~follows  # around the parent's own value
            v_lo[keeps] = v_hi[keeps] = joint.x[parent[keeps], col]
            rows = new[:, col] & ~follows
            lo, hi = preset[rows, col, 0], preset[rows, col, 1]
            margin = TIE_MARGIN * (hi - lo)
            per[rows, col, 0] = np.maximum(v_lo[rows] - margin, lo)
            per[rows, col, 1] = np.minimum(v_hi[rows] + margin, hi)
            rows = new[:, col] & follows
            per[rows, col] = per[parent[rows], col]
        if not new.any():
            break
        tied |= new
        joint = fit_spectrum(
            obs,
            list(names),
            lines=list(lines),
            loss="chi2",
            init=tied_starts(joint.x, np.asarray(new.any(axis=1)), per),
            bounds=per,
            errors=True,
            maxiter=JOINT_MAXITER,
            check_convergence=False,
        )  # as in refine()
    joint.at_bound = at_bound(joint.x, preset)
    return joint, {
        name: tuple(FIT_NAMES[j] for j in np.flatnonzero(t))
        for name, t in zip(names, tied, strict=True)
        if t.any()
    }
