"""Line identification: which species a spectrum holds, and one joint model of them all.

:func:`identify` follows docs/method.md §9: observed peaks (4 rms), candidate species
from the catalog (:mod:`.candidates`), an individual peak-matching fit of every
candidate (:mod:`.individual`; policy proposals batched over all candidates, SLSQP,
stored in a resumable work directory, :mod:`.store`), scores from matched and false
peaks (:mod:`.matching`), greedy combination on top of the joint model and joint
refinement (:mod:`.combine`), per-peak assignments and unknown lines (:mod:`.assign`),
all in an :class:`IdentificationResult` (:mod:`.result`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..catalog.families import is_rare
from ..digests import policy_digest
from ..errors import IdentificationError, ModelInputError
from ..fit_settings import DEFAULTS, FitSettings
from ..observation import Observation
from ..parameters import N_PARAMS, bounds_preset, resolve_preset
from ..sanity import check_fittable
from ..starts import resolve_init
from .assign import assignment_table
from .candidates import select_candidates
from .combine import (
    UNCONSTRAINED_AT_BOUND,
    SpeciesModels,
    combine,
    drop_at_bound,
    refine,
    tie_unconstrained,
)
from .individual import (
    INITS,
    N_ANCHORED_WITH_POLICY,
    policy_starts,
    random_starts,
    run_fits,
)
from .matching import MIN_SCORE, ObservedPeaks, match_model
from .result import IdentificationResult
from .store import FitStore, run_identity

__all__ = ["IdentificationResult", "ProgressCallback", "STAGES", "identify"]

NO_PEAK_MESSAGE = "no peak above 4 sigma"
NOTHING_MESSAGE = "no species identified"


def _bounds(bounds, obs: Observation) -> tuple[np.ndarray, str]:
    """Fit-space bounds (5, 2) and their label from "auto", a preset name or an array."""
    if isinstance(bounds, str):
        name = resolve_preset(bounds, obs)
        try:
            return bounds_preset(name), name
        except ModelInputError as exc:
            raise IdentificationError(str(exc)) from exc
    arr = np.asarray(bounds, dtype=float)
    if arr.shape != (N_PARAMS, 2) or not np.all(np.isfinite(arr)) or np.any(arr[:, 1] <= arr[:, 0]):
        raise IdentificationError(
            f"bounds must be a preset name or a finite (5, 2) fit-space "
            f"array with lower < upper, got shape {arr.shape}"
        )
    return arr, "custom"


def _rejected_table(rejected: dict[str, str]):
    from astropy.table import Table

    return Table(
        {
            "species": list(rejected) or np.zeros(0, str),
            "reason": list(rejected.values()) or np.zeros(0, str),
        }
    )


ProgressCallback = Callable[[int, int, str], None]
"""``callback(done, total, stage)``: ``done`` of ``total`` individual fits finished; ``stage``
is one of :data:`STAGES`."""
STAGES: tuple[str, ...] = ("individual fits", "combine", "refine", "done")
"""Stages reported to a progress callable, in order."""


def _reporter(progress: bool | ProgressCallback, total: int) -> ProgressCallback:
    """The progress callable of a run: the caller's, a tqdm bar over the individual fits
    (``progress=True``, opened at the first fit, closed at "done") or nothing."""
    if callable(progress):
        return progress
    if not isinstance(progress, bool):
        raise IdentificationError(
            f"progress must be a bool or a callable (done, total, stage), "
            f"got {type(progress).__name__}"
        )
    bar: list = []  # the tqdm bar, once opened

    def report(done: int, total: int, stage: str) -> None:
        if not progress or (not bar and stage == STAGES[-1]):
            return
        if not bar:
            from tqdm.auto import tqdm

            bar.append(tqdm(total=total, unit="fit", desc="identify", dynamic_ncols=True))
        bar[0].n = done
        bar[0].set_postfix_str(stage, refresh=False)
        bar[0].refresh()
        if stage == STAGES[-1]:
            bar[0].close()

    return report


def _nothing_identified(
    obs: Observation,
    peaks: ObservedPeaks,
    rejected: dict[str, str],
    message: str,
    settings: dict,
    timings: dict,
    t0: float,
) -> IdentificationResult:
    """The result of an identification that keeps no species (every peak unknown)."""
    empty = [np.zeros(f.size) for f in obs.rest_freqs]
    lines = assignment_table(
        peaks, match_model(obs, peaks, empty), [], [], np.zeros((0, N_PARAMS)), []
    )
    timings["total"] = time.perf_counter() - t0
    return IdentificationResult(
        obs,
        [],
        None,
        lines,
        _rejected_table(rejected),
        [],
        message=message,
        settings=settings,
        timings=timings,
    )


def identify(
    obs: Observation,
    candidates: Sequence[str] | None = None,
    *,
    catalog=None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    bounds="auto",
    loss: str = DEFAULTS.loss,
    n_init: int = DEFAULTS.n_init,
    init: str = DEFAULTS.init,
    client=None,
    workdir: str | Path | None = None,
    resume: bool = True,
    seed: int | None = DEFAULTS.seed,
    progress: bool | ProgressCallback = True,
    families: bool = True,
) -> IdentificationResult:
    """Identify the species of ``obs`` and fit them as one joint model (docs/method.md §9).

    Parameters
    ----------
    obs
        The observation (:class:`~spectuner_nb.observation.Observation`).
    candidates
        Species to consider; None: every species of the catalog with lines in the windows.
    catalog
        Transition cache; default: the user cache with the full offline catalog
        (:func:`spectuner_nb.catalog.default_cache` with ``full=True``, built once per
        machine, about half a minute, the first time).
    include
        Species always fitted and kept in the joint model (no screening, no greedy test).
    exclude
        Species never considered.
    bounds
        "auto" (preset from the observed line widths,
        :func:`~spectuner_nb.parameters.choose_preset`), a preset name ("hot_core",
        "cold_core") or a (5, 2) fit-space array.
    loss
        Loss of the individual fits and of the greedy refits: "pm" (default) or "chi2".
    n_init
        Initial points per individual fit.
    init
        "auto" (the policy when the bounds lie inside those it was trained on, random
        starts otherwise), "policy" or "random".
    client
        None: fit in this process; a ``dask.distributed.Client``: individual fits as tasks.
    workdir
        Directory where finished individual fits are kept (resumable); None: not kept.
    resume
        Reuse the finished fits of the same run in ``workdir``; a directory of another
        run raises :class:`~spectuner_nb.errors.IdentificationError`, one in use by a
        running process :class:`~spectuner_nb.errors.WorkdirBusyError`.
    seed
        Seed of the random draws (None is taken as 0).
    progress
        True: a progress bar over the individual fits; False: none; a callable
        ``progress(done, total, stage)`` (:data:`ProgressCallback`) is called as each
        individual fit finishes (stage "individual fits"), when the greedy combination
        and the joint refinement start ("combine", "refine") and at the end ("done"). An
        exception raised by the callable stops the identification there and propagates
        (fits finished so far stay in ``workdir``): that is how a caller cancels a run.
    families
        Accept isotopologues and vibrational states only with or after their parent.

    Returns
    -------
    IdentificationResult
    """
    t0 = time.perf_counter()
    if not isinstance(obs, Observation):
        raise IdentificationError(f"obs must be an Observation, got {type(obs).__name__}")
    if not (isinstance(init, str) and init in INITS):
        raise IdentificationError(f"init must be one of {INITS}, got {init!r}")
    checked = FitSettings(loss=loss, init=init, n_init=n_init, seed=seed, bounds=None).validate(
        error=IdentificationError
    )
    n_init, seed = checked.n_init, 0 if checked.seed is None else checked.seed
    if catalog is None:
        from ..catalog import default_cache

        catalog = default_cache(full=True)
    bnds, preset = _bounds(bounds, obs)
    check_fittable(obs, [], [], t_ex_max=float(bnds[1, 1]))  # wrong units fail here, once
    peaks = ObservedPeaks.from_observation(obs)
    cands, rejected = select_candidates(
        obs, peaks, catalog, bnds, candidates=candidates, include=include, exclude=exclude
    )
    include = [c.name for c in cands if c.name in set(catalog.entry(n).name for n in include)]
    settings = {
        "bounds": bnds.tolist(),
        "preset": preset,
        "loss": loss,
        "n_init": int(n_init),
        "seed": int(seed),
        "families": bool(families),
    }
    timings = {"candidates": time.perf_counter() - t0}
    total = len(cands)
    report = _reporter(progress, total)
    if len(peaks) == 0:
        report(0, 0, STAGES[-1])
        return _nothing_identified(obs, peaks, {}, NO_PEAK_MESSAGE, settings, timings, t0)
    if not cands:
        report(0, 0, STAGES[-1])
        return _nothing_identified(
            obs,
            peaks,
            rejected,
            "no candidate species has lines at the observed peaks",
            settings,
            timings,
            t0,
        )

    # individual fits
    report(0, total, STAGES[0])
    start = resolve_init(init, bounds=bnds, error=IdentificationError)
    policy = None if isinstance(start, str) else start
    method = "random" if policy is None else "policy"
    policy_id = None if policy is None else policy_digest(policy)
    settings["init"] = method
    fit_settings = {k: settings[k] for k in ("bounds", "loss", "n_init", "seed")}
    identity = run_identity(
        obs,
        [c.lines for c in cands],
        {**fit_settings, "init": method},
        policy_id if method == "policy" else None,
    )
    store = None
    if workdir is not None:
        store = FitStore(
            workdir, identity, {**settings, "candidates": [c.name for c in cands]}, resume=resume
        )
    try:
        todo = [c for c in cands if store is None or not store.has(c.name)]
        t1 = time.perf_counter()
        if method == "policy":
            draws: np.ndarray | list = (
                policy_starts(policy, obs, todo, int(n_init), int(seed)) if todo else []
            )
            starts = {
                c.name: np.vstack([d, random_starts(c, bnds, N_ANCHORED_WITH_POLICY, seed, obs)])
                for c, d in zip(todo, draws, strict=True)
            }
        else:
            starts = {c.name: random_starts(c, bnds, int(n_init), seed, obs) for c in todo}
        timings["policy"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        done = [0]

        def fit_done() -> None:
            done[0] += 1
            report(done[0], total, STAGES[0])

        fits = run_fits(obs, cands, starts, fit_settings, store, client, on_done=fit_done)
    finally:
        if store is not None:
            store.close()
    timings["individual"] = time.perf_counter() - t1

    # scores
    t1 = time.perf_counter()
    models = SpeciesModels(obs, cands)
    scores, ranked = {}, []
    for c in cands:
        m = match_model(obs, peaks, models(c.name, fits[c.name][0]))
        scores[c.name] = {
            "score": m.score,
            "n_matched": m.n_matched,
            "n_false": m.n_false,
            "loss": fits[c.name][1],
        }
        if c.name in include or (m.n_matched > 0 and m.score >= MIN_SCORE):
            ranked.append(c)
        elif m.n_matched == 0:
            rejected[c.name] = "its individual fit matches no observed peak"
        else:
            rejected[c.name] = (
                f"score {m.score:g}: {m.n_matched} matched, {m.n_false} false peak(s)"
            )
    # best score first; at equal score main isotopologues in their ground state first
    ranked.sort(key=lambda c: (-scores[c.name]["score"], is_rare(c.name), scores[c.name]["loss"]))
    report(total, total, STAGES[1])
    comb = combine(
        obs,
        peaks,
        ranked,
        {n: f[0] for n, f in fits.items()},
        models,
        settings,
        include=include,
        families=families,
    )
    rejected.update(comb.rejected)
    for name, n in comb.new_peaks.items():
        scores[name]["new_peaks"] = n
    timings["combine"] = time.perf_counter() - t1
    if not comb.accepted:
        report(total, total, STAGES[3])
        return _nothing_identified(obs, peaks, rejected, NOTHING_MESSAGE, settings, timings, t0)

    # joint refinement, assignments
    t1 = time.perf_counter()
    report(total, total, STAGES[2])
    by_name = {c.name: c for c in cands}
    names = sorted(comb.accepted, key=lambda n: -scores[n]["score"])
    x0 = np.array([comb.x[n] for n in names])
    joint = refine(obs, names, [by_name[n].lines for n in names], x0, settings)
    joint, tied = tie_unconstrained(obs, names, [by_name[n].lines for n in names], joint, settings)
    joint, names, dropped, flagged = drop_at_bound(
        obs, names, [by_name[n].lines for n in names], joint, settings, include=include
    )
    rejected.update(dropped)
    for name in names:
        scores[name]["tied"] = ",".join(tied.get(name, ()))
        scores[name]["flags"] = UNCONSTRAINED_AT_BOUND if name in flagged else ""
    timings["refine"] = time.perf_counter() - t1
    if not names:
        return _nothing_identified(obs, peaks, rejected, NOTHING_MESSAGE, settings, timings, t0)
    components = [models(n, joint.x[k]) for k, n in enumerate(names)]
    joint_match = match_model(obs, peaks, joint.model)
    lines = assignment_table(
        peaks, joint_match, names, [by_name[n].lines for n in names], joint.x, components
    )
    n_unknown = int(np.sum(~joint_match.explained))
    timings["total"] = time.perf_counter() - t0
    report(total, total, STAGES[3])
    message = (
        f"{len(names)} species identified; {len(peaks) - n_unknown} of {len(peaks)} "
        "observed peaks explained"
    )
    return IdentificationResult(
        obs,
        names,
        joint,
        lines,
        _rejected_table(rejected),
        components,
        scores={n: scores[n] for n in names},
        message=message,
        settings=settings,
        timings=timings,
    )
