"""The full offline catalog: every Splatalogue species of casadata's snapshot, checked and flagged.

casadata (the ``casa`` extra) ships CASA's Splatalogue snapshot
(``casadata/__data__/ephemerides/splatalogue.db``). :func:`ensure_full_catalog`
builds from it, into the user's transition cache, one entry per species
(vibrational states and isotopologues are separate species) that has CDMS,
JPL or SLAIM lines between :data:`FMIN_MHZ` and :data:`FMAX_MHZ` and a
CDMS/JPL partition function (astroquery's tables) matched by name, by a
state range covering it (``CH3OH vt=1`` → ``CH3OH, vt=0-2``) or by an explicit
tag (:data:`PARTITION_TAGS`). Species of the shipped starter catalog keep their
curated entry. Each entry's provenance holds its source, the partition table,
the :data:`FLAGS` it carries, the checks behind them, its names in every
spelling, its :func:`~spectuner_nb.catalog.names.family` and the snapshot's
"detected in space" marks; species left out are listed with the reason in the
cache's ``meta`` table (key :data:`SKIPPED_KEY`).

Partition function (docs/method.md §1): see :func:`choose_partition`. Where
the source gives intensities (LGINT of CDMS/JPL rows) the Q(300 K) they imply
decides; otherwise the level sum Σ g_u exp(−E/T) of the list at 9.375–18.75 K,
except where the A_ul themselves carry the nuclear-spin weights g_u lacks
(CH3OCH3 in SLAIM: dividing Q there made it ~36 times too strong).
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from ..constants import C2_CM_K
from ..errors import CatalogError, SpeciesNotFoundError
from .cache import ImportItem, TransitionCache
from .consistency import (
    SMU2_TO_GA,
    WEIGHTED_A_SPREAD,
    check_partition,
    lgint_q300,
    strength_ratio,
    symmetry_a_spread,
)
from .linelist import LineList
from .names import SpeciesName, family, parse, spellings
from .partfunc import PartitionEntry, _all_entries, partition_for_tag
from .partition import PartitionFunction
from .spcat import lgint_to_aul
from .splatalogue import LINE_LISTS, _rows_to_splat, drop_redundant_hfs, splatalogue_db_path
from .splatalogue import to_linelist as splat_linelist

__all__ = [
    "BUILDER_VERSION",
    "ORIGIN",
    "META_KEY",
    "SKIPPED_KEY",
    "FMIN_MHZ",
    "FMAX_MHZ",
    "EUP_MAX_K",
    "LINE_LIST_ORDER",
    "LEVEL_TEMPERATURES_K",
    "LEVEL_TOLERANCE",
    "CONVENTION_DRIFT",
    "LGINT_TOLERANCE",
    "STRENGTH_TOLERANCE",
    "ISM_COLUMNS",
    "FLAGS",
    "PARTITION_TAGS",
    "LEFT_OUT",
    "SnapshotSpecies",
    "read_snapshot",
    "ism_marks",
    "partition_tables",
    "ground_state_tables",
    "PartitionChoice",
    "nice_factor",
    "choose_partition",
    "snapshot_key",
    "BuildReport",
    "restore_g_u",
    "repair_a_ul",
    "implied_q300",
    "lgint_reference_q300",
    "a_ul_from_lgint",
    "build_species",
    "build_catalog",
    "ensure_full_catalog",
    "skipped_species",
]

BUILDER_VERSION = "2"
ORIGIN = "casadata"
META_KEY = "full_catalog_key"
SKIPPED_KEY = "full_catalog_skipped"
FMIN_MHZ = 30_000.0
FMAX_MHZ = 950_000.0
EUP_MAX_K = 2000.0
LINE_LIST_ORDER: tuple[str, ...] = ("CDMS", "JPL", "SLAIM")
"""Splatalogue line lists used, best first; one list per species (never merged)."""
LEVEL_TEMPERATURES_K: tuple[float, ...] = (9.375, 18.75, 37.5, 75.0, 150.0, 300.0)
LEVEL_TOLERANCE = 0.20
CONVENTION_DRIFT = 0.10
"""Largest accepted spread (max/min − 1) of Q_table/Q_levels at 9.375 and 18.75 K for the
table to be divided by it: a degeneracy convention is one constant factor."""
LGINT_TOLERANCE = 0.05
STRENGTH_TOLERANCE = 0.02
ISM_COLUMNS = (
    "known_ast_molecules",
    "ism_hotcore",
    "ism_diffusecloud",
    "ism_darkcloud",
    "comet",
    "extragalactic",
    "AGB_PPN_PN",
)
"""Columns of the snapshot's ``species`` table marking detections in space."""

