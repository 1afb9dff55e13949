"""Candidate species for line identification (docs/method.md §9 step 2).

A candidate is a catalog species with lines in the observed windows that could put
a line at an observed peak. The test is cheap, so the whole catalog can be screened
before any fit: at each excitation temperature of :data:`T_EX_GRID` (within the
bounds) the relative optically-thin strength of every line in the windows,
A_ul g_u e^(−E_low/T_ex) (1 − e^(−hν/kT_ex)) / ν² (the integrated opacity of
docs/method.md §2 without the factors common to all lines of a species), marks the
**strong lines** (≥ :data:`STRONG_FRACTION` of the strongest). A species stays a
candidate when, for some T_ex and one velocity offset v_off within the bounds, its
strongest line and at least :data:`MIN_STRONG_COVER` of its strong lines fall inside
observed peak spans: if any of its lines were above the noise, the strongest would be.

Isotopologues and vibrational states are grouped with their parent
(:func:`spectuner_nb.catalog.families.parent_species`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..catalog.families import parent_species
from ..catalog.linelist import LineList
from ..constants import H_OVER_K_K_PER_MHZ
from ..doppler import frequency_width, radio_velocity, sky_frequency
from ..errors import CatalogError, IdentificationError
from ..observation import Observation
from .matching import ObservedPeaks

__all__ = [
    "Candidate",
    "EDGE_CHANNELS",
    "MIN_STRONG_COVER",
    "N_VELOCITY_GRID",
    "STRONG_FRACTION",
    "T_EX_GRID",
    "line_strength",
    "peak_anchors",
    "resolve_names",
    "select_candidates",
]

T_EX_GRID: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0, 80.0, 150.0, 300.0, 600.0)
"""Excitation temperatures (K) at which line strengths are ranked (those inside the bounds)."""
STRONG_FRACTION: float = 0.5
"""Lines at least this fraction of the strongest line's strength are "strong"."""
MIN_STRONG_COVER: float = 0.3
"""Fraction of the strong lines that must fall on observed peaks for one v_off."""
N_VELOCITY_GRID: int = 121
"""Velocity offsets tried across the v_off bounds."""
EDGE_CHANNELS: int = 2
"""Channels at each window edge where a line cannot make an observed peak."""


@dataclass(frozen=True)
class Candidate:
    """A species to fit: canonical name, its lines in the windows, its family parent
    (``parent == name`` for a species that heads its family, or whose parent has no line
    in the windows) and the (T_ex K, v_off km/s) pairs that put its strongest line on an
    observed peak, with that peak's height (K) (:func:`peak_anchors`; empty for an
    included species that has none)."""

    name: str
    lines: LineList
    parent: str
    anchors: np.ndarray


def line_strength(lines: LineList, t_ex: float) -> np.ndarray:
    """Relative optically-thin strength of each line at ``t_ex`` (K): the integrated
    opacity of docs/method.md §2 without the factors common to all lines of a species,
    A_ul g_u e^(−E_low/T_ex) (1 − e^(−hν/kT_ex)) / ν²."""
    freq = np.asarray(lines.freq, dtype=float)
    return (
        np.asarray(lines.A_ul, float)
        * np.asarray(lines.g_u, float)
        / freq**2
        * np.exp(-np.asarray(lines.E_low, float) / t_ex)
        * -np.expm1(-H_OVER_K_K_PER_MHZ * freq / t_ex)
    )


def _temperatures(bounds: np.ndarray) -> np.ndarray:
    lo, hi = float(bounds[1, 0]), float(bounds[1, 1])
    grid = np.array([t for t in T_EX_GRID if lo <= t <= hi])
    return grid if grid.size else np.array([0.5 * (lo + hi)])


