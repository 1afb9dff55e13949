"""Greedy combination and joint refinement (docs/method.md §9 steps 5–6).

Candidates are taken in order of their individual score. Each one is tried on top
of the joint model of the species accepted so far (the *base*; intensities add,
docs/method.md §2): first with its individual solution, then, if that does not pass,
refitted with the base fixed (``fit_spectrum(..., base=...)``). It is accepted when
the base + candidate model explains at least :data:`MIN_NEW_PEAKS` observed peaks that
the base leaves unexplained, with the candidate supplying at least ``MIN_SHARE`` of
each, adds at most :data:`FALSE_PER_NEW_PEAK` false peaks per newly explained peak
and unexplains no peak the base explained. An isotopologue or vibrational state waits
for its parent and is rejected when the parent is not accepted (unless families are
switched off or it was included).
Species named in ``include`` are accepted first, without the test.

The accepted species are then refined together: peak matching from the greedy
solution, then χ² over the whole model (errors from its Gauss-Newton Hessian).
A species whose T_ex the data do not constrain (at a bound of the preset, no finite χ²
error or a large one: typically one or a few lines over a narrow E_up range, where T_ex,
N and η are degenerate) then takes its source parameters (:data:`TIED_PARAMS`: filling
factor, T_ex) from the species the data do constrain (:func:`tie_unconstrained`): its
bounds on them become the range those species span (counting only the species at the
source velocity, :data:`TIE_V_TOL`), and the χ² refinement is repeated; a line width or a
velocity offset left at a bound of the preset is tied the same way (:data:`TIED_AT_BOUND`).
A species whose T_ex or column density still ends at a bound of the preset is not
measured by the data: it is rejected (:data:`UNCONSTRAINED_AT_BOUND`) and the others are
refitted without it, unless the user included it (then it stays, flagged)
(:func:`drop_at_bound`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..model import LTEModel
from ..observation import Observation
from ..parameters import FIT_NAMES, at_bound
from ..ties import (
    JOINT_MAXITER,
    N_TIE_COLUMN_STARTS,
    TIE_MARGIN,
    TIE_MAX_REL_ERR,
    TIE_ROUNDS,
    TIE_V_TOL,
    TIED_AT_BOUND,
    TIED_PARAMS,
    TIED_WIDTH,
    loose_parameters,
    tie_unconstrained,
    tied_starts,
)
from .candidates import Candidate
from .individual import FIT_MAXITER, random_starts
from .matching import MIN_SHARE, ObservedPeaks, PeakMatch, match_model

__all__ = [
    "Combination",
    "FALSE_PER_NEW_PEAK",
    "JOINT_MAXITER",
    "MIN_NEW_PEAKS",
    "N_REFIT_STARTS",
    "N_TIE_COLUMN_STARTS",
    "SpeciesModels",
    "TIED_AT_BOUND",
    "TIED_PARAMS",
    "TIED_WIDTH",
    "TIE_MARGIN",
    "TIE_MAX_REL_ERR",
    "TIE_ROUNDS",
    "TIE_V_TOL",
    "UNCONSTRAINED_AT_BOUND",
    "AT_BOUND_PARAMS",
    "combine",
    "drop_at_bound",
    "refine",
    "loose_parameters",
    "tie_unconstrained",
    "tied_starts",
]

MIN_NEW_PEAKS: int = 1
"""Observed peaks a candidate must newly explain to be accepted."""
FALSE_PER_NEW_PEAK: float = 0.5
"""False peaks a candidate may add to the joint model per observed peak it newly explains
(real spectra are not exactly LTE: a species explaining several strong peaks may
overpredict one weak line)."""
N_REFIT_STARTS: int = 20
"""Random starts (half of them anchored on observed peaks) added to the individual solution
when refitting on top of the base."""
UNCONSTRAINED_AT_BOUND: str = "UNCONSTRAINED_AT_BOUND"
"""Reason of rejection (flag, for an included species) of a species whose T_ex or column
density ends at a bound of the preset after the tie step (:func:`drop_at_bound`)."""
AT_BOUND_PARAMS: tuple[str, ...] = ("T_ex", "log10_N_tot")
"""Parameters that must end inside the preset for a species to stay identified."""


class SpeciesModels:
    """The LTE model of each candidate alone, built once (spectra per window, K)."""

    def __init__(self, obs: Observation, candidates: Sequence[Candidate]) -> None:
        self.obs = obs
        self._lines = {c.name: c.lines for c in candidates}
        self._models: dict[str, LTEModel] = {}

    def __call__(self, name: str, x: np.ndarray) -> list[np.ndarray]:
        model = self._models.get(name)
        if model is None:
            model = LTEModel(
                self.obs.rest_freqs,
                [self._lines[name]],
                beam=self.obs.beam,
                T_bg=list(self.obs.T_bg),
            )
            self._models[name] = model
        return [s[0] for s in model.from_fit(np.asarray(x, float)[None, None])]


@dataclass
class Combination:
    """Outcome of the greedy combination.

    Attributes
    ----------
    accepted
        Accepted species in order of acceptance.
    x
        Fit-space parameters of each accepted species, {name: (5,)}.
    rejected
        {name: reason} of the candidates not accepted.
    new_peaks
        Observed peaks each accepted species newly explained, {name: count}.
    """

    accepted: list[str] = field(default_factory=list)
    x: dict[str, np.ndarray] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    new_peaks: dict[str, int] = field(default_factory=dict)


def _verdict(before: PeakMatch, after: PeakMatch, alone: PeakMatch) -> tuple[int, str]:
    """(newly explained peaks, reason for rejection or "")."""
    new = int(np.sum(~before.explained & after.explained & (alone.share >= MIN_SHARE)))
    spoiled = int(np.sum(before.explained & ~after.explained))
    added = after.n_false - before.n_false
    if spoiled:
        return new, f"spoils {spoiled} peak(s) the accepted species explain"
    if added > FALSE_PER_NEW_PEAK * new:
        return new, f"adds {added} false peak(s)"
    if new < MIN_NEW_PEAKS:
        return new, "explains no observed peak left unexplained"
    return new, ""


def _order(ranked: Sequence[Candidate], families: bool) -> list[Candidate]:
    """Score order, with every family member moved behind its parent (members whose
    parent is not ranked go last: they will be rejected)."""
    names = {c.name for c in ranked}
    heads = [c for c in ranked if not families or c.parent == c.name]
    children: dict[str, list[Candidate]] = {}
    for c in ranked:
        if c not in heads:
            children.setdefault(c.parent, []).append(c)
    out = []
    for c in heads:
        out.append(c)
        out.extend(children.get(c.name, []))
    return out + [c for p, group in children.items() if p not in names for c in group]


def combine(
    obs: Observation,
    peaks: ObservedPeaks,
    ranked: Sequence[Candidate],
    individual: dict[str, np.ndarray],
    models: SpeciesModels,
    settings: dict,
    *,
    include: Sequence[str] = (),
    families: bool = True,
) -> Combination:
    """Greedy combination of the ranked candidates (best first); see the module docstring."""
    from ..fit import fit_spectrum

    out = Combination()
    zero = [np.zeros(f.size) for f in obs.rest_freqs]
    base = [z.copy() for z in zero]
    forced = [c for c in ranked if c.name in include]
    for c in forced:
        out.accepted.append(c.name)
        out.x[c.name] = individual[c.name]
        base = [b + s for b, s in zip(base, models(c.name, individual[c.name]), strict=True)]
    before = match_model(obs, peaks, base)
    for c in _order([c for c in ranked if c.name not in include], families):
        if families and c.parent != c.name and c.parent not in out.accepted:
            out.rejected[c.name] = f"parent {c.parent} not identified"
            continue
        x = individual[c.name]
        alone = models(c.name, x)
        after = match_model(obs, peaks, [b + s for b, s in zip(base, alone, strict=True)])
        new, reason = _verdict(before, after, match_model(obs, peaks, alone))
        if reason:
            starts = np.vstack(
                [
                    x[None],
                    random_starts(
                        c, np.asarray(settings["bounds"]), N_REFIT_STARTS, settings["seed"], obs
                    ),
                ]
            )
            res = fit_spectrum(
                obs,
                [c.name],
                lines=[c.lines],
                loss=settings["loss"],
                init=starts[:, None, :],
                bounds=np.asarray(settings["bounds"]),
                base=base,
                errors=False,
                maxiter=FIT_MAXITER,
            )
            x = res.x[0]
            alone = models(c.name, x)
            after = match_model(obs, peaks, [b + s for b, s in zip(base, alone, strict=True)])
            new, reason = _verdict(before, after, match_model(obs, peaks, alone))
        if reason:
            out.rejected[c.name] = reason
            continue
        out.accepted.append(c.name)
        out.x[c.name] = x
        out.new_peaks[c.name] = new
        base = [b + s for b, s in zip(base, alone, strict=True)]
        before = after
    return out


def refine(obs: Observation, names: Sequence[str], lines: Sequence, x: np.ndarray, settings: dict):
    """Joint refinement of the accepted species: peak matching, then χ² (FitResult)."""
    from ..fit import fit_spectrum

    common: dict[str, Any] = dict(
        lines=list(lines), bounds=np.asarray(settings["bounds"]), maxiter=JOINT_MAXITER
    )
    pm = fit_spectrum(obs, list(names), loss="pm", init=np.asarray(x)[None], errors=False, **common)
    # the joint fits keep SLSQP's own report (check_convergence=False): the tie below was
    # tuned on those solutions; with the check they end lower (Δχ² 73 on the one-line mock
    # of tests/test_identify_parts.py) and the tie then fails there
    return fit_spectrum(
        obs,
        list(names),
        loss="chi2",
        init=pm.x[None],
        errors=True,
        check_convergence=False,
        **common,
    )


def drop_at_bound(
    obs: Observation,
    names: Sequence[str],
    lines: Sequence,
    joint,
    settings: dict,
    include: Sequence[str] = (),
):
    """Reject the species whose :data:`AT_BOUND_PARAMS` end at a bound of the preset
    ``settings["bounds"]`` after :func:`tie_unconstrained`, and refit the others by χ²
    (each with the bounds it had, tied ones included); repeated up to :data:`TIE_ROUNDS`
    times while the refit leaves further species at a bound. Species in ``include`` are
    kept and flagged instead.

    Returns
    -------
    (FitResult or None, list, dict, list)
        The joint fit of the kept species (None when none is kept), their names, the
        rejected {species: reason} and the included species flagged
        :data:`UNCONSTRAINED_AT_BOUND`.
    """
    from ..fit import fit_spectrum

    preset = np.asarray(settings["bounds"], float)
    cols = [FIT_NAMES.index(p) for p in AT_BOUND_PARAMS]
    names, lines = list(names), list(lines)
    rejected: dict[str, str] = {}
    for _ in range(TIE_ROUNDS + 1):
        hit = at_bound(joint.x, preset)[:, cols]
        drop = [k for k, n in enumerate(names) if hit[k].any() and n not in include]
        if not drop:
            break
        for k in drop:
            which = ", ".join(AT_BOUND_PARAMS[j] for j in np.flatnonzero(hit[k]))
            rejected[names[k]] = (
                f"{UNCONSTRAINED_AT_BOUND}: {which} at a bound of the preset "
                "after the joint χ² refinement"
            )
        keep = [k for k in range(len(names)) if k not in drop]
        names, lines = [names[k] for k in keep], [lines[k] for k in keep]
        if not names:
            return None, [], rejected, []
        joint = fit_spectrum(
            obs,
            names,
            lines=lines,
            loss="chi2",
            init=joint.x[keep][None],
            bounds=np.asarray(joint.bounds)[keep],
            errors=True,
            maxiter=JOINT_MAXITER,
        )
        joint.at_bound = at_bound(joint.x, preset)
    flagged = np.flatnonzero(at_bound(joint.x, preset)[:, cols].any(axis=1))
    return joint, names, rejected, [names[k] for k in flagged]
