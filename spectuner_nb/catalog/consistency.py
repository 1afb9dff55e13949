"""Does a partition function follow the line list's own degeneracy convention?

Q(T) from a table (CDMS/JPL) is compared with the sum over the levels the
line list itself catalogues, Q_lev(T) = Σ g_i exp(−E_i/T), at 20–150 K. A
ratio far from 1 means the table and the g_u of the lines use different
conventions (nuclear-spin weights, K-degeneracy, missing torsional or
vibrational states) and the column densities would be off by that factor.

Levels are identified by their quantum-number label when the list has
``"upper - lower"`` labels without ``=`` (as the SPCAT and LAMDA readers write),
otherwise by g and energy (within 2e-3 cm⁻¹ for energies given to 3 decimals,
3e-4 cm⁻¹ otherwise). A level that appears only as a lower level gets
g = g_u (2J_l+1)/(2J_u+1), J being the first number of each side of the
label, or g_u × median(g_l/g_u) of the transitions whose lower level is
known when the label cannot be read; the share of Q_lev coming from such estimated levels is
reported, since at the lowest temperatures it can dominate the ratio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..constants import C2_CM_K
from .linelist import LineList
from .partition import PartitionFunction

__all__ = ["CHECK_TEMPERATURES_K", "TOLERANCE", "ConsistencyResult", "levels", "check_partition"]

CHECK_TEMPERATURES_K: tuple[float, ...] = (20.0, 37.5, 75.0, 150.0)
TOLERANCE: float = 0.20
"""Largest accepted |Q_table/Q_lev − 1|."""


@dataclass(frozen=True)
class ConsistencyResult:
    """Outcome of :func:`check_partition` for one species."""

    species: str
    temperatures: np.ndarray
    q_table: np.ndarray
    q_levels: np.ndarray
    estimated_share: np.ndarray
    n_levels: int
    n_estimated: int

    @property
    def ratio(self) -> np.ndarray:
        """Q_table / Q_lev at each temperature."""
        return self.q_table / self.q_levels

    @property
    def worst(self) -> float:
        """The ratio farthest from 1 (in log)."""
        r = self.ratio
        return float(r[np.argmax(np.abs(np.log(r)))])

    def ok(self, tol: float = TOLERANCE) -> bool:
        """True if every ratio is within ``tol`` of 1."""
        return bool(np.all(np.abs(self.ratio - 1.0) <= tol))


_J_PAIR = re.compile(r"^\D*?(\d+)[^-]*?-\s*(\d+)")
_LABEL = re.compile(r"^[^=\s-][^=]* - [^=]+$")  # "u1 u2 … - l1 l2 …" as SPCAT/LAMDA readers write
_E_TOL_CM = (2e-3, 3e-4)
"""Energies (cm⁻¹) closer than this, with equal g, are one level: for energies given to
3 decimals (SLAIM) and to 4 or more decimals (CDMS/JPL)."""


def _energy_tolerance(e_low_k: np.ndarray) -> float:
    """Matching tolerance in cm⁻¹ suited to the precision of the catalogued E_low."""
    milli = np.asarray(e_low_k) / C2_CM_K * 1e3
    coarse = np.all(np.abs(milli - np.round(milli)) < 1e-3)
    return _E_TOL_CM[0] if coarse else _E_TOL_CM[1]


def _j_ratio(labels: np.ndarray) -> np.ndarray:
    """(2J_l+1)/(2J_u+1) from the first number of each side of a label (NaN if unreadable).

    Sides are split at ``" - "`` (SPCAT/LAMDA labels) or else at the first ``-``
    after the upper state's first number (Splatalogue: ``"17( 3,14)- 17( 3,15)"``).
    """
    out = np.full(labels.size, np.nan)
    for i, s in enumerate(labels):
        text = str(s)
        if " - " in text:
            up, low = (re.search(r"\d+", part) for part in text.split(" - ", 1))
            pair = (up.group(0), low.group(0)) if up and low else None
        else:
            m = _J_PAIR.match(text)
            pair = (m.group(1), m.group(2)) if m else None
        if pair:
            out[i] = (2 * int(pair[1]) + 1) / (2 * int(pair[0]) + 1)
    return out


def _level_ids(e_k: np.ndarray, g: np.ndarray, tol: float) -> np.ndarray:
    """Group (E, g) pairs into levels: same g and E within ``tol`` cm⁻¹; returns level ids."""
    e_cm = np.asarray(e_k) / C2_CM_K
    order = np.lexsort((e_cm, g))
    ids = np.empty(e_cm.size, dtype=int)
    current, last_e, last_g = -1, None, None
    for i in order:
        if last_g != g[i] or last_e is None or e_cm[i] - last_e > tol:
            current += 1
        ids[i] = current
        last_e, last_g = e_cm[i], g[i]
    return ids


def levels(ll: LineList) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E in K, g, estimated flag) of the distinct levels the line list implies."""
    e_up, e_low = np.asarray(ll.E_up, dtype=float), np.asarray(ll.E_low, dtype=float)
    g_u = np.asarray(ll.g_u, dtype=float)
    labels = np.asarray(ll.qn, dtype=object)
    if labels.size and all(_LABEL.match(str(x)) for x in labels):
        ups = [x.split(" - ", 1)[0] for x in labels]
        lows = [x.split(" - ", 1)[1] for x in labels]
        upper: dict[str, tuple[float, float]] = {}
        for k, e, g in zip(ups, e_up, g_u, strict=True):
            upper.setdefault(k, (e, g))
        known = np.array([k in upper for k in lows])
        g_low = np.array([upper[k][1] if k in upper else np.nan for k in lows])
        up_e = np.array([v[0] for v in upper.values()])
        up_g = np.array([v[1] for v in upper.values()])
        low_key = np.array(lows, dtype=object)
    else:
        tol = _energy_tolerance(e_low)
        ids = _level_ids(e_up, g_u, tol)
        first = np.unique(ids, return_index=True)[1]
        up_e, up_g = e_up[first], g_u[first]
        order = np.argsort(up_e)
        se = up_e[order] / C2_CM_K
        pos = np.clip(np.searchsorted(se, e_low / C2_CM_K), 1, max(se.size - 1, 1))
        near = np.where(
            np.abs(se[pos - 1] - e_low / C2_CM_K)
            <= np.abs(se[np.minimum(pos, se.size - 1)] - e_low / C2_CM_K),
            pos - 1,
            np.minimum(pos, se.size - 1),
        )
        known = np.abs(se[near] - e_low / C2_CM_K) <= tol
        g_low = np.where(known, up_g[order][near], np.nan)
        low_key = np.round(e_low / C2_CM_K / tol).astype(int)
    ratio_j = _j_ratio(labels) if labels.size else np.full(e_up.size, np.nan)
    median = np.nanmedian(g_low[known] / g_u[known]) if known.any() else 1.0
    g_est = g_u * np.where(np.isfinite(ratio_j), ratio_j, median)
    lower_only: dict = {}
    for k, e, g, kn in zip(low_key, e_low, g_est, known, strict=True):
        if not kn:
            lower_only.setdefault(k, (e, g))
    e = np.r_[up_e, [v[0] for v in lower_only.values()]]
    g = np.r_[up_g, [v[1] for v in lower_only.values()]]
    est = np.r_[np.zeros(up_e.size, bool), np.ones(len(lower_only), bool)]
    return e, g, est