FLAGS: dict[str, str] = {
    "q_levels_low_t": "the final Q differs by > 20 % from the level sum of the lines at "
    "9.375–18.75 K (g_u convention differs from the table's)",
    "a_ul_carries_weights": "A_ul carry nuclear-spin weights that g_u = 2J+1 lacks; the table "
    "Q (with the weights) is kept, g_u·A_ul/Q is right",
    "q_divided_to_levels": "the table Q was divided by its low-T ratio to the level sum "
    "(g_u lacks a degeneracy the table counts, A_ul do not carry it)",
    "q_levels_incomplete": "Q table agrees at low T but exceeds the level sum by > 20 % at "
    "150–300 K (levels or states absent from the line list)",
    "q_extrapolated_above_300K": "the Q table ends at 300 K (JPL): higher T is extrapolated",
    "q_rescaled_to_lgint": "the Q table was rescaled to the Q(300 K) implied by the source's "
    "own LGINT intensities",
    "q_differs_from_lgint": "the Q table differs by > 5 % from the Q(300 K) the source's LGINT "
    "imply but agrees with the level sum at low T: table kept",
    "q_of_ground_state": "an excited state without a table of its own uses its ground "
    "state's Q (too small once the vibrational levels are populated)",
    "a_ul_vs_smu2": "g_u·A_ul disagrees with the dipole formula from the source's Sμ² (> 2 %)",
    "a_ul_from_smu2": "SLAIM A_ul off by one constant factor from the dipole formula with its "
    "Sμ²: A_ul recomputed from Sμ² (HCN isotopologues: 3 times too small)",
    "g_u_restored": "the snapshot lost the hundreds digit of g_u ≥ 100 (101 listed as 1); "
    "restored from 2J+1, A_ul rescaled to keep g_u·A_ul",
    "a_ul_from_lgint": "some of the snapshot's A_ul differ by > 1 % from the catalogue's LGINT "
    "(all CDMS/JPL A_ul are taken from LGINT and Q(300 K))",
}
"""Quality flags a catalog entry may carry (``provenance["flags"]``)."""

PARTITION_TAGS: dict[str, int] = {
    # canonical name: CDMS/JPL tag of its partition function, where the table's name does
    # not resolve to the species (checked: same molecule and line count)
    "c-C2H4O;v=0;": 44504,  # CDMS "Ethylene oxide"
    "aGg'-(CH2OH)2;v=0;": 62503,  # CDMS "aGg' glycol"
    "s-H2CCHOH;v=0;": 44506,  # CDMS "s-H2C=CHOH" (syn-vinyl alcohol)
    "a-H2CCHOH;v=0;": 44507,  # CDMS "a-H2C=CHOH" (anti-vinyl alcohol)
    "H2NCH2COOH;v=0;": 75511,  # CDMS "Glycine, conf. I"
    "H2NCH2COOH;I,v=0;": 75511,
    "c-H2C3O;v=0;": 54504,  # CDMS "Cyclopropenone"
    "c-HCCCD;v=0;": 39003,  # JPL "c-C3HD"
    "HSCN;a-type;": 59505,  # CDMS "HSCN"
    "l-C3H;v=0;": 37002,  # JPL "C3H" (linear)
    "l-C5H;v=0;": 61505,  # CDMS "C5H" (linear)
    "t-DCOOH;v=0;": 47003,  # JPL "DCOOH"
    "t-HCOOD;v=0;": 47004,  # JPL "HCOOD"
    "N2H+;v=0;": 29506,  # CDMS "N2H+, v=0; recommended"
    "H3O+;v2=0,1;": 19004,  # JPL "H3O+"
    "t-CH2CHCHO;v=0;": 56519,  # CDMS "trans-propenal, v=0"
    "C-13-CS;v=0;": 57001,  # JPL "C-13CS"
}


