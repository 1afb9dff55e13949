"""Families of species: isotopologues and vibrational states grouped with their parent.

Line identification (docs/method.md §9) accepts an isotopologue or an excited
state only together with, or after, its parent: 13CH3OH is not credible in a
spectrum without CH3OH. :func:`parent_species` maps a canonical name to the
canonical name of its parent (the main isotopologue in its vibrational ground
state): rare isotopes are replaced by the main one (``C-13-`` → ``C``,
``O-18`` → ``O``, D → H) and the state by ``v=0``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from .names import SpeciesName, normalize_formula, parse

__all__ = [
    "composition",
    "is_rare",
    "main_formula",
    "parent_species",
]

_ISO_MARK = re.compile(r"(Si|Cl|C|N|O|S)-\d+-?")
_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*)")
_CONFORMER = re.compile(r"^([a-z][A-Za-z']{0,3}-)")


def _merge_hydrogen(formula: str) -> str:
    """Join neighbouring hydrogen counts (after D → H): "CH2HCCH" → "CH3CCH", "HHCO" → "H2CO"."""

    def join(m: re.Match) -> str:
        n = sum(int(c or 1) for c in re.findall(r"H(\d*)", m.group(0)))
        return "H" + (str(n) if n > 1 else "")

    return re.sub(r"(?:H\d*(?![a-z])){2,}", join, formula)


def main_formula(formula: str) -> str:
    """The formula of the main isotopologue: isotope marks dropped, D → H, aliases applied."""
    f = _ISO_MARK.sub(lambda m: m.group(1), formula)
    f = _merge_hydrogen(f.replace("D", "H"))
    return normalize_formula(f)


def composition(formula: str) -> tuple[str, Counter]:
    """(conformer prefix, element counts) of a formula; isotopes counted as the main element."""
    f = main_formula(formula)
    prefix = _CONFORMER.match(f)
    body = f[prefix.end() :] if prefix else f
    counts: Counter = Counter()
    for m in _TOKEN.finditer(re.sub(r"[()+'^-]", "", body)):
        counts[m.group(1)] += int(m.group(2) or 1)
    return (prefix.group(1) if prefix else ""), counts


def parent_species(name: str, known: Iterable[str] | None = None) -> str:
    """Canonical name of the parent of ``name``: main isotopologue, ground state.

    Parameters
    ----------
    name
        A species name in any style the resolver reads.
    known
        Canonical names to choose from (e.g. the catalog's species). With them the
        parent is the known species of the same main formula whose state covers the
        ground state ("CH3OH;vt=0-2;" for "C-13-H3OH;v=0;"), else the only known
        species of the same element counts and conformer prefix ("c-C3H2;v=0;" for
        "c-HCCCD;v=0;"); ``name`` itself when none is known (it heads its own family).

    Returns
    -------
    str
        The parent's canonical name (``name``'s own canonical name for a parent).
    """
    sn = parse(name)
    parent = SpeciesName(main_formula(sn.formula), "v=0")
    if known is None:
        return str(parent)
    known = list(known)
    parsed = [parse(k) for k in known]
    same = [
        k
        for k, p in zip(known, parsed, strict=True)
        if p.formula == parent.formula and p.includes_ground
    ]
    if same:
        return str(parent) if str(parent) in same else same[0]
    if sn.formula == parent.formula:  # a main isotopologue unknown in its ground state
        return str(sn)
    target = composition(sn.formula)
    alike = [
        k
        for k, p in zip(known, parsed, strict=True)
        if p.includes_ground
        and composition(p.formula) == target
        and p.formula == main_formula(p.formula)
    ]
    return alike[0] if len(alike) == 1 else str(sn)


def is_rare(name: str) -> bool:
    """True for a rare isotopologue or a state that excludes the ground state."""
    sn = parse(name)
    return sn.formula != main_formula(sn.formula) or not sn.includes_ground