def check_partition(
    ll: LineList,
    partition: PartitionFunction | None = None,
    temperatures=CHECK_TEMPERATURES_K,
) -> ConsistencyResult:
    """Compare ``partition`` (default: the list's own) with the level sum of ``ll``.

    Use the complete line list of the species (not a frequency window), or
    levels will be missing and Q_lev too small.
    """
    part = partition or ll.partition
    t = np.asarray(temperatures, dtype=float)
    e, g, est = levels(ll)
    boltz = g[None, :] * np.exp(-e[None, :] / t[:, None])
    q_lev = boltz.sum(axis=1)
    share = boltz[:, est].sum(axis=1) / q_lev
    return ConsistencyResult(ll.species, t, part(t), q_lev, share, int(e.size), int(est.sum()))


SMU2_TO_GA: float = 1.16395e-20
"""g_u·A_ul = SMU2_TO_GA · ν³ · Sμ², with ν in MHz, Sμ² in D², A in s⁻¹ (the dipole formula
64π⁴ν³Sμ²/(3hc³) in these units)."""


def strength_ratio(freq_mhz, a_ul, g_u, smu2_d2) -> np.ndarray:
    """g_u·A_ul divided by the dipole formula from Sμ² (D²), per line; 1 when consistent.

    A ratio other than 1 means the source's A_ul (or g_u) and its line
    strength disagree (e.g. an A_ul off by a constant factor).
    """
    nu = np.asarray(freq_mhz, dtype=float)
    return (
        np.asarray(g_u, float)
        * np.asarray(a_ul, float)
        / (SMU2_TO_GA * nu**3 * np.asarray(smu2_d2, dtype=float))
    )


def lgint_q300(freq_mhz, a_ul, g_u, elo_cm, lgint) -> np.ndarray:
    """Q(300 K) implied by each line's catalogued LGINT (log10 nm² MHz at 300 K) and A_ul.

    The catalogue computed its intensities with its own partition function, so
    this is the Q (including any spin-weight convention) that goes with its
    g_u and A_ul: a table Q far from it makes every line too weak or too strong.
    """
    from .spcat import lgint_to_aul

    return np.asarray(a_ul, float) / lgint_to_aul(lgint, freq_mhz, elo_cm, g_u, 1.0)


_SYMMETRY_TAG = re.compile(r"\s+([A-Z][A-Za-z0-9+\-]*)$")
WEIGHTED_A_SPREAD: float = 1.5
"""Median max/min of A_ul/ν³ across symmetry components above which A_ul carries weights."""


def symmetry_a_spread(ll: LineList) -> float:
    """Median, over rotational transitions listed as several symmetry components
    (labels ending in ``AA``/``EE``/``AE``/``EA``, ``A``/``E`` …, same g_u), of
    max/min A_ul/ν³; 1.0 when no transition has several components.

    Components of one transition have nearly equal rigid-rotor A_ul; ratios
    like 16:10:6:4 mean the A_ul carry the nuclear-spin weights, which then
    belong to g_u and Q as well (CH3OCH3 in SLAIM: g_u = 2J+1 lacks them).
    """
    groups: dict[tuple[str, float], list[float]] = {}
    labels = np.asarray(ll.qn, dtype=object)
    norm = np.asarray(ll.A_ul, float) / np.asarray(ll.freq, float) ** 3
    for lab, g, a in zip(labels, np.asarray(ll.g_u, float), norm, strict=True):
        m = _SYMMETRY_TAG.search(str(lab))
        if m:
            groups.setdefault((str(lab)[: m.start()], float(g)), []).append(a)
    spreads = [max(v) / min(v) for v in groups.values() if len(v) >= 2]
    return float(np.median(spreads)) if spreads else 1.0