LEFT_OUT: dict[str, str] = {
    "HNC-13;v=0;": "SLAIM A_ul 22 % below CDMS c028515 (checked), and the snapshot's JPL rows "
    "start at 783 GHz: import the CDMS file instead",
    "C;v=0;": "atomic carbon: CDMS has its table ('C-atom', tag 12501), but the snapshot's two "
    "lines (492 and 809 GHz) are too few for the LGINT check and their term labels "
    "(3P1, 3P2) give no J for the level sum, so nothing confirms Q: import CDMS "
    "c012501.cat instead",
}
"""Species the build leaves out on purpose (wrong or unverifiable in the snapshot), with the
reason (listed as skipped)."""


@dataclass
class SnapshotSpecies:
    """Raw rows of one Splatalogue species: per line list, tuples
    (freq MHz, log10 A, E_low cm⁻¹, g_u, line list, QNs, Sμ² D², LGINT)."""

    sid: int
    name: str
    ism: dict[str, int]
    rows: dict[str, list[tuple]] = field(default_factory=dict)
    other_lists: set[str] = field(default_factory=set)
    """Other Splatalogue line lists holding rows of the species (not used: no A_ul, or not
    CDMS/JPL/SLAIM)."""


def _num(values: Iterable) -> np.ndarray:
    out = []
    for v in values:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            out.append(np.nan)
    return np.array(out, dtype=float)