def peak_anchors(
    ll: LineList, obs: Observation, peaks: ObservedPeaks, bounds: np.ndarray
) -> np.ndarray:
    """(T_ex, v_off, peak height) at which the strongest lines of ``ll`` sit on observed
    peaks (module docstring), (n, 3) in K, km/s and K; empty when there is none.

    For every v_off of the grid only the lines that land inside a window (away from its
    edge channels, where no peak can be found) count. Each pair's v_off puts the strongest
    line exactly on the brightest channel of its observed peak, whose intensity is the
    height.
    """
    v_lo, v_hi = float(bounds[4, 0]), float(bounds[4, 1])
    seen = ll.in_windows(obs.windows, pad_kms=max(abs(v_lo), abs(v_hi)))
    if len(seen) == 0 or len(peaks) == 0:
        return np.zeros((0, 3))
    freq = np.asarray(seen.freq, dtype=float)
    v_grid = np.linspace(v_lo, v_hi, N_VELOCITY_GRID)
    half_step = 0.5 * (v_grid[1] - v_grid[0]) if v_grid.size > 1 else 0.0
    lo_mhz, hi_mhz = _peak_spans_mhz(obs, peaks)
    order = np.argsort(lo_mhz)
    lo_mhz, hi_mhz, top_mhz = lo_mhz[order], hi_mhz[order], peaks.freq[order]
    top_k = peaks.height[order]
    shifted = sky_frequency(freq[:, None], v_grid[None, :])  # (n_lines, n_v)
    pad = frequency_width(half_step, freq[:, None])
    k = np.searchsorted(lo_mhz, shifted + pad, side="right") - 1
    inside = (k >= 0) & (shifted - pad <= hi_mhz[np.clip(k, 0, None)])
    visible = np.zeros_like(inside)
    for f in obs.rest_freqs:
        lo, hi = np.sort([f[EDGE_CHANNELS], f[-1 - EDGE_CHANNELS]])
        visible |= (shifted >= lo) & (shifted <= hi)
    cols = np.arange(v_grid.size)
    anchors = []
    for t_ex in _temperatures(bounds):
        strength = np.where(visible, line_strength(seen, t_ex)[:, None], 0.0)
        top = np.argmax(strength, axis=0)
        top_value = strength[top, cols]
        strong = strength >= STRONG_FRACTION * top_value
        cover = np.sum(inside & strong, axis=0) / np.maximum(np.sum(strong, axis=0), 1)
        ok = (top_value > 0) & inside[top, cols] & (cover >= MIN_STRONG_COVER)
        for j in np.flatnonzero(ok):
            span = k[top[j], j]
            v = radio_velocity(top_mhz[span], freq[top[j]])
            anchors.append((t_ex, float(np.clip(v, v_lo, v_hi)), float(top_k[span])))
    return np.unique(np.round(np.asarray(anchors, float).reshape(-1, 3), 3), axis=0)


def _peak_spans_mhz(obs: Observation, peaks: ObservedPeaks) -> tuple[np.ndarray, np.ndarray]:
    """Observed peak spans as rest frequencies (MHz): (lower edges, upper edges)."""
    lo, hi = np.empty(len(peaks)), np.empty(len(peaks))
    for i, (w, (a, b)) in enumerate(zip(peaks.window, peaks.spans, strict=True)):
        f = obs.rest_freqs[w]
        chan = np.arange(f.size)
        fa, fb = np.interp(a, chan, f), np.interp(b, chan, f)
        lo[i], hi[i] = min(fa, fb), max(fa, fb)
    return lo, hi


def resolve_names(names: Sequence[str], catalog, what: str) -> list[str]:
    """Catalog names of ``names``; unknown ones raise :class:`IdentificationError`."""
    out, unknown = [], []
    for name in names:
        try:
            out.append(catalog.entry(name).name)
        except CatalogError:
            unknown.append(name)
    if unknown:
        raise IdentificationError(
            f"{what}: unknown species {', '.join(map(str, unknown))} "
            "(not in the catalog; see `spectuner-nb catalog list`)"
        )
    return list(dict.fromkeys(out))


def select_candidates(
    obs: Observation,
    peaks: ObservedPeaks,
    catalog,
    bounds: np.ndarray,
    *,
    candidates: Sequence[str] | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> tuple[list[Candidate], dict[str, str]]:
    """Candidates to fit and the species screened out with the reason.

    Parameters
    ----------
    obs, peaks
        The observation and its observed peaks.
    catalog
        Transition cache.
    bounds
        Fit-space bounds (5, 2): the T_ex and v_off ranges of the screening.
    candidates
        Species to consider (None: every catalog species).
    include
        Species always kept (no screening).
    exclude
        Species never considered.

    Returns
    -------
    (list of Candidate, {name: reason})
    """
    if candidates is not None and len(candidates) == 0:
        raise IdentificationError("the candidate list is empty")
    pool = (
        resolve_names(candidates, catalog, "candidates")
        if candidates is not None
        else catalog.species()
    )
    forced = resolve_names(include, catalog, "include")
    dropped = set(resolve_names(exclude, catalog, "exclude"))
    both = dropped.intersection(forced)
    if both:
        raise IdentificationError(f"species both included and excluded: {', '.join(both)}")
    pool = [n for n in dict.fromkeys(list(pool) + forced) if n not in dropped]
    if not pool:
        raise IdentificationError("no candidate species left after the exclusions")
    known = catalog.species()
    out, rejected = [], {}
    for name in pool:
        lines = catalog.lines(name, obs.windows)
        if len(lines) == 0:
            if candidates is not None or name in forced:
                rejected[name] = "no lines in the windows"
            continue
        anchors = peak_anchors(lines, obs, peaks, bounds)
        if name not in forced and len(anchors) == 0:
            rejected[name] = "strongest lines fall where no peak is observed"
            continue
        parent = parent_species(name, known)
        if parent != name and len(catalog.lines(parent, obs.windows)) == 0:
            parent = name  # a parent with no line in the windows cannot be required
        out.append(Candidate(name, lines, parent, anchors))
    return out, rejected
