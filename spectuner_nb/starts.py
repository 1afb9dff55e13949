"""Start strategies: where a fit's initial points come from (docs/method.md §7).

A fit starts its local optimiser from the best of ``n_init`` initial points. They are
drawn uniformly within the bounds ("random"), given as an array, or proposed by anything
with a ``propose`` method — the trained :class:`~spectuner_nb.policy.Policy`, or a
stand-in of the caller's (:class:`Proposer`). :func:`resolve_init` turns the ``init``
setting into one of these three; the fitting layer never imports the policy itself.

A missing checkpoint: ``init="policy"`` raises
:class:`~spectuner_nb.errors.CheckpointError`; ``init="auto"`` falls back to random
starts with one :class:`NoCheckpointWarning`.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol, cast, runtime_checkable

import numpy as np

from .errors import FitError, SpectunerError
from .parameters import N_PARAMS, within_bounds

__all__ = [
    "NoCheckpointWarning",
    "Proposer",
    "Start",
    "init_label",
    "initial_points",
    "resolve_init",
]


@runtime_checkable
class Proposer(Protocol):
    """Anything that proposes fit-space initial points, as :class:`~spectuner_nb.policy.Policy`.

    ``propose(obs, lines, n_init, seed=...)`` gets one observation (or a list of them) and
    one line list per species and returns fit-space points (n_init, n_species, 5), with a
    leading (n_obs,) axis for a list of observations.
    """

    def propose(self, obs, species, n_init: int, *, seed: int | None = ...) -> np.ndarray:
        """Initial points for ``obs`` and ``species`` (see the class docstring)."""
        ...


Start = str | np.ndarray | Proposer
"""A resolved start strategy: "random", an array of fit-space starts, or a :class:`Proposer`."""


class NoCheckpointWarning(UserWarning):
    """``init="auto"`` found no policy checkpoint and uses random starts."""


def resolve_init(
    init: Any, *, bounds: np.ndarray | None = None, error: type[SpectunerError] = FitError
) -> Start:
    """The start strategy that ``init`` asks for.

    Parameters
    ----------
    init
        "random"; "policy" (the checkpoint in use, :func:`~spectuner_nb.policy.loader.load_policy`;
        :class:`~spectuner_nb.errors.CheckpointError` when none loads); "auto" (the policy
        when it loads and ``bounds`` lie inside those it was trained on, else "random",
        with a :class:`NoCheckpointWarning` when no checkpoint loads); an object with a
        ``propose`` method (returned as is); or a fit-space array of starts.
    bounds
        Fit-space bounds (…, 5, 2) of the fit, for "auto"; None: not checked.
    error
        Error raised for an ``init`` that is none of these.
    """
    if isinstance(init, str):
        if init == "random":
            return "random"
        if init not in ("auto", "policy"):
            raise error(
                f"init must be 'auto', 'policy', 'random', an array of fit-space "
                f"starts or an object with a propose method; got {init!r}"
            )
        from .policy.loader import load_policy

        policy, _ = load_policy(required=init == "policy")
        if policy is None:
            warnings.warn(
                "init='auto': no policy checkpoint can be loaded, so the initial "
                "points are drawn uniformly within the bounds",
                NoCheckpointWarning,
                stacklevel=3,
            )
            return "random"
        if (
            init == "auto"
            and bounds is not None
            and not within_bounds(bounds, policy.network.bounds())
        ):
            return "random"
        return policy
    if callable(getattr(init, "propose", None)):
        return init
    try:
        return np.asarray(init, dtype=float)
    except (TypeError, ValueError) as exc:
        raise error(f"init must be a start strategy or an array of numbers, got {init!r}") from exc


def init_label(start: Start) -> str:
    """The label a result records for a resolved start: "random", "array" or "policy"."""
    if isinstance(start, str):
        return start
    return "policy" if callable(getattr(start, "propose", None)) else "array"


def initial_points(
    problem, obs, start: Start, n_init: int, rng: np.random.Generator, seed: int | None
) -> tuple[np.ndarray, str]:
    """Initial free-parameter vectors (n, n_free) of ``problem`` and the start's label.

    ``problem`` is a :class:`~spectuner_nb.fit.FitProblem`. A proposer's points (one set
    per species) are mapped onto the entries: component c of a species takes the
    proposals shifted by c, so that its components start apart.
    """
    if isinstance(start, str):
        if start != "random":
            raise FitError(f"unresolved start strategy {start!r}")
        return problem.sample_uniform(rng, n_init), "random"
    if callable(getattr(start, "propose", None)):  # a callable propose: a Proposer
        proposer = cast(Proposer, start)
        return problem.reduce(_proposals(problem, obs, proposer, n_init, seed)), "policy"
    x = np.asarray(start, dtype=float)
    if x.shape[-2:] != (problem.n_entries, N_PARAMS):
        raise FitError(
            f"init array must be fit-space ({problem.n_entries}, 5) or "
            f"(n, {problem.n_entries}, 5), got {x.shape}"
        )
    return problem.reduce(x.reshape(-1, problem.n_entries, N_PARAMS)), "array"


def _proposals(problem, obs, proposer: Proposer, n_init: int, seed: int | None) -> np.ndarray:
    """A proposer's points mapped onto the entries: (n_init, n_entries, 5) fit space."""
    samples = np.asarray(
        proposer.propose(obs, problem.species_lines, n_init, seed=0 if seed is None else seed),
        dtype=float,
    )
    n_species = len(problem.species_in)
    if samples.shape[-2:] != (n_species, N_PARAMS):
        raise FitError(
            f"the proposer returned starts of shape {samples.shape}, expected "
            f"(n_init, {n_species}, 5)"
        )
    samples = samples.reshape(-1, n_species, N_PARAMS)
    return np.stack(
        [
            np.roll(samples[:, s], -c, axis=0)
            for s, c in zip(problem.entry_species, problem.component, strict=True)
        ],
        axis=1,
    )