def read_snapshot(db: Path, species_ids: Iterable[int] | None = None) -> dict[int, SnapshotSpecies]:
    """Every CDMS/JPL/SLAIM row of the snapshot (all frequencies), grouped by species id, with
    the names of the other lists that hold rows of each species."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        cols = ", ".join(ISM_COLUMNS)
        species = {
            int(r[0]): SnapshotSpecies(
                int(r[0]), r[1], {c: int(v or 0) for c, v in zip(ISM_COLUMNS, r[2:], strict=True)}
            )
            for r in con.execute(f"SELECT species_id, s_name, {cols} FROM species")
        }
        ids = sorted(species if species_ids is None else set(species_ids) & set(species))
        for sid in ids:
            rows = con.execute(
                "SELECT orderedfreq, aij, lower_state_energy, upper_state_degeneracy, ll_id, "
                "resolved_QNs, sijmu2, intintensity FROM main WHERE species_id=?",
                (sid,),
            ).fetchall()
            for r in rows:
                ll = LINE_LISTS.get(int(r[4]), f"list {r[4]}")
                if ll in LINE_LIST_ORDER:
                    species[sid].rows.setdefault(ll, []).append((*r[:4], ll, *r[5:]))
                else:
                    species[sid].other_lists.add(ll)
    except sqlite3.DatabaseError as exc:
        raise CatalogError(f"{db}: not a Splatalogue snapshot ({exc})") from exc
    finally:
        con.close()
    return {sid: species[sid] for sid in ids}


def ism_marks(db: Path | None = None) -> dict[str, dict[str, int]]:
    """Canonical name → the snapshot's detected-in-space marks that are set (merged over the
    snapshot species resolving to that name)."""
    out: dict[str, dict[str, int]] = {}
    con = sqlite3.connect(f"file:{db or splatalogue_db_path()}?mode=ro", uri=True)
    try:
        rows = con.execute(f"SELECT s_name, {', '.join(ISM_COLUMNS)} FROM species").fetchall()
    finally:
        con.close()
    for name, *marks in rows:
        try:
            canonical = str(parse(name))
        except SpeciesNotFoundError:
            continue
        got = out.setdefault(canonical, {})
        for col, v in zip(ISM_COLUMNS, marks, strict=True):
            if int(v or 0):
                got[col] = 1
    return out


@functools.lru_cache(maxsize=1)
def _partition_index() -> dict[str, list[tuple[str, PartitionEntry]]]:
    """formula → [(state, entry)] of every CDMS/JPL table with a usable Q."""
    index: dict[str, list[tuple[str, PartitionEntry]]] = {}
    for e in _all_entries().values():
        if e.partition is None:
            continue
        try:
            sn = parse(e.name)
        except SpeciesNotFoundError:
            continue
        index.setdefault(sn.formula, []).append((sn.state, e))
    return index


def partition_tables(name: str) -> list[PartitionEntry]:
    """CDMS/JPL tables for a canonical name: its :data:`PARTITION_TAGS` tag, else the tables
    of the same name or whose state range covers it (``CH3OH, vt=0-2`` for ``CH3OH`` and
    ``CH3OH;vt=1;``); CDMS first, then exact names."""
    if name in PARTITION_TAGS:
        return [partition_for_tag(PARTITION_TAGS[name])]
    sn = parse(name)
    found = [
        (s != sn.state, e)
        for s, e in _partition_index().get(sn.formula, [])
        if SpeciesName(sn.formula, s).covers(sn.state)
    ]
    return [e for _, e in sorted(found, key=lambda x: (x[1].catalog != "CDMS", x[0], x[1].tag))]


def ground_state_tables(name: str) -> list[PartitionEntry]:
    """Tables of the ground state of an excited-state species (fallback when the state has
    none of its own: right while the vibrational energy is well above T, flag
    ``q_of_ground_state``)."""
    sn = parse(name)
    return [] if sn.includes_ground else partition_tables(str(SpeciesName(sn.formula)))


@dataclass(frozen=True)
class PartitionChoice:
    """The partition function chosen for a line list, with the checks behind it."""

    entry: PartitionEntry
    partition: PartitionFunction
    scale: float
    flags: tuple[str, ...]
    checks: dict


def nice_factor(r: float) -> float:
    """``r`` rounded to a whole number or its inverse when within 5 %, else ``r``."""
    for cand in (round(r), 1.0 / max(round(1.0 / r), 1)):
        if cand > 0 and abs(r / cand - 1.0) <= 0.05:
            return float(cand)
    return float(r)


def _level_ratio(full: LineList, part: PartitionFunction) -> np.ndarray | None:
    """Q_table/Q_levels at :data:`LEVEL_TEMPERATURES_K`, or None when the list lacks its
    lowest levels (an excited state: its levels lie far above the temperatures)."""
    if not len(full) or float(np.min(full.E_low)) > 10.0 or family(full.species).excited:
        return None
    with np.errstate(all="ignore"):
        res = check_partition(full, part, LEVEL_TEMPERATURES_K)
        return np.where(np.isfinite(res.ratio) & (res.q_levels > 0), res.ratio, np.nan)


def choose_partition(
    full: LineList,
    tables: list[PartitionEntry],
    catalog: str,
    q300_lgint: float | None = None,
) -> PartitionChoice:
    """Pick and scale the table for ``full`` (its complete line list).

    The table of the line list's own catalog comes first. With the source's
    LGINT (``q300_lgint``, the median Q(300 K) they imply, see
    :func:`~spectuner_nb.catalog.consistency.lgint_q300`) the table is rescaled
    to it when they differ by more than 5 %. Without, a low-T level-sum ratio
    off by more than 20 % means g_u lacks a degeneracy the table counts: the
    table is divided by that ratio (rounded when near a whole number; a ratio
    that changes by more than :data:`CONVENTION_DRIFT` between 9.375 and
    18.75 K is no convention factor and raises :class:`CatalogError`), unless
    the A_ul carry the missing weights themselves
    (:func:`~spectuner_nb.catalog.consistency.symmetry_a_spread`), when the
    table is right as it is (CH3OCH3).
    """
    if not tables:
        raise SpeciesNotFoundError(f"no CDMS/JPL partition function for {full.species}")
    same = [t for t in tables if t.catalog == catalog]
    entry = (same or tables)[0]
    if not same and len(tables) > 1:  # SLAIM: the table closest to the level sum

        def distance(t: PartitionEntry) -> float:
            r = _level_ratio(full, t.table)
            return abs(np.log(r[1])) if r is not None and np.isfinite(r[1]) else np.inf

        entry = min(tables, key=distance)
    checks: dict = {"level_T_K": list(LEVEL_TEMPERATURES_K)}
    flags: list[str] = []
    scale = 1.0
    before = _level_ratio(full, entry.table)
    lgint_scale = None
    if q300_lgint is not None and np.isfinite(q300_lgint):
        ratio = float(entry.table(300.0)) / q300_lgint
        checks["q300_table_over_lgint"] = round(ratio, 4)
        if abs(ratio - 1.0) > LGINT_TOLERANCE:
            lgint_scale = 1.0 / ratio
    before_low = before[:2] if before is not None else np.full(2, np.nan)
    low_ok = bool(np.isfinite(before_low).any())
    if lgint_scale is not None and (
        not low_ok
        or abs(np.log(np.nanmedian(before_low) * lgint_scale))
        < abs(np.log(np.nanmedian(before_low)))
    ):
        scale = lgint_scale  # the table differs from the catalogue's own convention
        flags.append("q_rescaled_to_lgint")
    elif lgint_scale is not None:
        flags.append("q_differs_from_lgint")  # newer table (e.g. with vibrational states)
    elif low_ok and q300_lgint is None:  # LGINT that agree with the table settle it
        low = float(np.nanmedian(before_low))
        if abs(low - 1.0) > LEVEL_TOLERANCE:
            spread = symmetry_a_spread(full)
            checks["symmetry_a_spread"] = round(spread, 3)
            drift = float(np.nanmax(before_low) / np.nanmin(before_low)) - 1.0
            if spread >= WEIGHTED_A_SPREAD:
                flags.append("a_ul_carries_weights")
            elif drift > CONVENTION_DRIFT:
                raise CatalogError(
                    f"Q table / level sum {before_low[0]:.3g} at 9.375 K but "
                    f"{before_low[1]:.3g} at 18.75 K: no constant convention factor to "
                    "divide by, so Q cannot be matched to the list's g_u"
                )
            else:
                scale = 1.0 / nice_factor(low)
                flags.append("q_divided_to_levels")
    part = entry.table
    if scale != 1.0:
        part = PartitionFunction.from_table(part.temperature, part.q * scale, name=full.species)
    after = _level_ratio(full, part)
    if before is None or after is None:  # both or neither: the same lines, scaled Q
        checks["q_table_over_levels"] = "not applicable: the list lacks the lowest levels"
    else:
        checks["q_table_over_levels"] = [
            None if np.isnan(r) else round(float(r), 4) for r in before
        ]
        checks["q_final_over_levels"] = [None if np.isnan(r) else round(float(r), 4) for r in after]
        if np.any(np.abs(after[:2] - 1.0) > LEVEL_TOLERANCE):
            flags.append("q_levels_low_t")
        elif np.any(after[-2:] - 1.0 > LEVEL_TOLERANCE):
            flags.append("q_levels_incomplete")
    if float(part.temperature[-1]) < 500.0:
        flags.append("q_extrapolated_above_300K")
    return PartitionChoice(entry, part, scale, tuple(flags), checks)


def snapshot_key(db: Path | None = None) -> str:
    """Identifies a build: builder version, casadata/astroquery versions, snapshot size."""
    db = db or splatalogue_db_path()
    return (
        f"builder {BUILDER_VERSION}; casadata {metadata.version('casadata')}; astroquery "
        f"{metadata.version('astroquery')}; {db.stat().st_size} bytes"
    )


@dataclass
class BuildReport:
    """What a build stored and what it left out (name → reason)."""

    items: list[ImportItem]
    skipped: dict[str, str]


def _aligned(full: LineList, raw: list[tuple], col: int) -> np.ndarray:
    """Column ``col`` of the raw snapshot rows, aligned to the lines of ``full`` by frequency
    and quantum numbers (NaN where absent)."""
    values = {
        (round(float(r[0]), 4), " ".join(str(r[5] or "").split())): r[col]
        for r in raw
        if r[0] is not None
    }
    return _num(
        values.get((round(float(f), 4), str(q)), None)
        for f, q in zip(full.freq, full.qn, strict=True)
    )


_FIRST_NUMBER = re.compile(r"\d+")


def restore_g_u(full: LineList, flags: list[str], checks: dict) -> LineList:
    """Undo the snapshot's lost hundreds digit of g_u (CDMS/JPL rows with g_u ≥ 100 list
    101 as 1): where g_u < 2J_u+1 (J_u the label's first number), the g_u + 100·m whose
    ratio to 2J_u+1 is closest to a ratio the untouched lines show is taken; A_ul is scaled
    so g_u·A_ul (what the snapshot derived from LGINT) is unchanged. Flag ``g_u_restored``."""
    labels = [(_FIRST_NUMBER.search(str(q)) or None) for q in full.qn]
    two_j1 = np.array([2 * int(m.group(0)) + 1 if m else np.nan for m in labels], dtype=float)
    g = np.asarray(full.g_u, dtype=float)
    intact = np.isfinite(two_j1) & (two_j1 < 90)
    broken = np.isfinite(two_j1) & (two_j1 >= 99) & (g < two_j1) & (g < 100)
    if not broken.any() or not intact.any():
        return full
    ratios = np.unique(np.round(g[intact] / two_j1[intact], 3))
    new_g = g.copy()
    for i in np.flatnonzero(broken):
        cands = g[i] + 100.0 * np.arange(1, 100)
        rel = np.abs(cands[:, None] / two_j1[i] / ratios[None, :] - 1.0).min(axis=1)
        if rel.min() <= 0.02:
            new_g[i] = cands[int(np.argmin(rel))]
    fixed = int(np.sum(new_g != g))
    if not fixed:
        return full
    flags.append("g_u_restored")
    checks["lines_g_u_restored"] = fixed
    a_ul = np.asarray(full.A_ul, dtype=float) * g / new_g
    return LineList(
        full.species,
        full.freq,
        a_ul,
        full.E_low,
        full.E_up,
        new_g,
        full.partition,
        full.qn,
        full.tag,
        full.catalog,
        full.source,
    )


def repair_a_ul(
    full: LineList,
    raw: list[tuple],
    flags: list[str],
    checks: dict,
) -> tuple[np.ndarray, np.ndarray]:
    """Check the A_ul of ``full`` against the Sμ² of its snapshot rows ``raw``; for a SLAIM
    list off by one constant factor, recompute them from Sμ² (flags ``a_ul_vs_smu2``,
    ``a_ul_from_smu2``). Returns (A_ul in s⁻¹, LGINT aligned to the lines, NaN if none)."""
    smu2, lgint = _aligned(full, raw, 6), _aligned(full, raw, 7)
    a_ul = np.asarray(full.A_ul, dtype=float)
    good = np.isfinite(smu2) & (smu2 > 0)
    if good.any():
        r = strength_ratio(full.freq[good], a_ul[good], full.g_u[good], smu2[good])
        pct = np.percentile(r, [5, 50, 95])
        checks["ga_over_smu2_p5_p50_p95"] = np.round(pct, 4).tolist()
        if np.any(np.abs(pct - 1.0) > STRENGTH_TOLERANCE):
            flags.append("a_ul_vs_smu2")
            if full.catalog == "SLAIM" and pct[2] / pct[0] - 1.0 <= STRENGTH_TOLERANCE:
                a_ul = np.where(good, SMU2_TO_GA * full.freq**3 * smu2 / full.g_u, a_ul)
                flags.append("a_ul_from_smu2")
    return a_ul, lgint


def implied_q300(full: LineList, lgint: np.ndarray) -> float | None:
    """Median Q(300 K) the catalogue's LGINT imply for the lines of ``full`` (None without)."""
    has = np.isfinite(lgint)
    if has.sum() < 3:
        return None
    elo_cm = np.asarray(full.E_low, dtype=float)[has] / C2_CM_K
    return float(
        np.median(
            lgint_q300(
                full.freq[has], np.asarray(full.A_ul)[has], full.g_u[has], elo_cm, lgint[has]
            )
        )
    )


def lgint_reference_q300(choice: PartitionChoice, q300_lgint: float) -> float:
    """Q(300 K) to turn the catalogue's LGINT into A_ul: the chosen Q (the catalogue's current
    table, or the table rescaled to the LGINT), unless the table was kept although it
    differs from what the LGINT imply (then the implied value)."""
    if "q_differs_from_lgint" in choice.flags:
        return q300_lgint
    return float(choice.partition(300.0))


def a_ul_from_lgint(
    full: LineList,
    lgint: np.ndarray,
    q300: float,
    flags: list[str],
    checks: dict,
) -> np.ndarray:
    """A_ul (s⁻¹) of ``full`` with those of lines that have a catalogue LGINT recomputed from
    it and ``q300`` (:func:`lgint_reference_q300`; the catalogue's own definition,
    docs/method.md §1: lines whose snapshot A_ul disagree are repaired); flag
    ``a_ul_from_lgint`` when some differed by more than 1 %."""
    a_ul = np.array(full.A_ul, dtype=float)
    has = np.isfinite(lgint)
    if not has.any():
        return a_ul
    elo_cm = np.asarray(full.E_low, dtype=float)[has] / C2_CM_K
    a_lg = lgint_to_aul(lgint[has], full.freq[has], elo_cm, full.g_u[has], q300)
    off = np.abs(a_lg / a_ul[has] - 1.0) > 0.01
    checks["lines_a_ul_off_lgint"] = int(off.sum())
    if off.any():
        flags.append("a_ul_from_lgint")
    a_ul[has] = a_lg
    return a_ul


def _band(ll: LineList) -> LineList:
    f, e = np.asarray(ll.freq), np.asarray(ll.E_up)
    return ll.subset((f >= FMIN_MHZ) & (f <= FMAX_MHZ) & (e <= EUP_MAX_K))


def _resolves_to(name: str, canonical: str) -> bool:
    try:
        return str(parse(name)) == canonical
    except SpeciesNotFoundError:
        return False


def build_species(sp: SnapshotSpecies, canonical: str, casadata_version: str) -> ImportItem:
    """One catalog entry from a snapshot species (raises :class:`CatalogError` with the reason
    when it cannot be built)."""
    in_band = {
        c: sum(
            1
            for r in sp.rows.get(c, ())
            if r[0] is not None and FMIN_MHZ <= float(r[0]) <= FMAX_MHZ
        )
        for c in LINE_LIST_ORDER
    }
    most = max(in_band.values())
    catalog = next(
        (c for c in LINE_LIST_ORDER if in_band[c] and in_band[c] >= 0.5 * most), None
    )  # the first list holding at least half the lines of the fullest
    if catalog is None:
        raise CatalogError("no CDMS, JPL or SLAIM lines between 30 and 950 GHz")
    raw = sp.rows[catalog]
    tables = partition_tables(canonical)
    fallback = not tables
    tables = tables or ground_state_tables(canonical)
    if not tables:
        raise CatalogError("no CDMS/JPL partition function matches its name or state")
    source = f"splatalogue.db species_id={sp.sid} '{sp.name}' ({catalog})"
    rows = drop_redundant_hfs(_rows_to_splat(sp.name, [r[:6] for r in raw], source))
    full = splat_linelist(rows, tables[0].table, species=canonical, catalog=catalog)
    if len(full) == 0:
        raise CatalogError("no complete rows (frequency, A_ul, E_low, g_u)")
    flags: list[str] = ["q_of_ground_state"] if fallback else []
    checks: dict = {}
    if catalog in ("CDMS", "JPL"):
        full = restore_g_u(full, flags, checks)
    a_ul, lgint = repair_a_ul(full, raw, flags, checks)
    full = LineList(
        canonical,
        full.freq,
        a_ul,
        full.E_low,
        full.E_up,
        full.g_u,
        full.partition,
        full.qn,
        None,
        catalog,
        full.source,
    )
    q300 = implied_q300(full, lgint)
    choice = choose_partition(full, tables, catalog, q300)
    flags += choice.flags
    checks.update(choice.checks)
    if q300 is not None:
        a_ul = a_ul_from_lgint(full, lgint, lgint_reference_q300(choice, q300), flags, checks)
    entry = choice.entry
    ll = _band(
        LineList(
            canonical,
            full.freq,
            a_ul,
            full.E_low,
            full.E_up,
            full.g_u,
            choice.partition,
            full.qn,
            entry.tag,
            catalog,
            f"casadata {casadata_version}: splatalogue.db species_id={sp.sid}",
        )
    )
    if len(ll) == 0:
        raise CatalogError(f"no lines between 30 and 950 GHz with E_up ≤ {EUP_MAX_K:g} K")
    fam = family(canonical)
    provenance = {
        "lines": f"casadata {casadata_version}: splatalogue.db, species_id {sp.sid} "
        f"'{sp.name}', line list {catalog}",
        "licence": "casadata LGPL (NRAO); data CDMS/JPL/SLAIM via Splatalogue",
        "partition_function": f"{entry.catalog} {entry.tag} '{entry.name}' "
        f"(astroquery {metadata.version('astroquery')})",
        "partition_scale": choice.scale,
        "flags": flags,
        "checks": checks,
        "ism": {k: v for k, v in sp.ism.items() if v},
        "spellings": {
            **spellings(canonical),
            "Splatalogue_snapshot": sp.name,
            **(
                {f"{entry.catalog}_table": entry.name}
                if _resolves_to(entry.name, canonical)
                else {}
            ),
        },
        "family": {
            "parent": fam.parent,
            "isotopologue": fam.isotopologue,
            "excited": fam.excited,
            "state": fam.state,
        },
        "cuts": {"fmin_MHz": FMIN_MHZ, "fmax_MHz": FMAX_MHZ, "eup_max_K": EUP_MAX_K},
    }
    return ImportItem(
        ll,
        original_name=sp.name,
        version=f"Splatalogue snapshot in casadata {casadata_version}",
        date=entry.date,
        provenance=provenance,
    )


def _covering(canonical: str, names: set[str]) -> str | None:
    """A name of ``names`` with the same formula whose state range covers ``canonical``'s."""
    sn = parse(canonical)
    for name in names:
        if name.startswith(sn.formula + ";"):
            state = name[len(sn.formula) + 1 :].rstrip(";")
            if SpeciesName(sn.formula, state).covers(sn.state):
                return name
    return None


def build_catalog(
    *,
    db: Path | None = None,
    species_ids: Iterable[int] | None = None,
    exclude: Iterable[str] = (),
    progress: bool = False,
) -> BuildReport:
    """Build entries for every snapshot species (or ``species_ids``), skipping those whose
    canonical or Splatalogue name is in ``exclude``; duplicates of one canonical name keep
    the longest line list."""
    from tqdm.auto import tqdm

    db = db or splatalogue_db_path()
    version = metadata.version("casadata")
    snapshot = read_snapshot(db, species_ids)
    excluded = set(exclude)
    built: dict[str, ImportItem] = {}
    skipped: dict[str, str] = {}
    for sp in tqdm(
        snapshot.values(), desc="building the offline catalog", unit="species", disable=not progress
    ):
        if sp.name in excluded:
            continue
        if not sp.rows:
            if sp.other_lists:
                skipped[sp.name] = (
                    f"only {', '.join(sorted(sp.other_lists))} lines: no CDMS, "
                    "JPL or SLAIM line list"
                )
            continue
        try:
            canonical = str(parse(sp.name))
        except SpeciesNotFoundError:
            skipped[sp.name] = "name cannot be read as a formula"
            continue
        if canonical in excluded:
            continue
        if canonical in LEFT_OUT:
            skipped[sp.name] = LEFT_OUT[canonical]
            continue
        holder = _covering(canonical, excluded)
        if holder:
            skipped[sp.name] = f"covered by the curated entry {holder}"
            continue
        try:
            item = build_species(sp, canonical, version)
        except CatalogError as exc:
            skipped[sp.name] = str(exc)
            continue
        old = built.get(canonical)
        if old is not None and len(old.linelist) >= len(item.linelist):
            skipped[sp.name] = f"same species as '{old.original_name}', which has more lines"
            continue
        if old is not None:
            skipped[old.original_name] = f"same species as '{sp.name}', which has more lines"
        built[canonical] = item
    return BuildReport(list(built.values()), skipped)


def ensure_full_catalog(cache: TransitionCache, *, progress: bool = True) -> int:
    """Build the full catalog into ``cache`` unless it holds this build already.

    Needs casadata (returns 0 without it, so the starter catalog alone is used).
    Starter, imported and fetched entries are kept. Returns the number of
    species written.
    """
    try:
        db = splatalogue_db_path()
    except CatalogError:
        return 0
    from .starter import META_KEY as STARTER_KEY

    key = f"{snapshot_key(db)}; starter {cache.meta(STARTER_KEY)}"  # rebuilt when either changes
    if cache.meta(META_KEY) == key:
        return 0
    kept = [e for e in cache.entries() if e.origin != ORIGIN]
    starter = {e.name for e in kept} | {n for e in kept for n in e.original_name.split(" + ")}
    report = build_catalog(db=db, exclude=starter, progress=progress)
    if cache.meta(META_KEY) == key:  # another process finished first
        return 0
    cache.import_items(
        report.items,
        origin=ORIGIN,
        keep_other_origins=True,
        replace_origin=True,
        meta={META_KEY: key, SKIPPED_KEY: json.dumps(report.skipped, sort_keys=True)},
    )
    return len(report.items)


def skipped_species(cache: TransitionCache) -> dict[str, str]:
    """Snapshot species the last build left out, with the reason."""
    return json.loads(cache.meta(SKIPPED_KEY) or "{}")
