"""The one species-name resolver (docs/method.md §1), used by every reader and query.

A canonical name has the XCLASS/spectuner shape ``"FORMULA;STATE;"``, for
example ``"CH3OH;v=0;"``, ``"CH3OH;vt=0-2;"``, ``"C-13-O;v=0;"``,
``"HC3N;v7=1;"``. It is built from any of the usual spellings:

- CDMS: ``"CH3OH, vt=0-2"``, ``"HC(O)NH2, v=0"``, ``"C-13-O"``, ``"CO-18"``;
- XCLASS/spectuner: ``"CH3OH;v=0;"``;
- Splatalogue/JPL: ``"CH3OH vt=0"``, ``"(13)CO v=0"``, ``"13CO"``, ``"H2C18O"``,
  ``"SO 3Sigma v=0"``, ``"t-HCOOH"``;
- bare formulas: ``"CH3OH"`` means the ground state ``"CH3OH;v=0;"``.

Formulas: isotopes are written the CDMS/XCLASS way (``C-13-``, ``O-18``), and
common aliases map to one preferred formula (:data:`ALIASES`), e.g.
CH3CH2CN → C2H5CN, CH2CHCN → C2H3CN, HC(O)NH2 → NH2CHO, HCOOCH3 → CH3OCHO.
States: blank, ``v=0``, ``vt=0`` and ``v0`` all mean the ground state
``v=0``; electronic labels such as ``3Sigma`` are dropped; other states are
kept with spaces removed (``vt=0-2``, ``v12=1``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import SpeciesNotFoundError

__all__ = [
    "ALIASES",
    "MAIN_ISOTOPES",
    "ISOTOPES",
    "SpeciesName",
    "normalize_formula",
    "normalize_state",
    "parse",
    "resolve",
]

ALIASES: dict[str, str] = {
    "CH3CH2CN": "C2H5CN",
    "EtCN": "C2H5CN",
    "CH2CHCN": "C2H3CN",
    "VyCN": "C2H3CN",
    "HC(O)NH2": "NH2CHO",
    "HCONH2": "NH2CHO",
    "NH2COH": "NH2CHO",
    "HCOOCH3": "CH3OCHO",
    "HC(O)OCH3": "CH3OCHO",
    "CH3OOCH": "CH3OCHO",
    "(CH3)2O": "CH3OCH3",
    "CH3CH2OH": "C2H5OH",
    "CH3COH": "CH3CHO",
    "t-HCOOH": "HCOOH",
    "H2CCO": "CH2CO",
    "CH3C2H": "CH3CCH",
    "HCCCN": "HC3N",
    "MeOH": "CH3OH",
    "MeCN": "CH3CN",
    "HCOp": "HCO+",
    "HCO(+)": "HCO+",
    "C3H4": "CH3CCH",
    "c-H2COCH2": "c-C2H4O",  # ethylene oxide (Splatalogue spelling)
    "c-CH2OCH2": "c-C2H4O",
    "gGa-(CH2OH)2": "aGg'-(CH2OH)2",  # Splatalogue's label of the CDMS aGg' glycol entry
    "c-HCCCH": "c-C3H2",  # Splatalogue/JPL spelling of cyclopropenylidene
    "cis-CH2OHCHO": "HCOCH2OH",  # glycolaldehyde (Splatalogue spelling)
    "CH2OHCHO": "HCOCH2OH",
    "(CH3)2CO": "CH3COCH3",  # acetone
    "CCCN": "C3N",
    "NaCN/NaNC": "NaCN",  # Splatalogue's name of sodium cyanide (T-shaped, CDMS "NaCN")
    "NaC-13-N/NaNC-13": "NaC-13-N",
}
"""Alternative formula spellings → preferred formula (applied after isotope normalisation)."""

MAIN_ISOTOPES: dict[str, int] = {"C": 12, "N": 14, "O": 16, "S": 32, "Si": 28, "Cl": 35}
"""Most abundant isotope of each element: written explicitly ("13C16O") it is dropped."""

# mass numbers that, written before or after an element, mark a rare isotope
ISOTOPES: dict[str, frozenset[int]] = {
    "C": frozenset({13, 14}),
    "N": frozenset({15}),
    "O": frozenset({17, 18}),
    "S": frozenset({33, 34, 36}),
    "Si": frozenset({29, 30}),
    "Cl": frozenset({37}),
}

_ELEMENT = r"(Si|Cl|C|N|O|S)"
_PAREN_ISO = re.compile(r"\((\d{1,2})\)" + _ELEMENT)  # (13)C
_BRACKET_ISO = re.compile(r"\[(\d{1,2})" + _ELEMENT + r"\]")  # [13C]
_BARE_ISO = re.compile(r"(\d{2})" + _ELEMENT)  # 13C, C18O (mass before element)
_CONFORMER = re.compile(r"^([a-z][A-Za-z']{0,3}-)(.+)$")
_ELECTRONIC = re.compile(r"^\d?(Sigma|Pi|Delta|Phi)[+-]?$", re.I)
_GROUND = re.compile(r"^(v|vt|v0|v=0|vt=0|v=0;?|ground)$", re.I)
_GROUND_RANGE = re.compile(r"^v\w*=0(?:[-,/].*)?$")
_STATE_RANGE = re.compile(r"^(v\w*)=(\d+)-(\d+)$")  # vt=0-2
_STATE_LIST = re.compile(r"^(v\w*)=(\d+(?:,\d+)+)$")  # vt=0,1
_STATE_ONE = re.compile(r"^(v\w*)=(\d+)$")  # vt=1


@dataclass(frozen=True)
class SpeciesName:
    """A parsed species name: preferred formula and normalised state."""

    formula: str
    state: str = "v=0"

    def __str__(self) -> str:
        return f"{self.formula};{self.state};"

    @property
    def is_ground(self) -> bool:
        """True for the plain vibrational ground state ``v=0``."""
        return self.state == "v=0"

    @property
    def includes_ground(self) -> bool:
        """True if the state covers the ground state (``v=0``, ``vt=0-2``, ``v=0-10`` …)."""
        return self.is_ground or bool(_GROUND_RANGE.match(self.state))

    def covers(self, state: str) -> bool:
        """True if this name's state is ``state`` or a range or list holding it
        (``vt=0-2`` and ``vt=0,1`` cover ``vt=1``; ``v=0-10`` covers ``v=0``)."""
        if state == self.state:
            return True
        if state == "v=0":
            return self.includes_ground
        one = _STATE_ONE.match(state)
        if not one:
            return False
        k = int(one.group(2))
        if m := _STATE_RANGE.match(self.state):
            return m.group(1) == one.group(1) and int(m.group(2)) <= k <= int(m.group(3))
        if m := _STATE_LIST.match(self.state):
            return m.group(1) == one.group(1) and str(k) in m.group(2).split(",")
        return False


def _iso_marker(element: str, mass: str) -> str:
    return f"{element}-{int(mass)}-"


def normalize_formula(formula: str) -> str:
    """Preferred spelling of a formula: isotopes as ``C-13-``/``O-18``, aliases applied."""
    f = formula.strip().replace(" ", "")
    f = _PAREN_ISO.sub(lambda m: _iso_marker(m.group(2), m.group(1)), f)
    f = _BRACKET_ISO.sub(lambda m: _iso_marker(m.group(2), m.group(1)), f)

    def bare(m: re.Match) -> str:
        mass, el = int(m.group(1)), m.group(2)
        start = m.start()
        if start > 0 and f[start - 1] == "-":  # already C-13- form
            return m.group(0)
        if MAIN_ISOTOPES.get(el) == mass:
            return el
        return _iso_marker(el, str(mass)) if mass in ISOTOPES.get(el, ()) else m.group(0)

    f = _BARE_ISO.sub(bare, f)
    f = re.sub(r"-{2,}", "-", f)
    f = re.sub(r"(-\d+)-(?=[+\-]?$)", r"\1", f)  # "CO-18-" → "CO-18", "HCO-18-+" → "HCO-18+"
    if f in ALIASES:
        return ALIASES[f]
    prefix = _CONFORMER.match(f)  # t-, g-, c-, l-, aGg'- … keep the prefix, alias the rest
    if prefix and prefix.group(2) in ALIASES:
        return prefix.group(1) + ALIASES[prefix.group(2)]
    return f


def normalize_state(state: str) -> str:
    """Normalised state label: ``v=0`` for the ground state, spaces removed otherwise
    (``"v7 = 2 l=2"`` → ``"v7=2,l=2"``; a leading conformer dash ``"- I"`` is dropped)."""
    state = re.sub(r"\s*=\s*", "=", state.strip()).lstrip("-").strip()
    parts = [p for p in re.split(r"[\s,;]+", state) if p]
    parts = [p for p in parts if not _ELECTRONIC.match(p)]
    s = ",".join(parts)
    if not s or _GROUND.match(s):
        return "v=0"
    return s


def parse(name: str) -> SpeciesName:
    """Parse a species name in any supported style into a :class:`SpeciesName`."""
    if not isinstance(name, str) or not name.strip():
        raise SpeciesNotFoundError(f"empty species name {name!r}")
    text = name.strip()
    if ";" in text:  # XCLASS: FORMULA;STATE;
        formula, _, state = text.partition(";")
        state = state.strip(";")
    else:  # CDMS "FORMULA, STATE", Splatalogue/JPL "FORMULA STATE"
        formula, _, state = re.sub(r"[\s,]+", " ", text, count=1).partition(" ")
    formula = normalize_formula(formula)
    if not re.search(r"[A-Z]", formula) or re.search(r"[^A-Za-z0-9()+\-'^]", formula):
        raise SpeciesNotFoundError(f"cannot read a molecular formula from species name {name!r}")
    return SpeciesName(formula, normalize_state(state))


def resolve(name: str) -> str:
    """Canonical ``"FORMULA;STATE;"`` name of ``name`` (raises :class:`SpeciesNotFoundError`)."""
    return str(parse(name))


_ISO_MARKER = re.compile(r"(Si|Cl|C|N|O|S)-(\d{1,2})(?:-|(?=[+\-]?$))")
_H_RUN = re.compile(r"H(\d*)H(\d*)")


def _merge_h(formula: str) -> str:
    """Merge adjacent hydrogen counts: ``CH2HOH`` → ``CH3OH``."""
    while True:
        merged = _H_RUN.sub(
            lambda m: f"H{int(m.group(1) or 1) + int(m.group(2) or 1)}", formula, count=1
        )
        if merged == formula:
            return formula
        formula = merged


def main_isotopologue(formula: str) -> str:
    """The main isotopologue of a preferred formula: rare-isotope markers removed and
    deuterium replaced by hydrogen (``C-13-H3OH`` → ``CH3OH``, ``HDCO`` → ``H2CO``,
    ``CH2DCCH`` → ``CH3CCH``), aliases applied."""
    plain = _ISO_MARKER.sub(lambda m: m.group(1), formula)
    if re.search(r"D", plain):
        plain = _merge_h(plain.replace("D", "H"))
    return normalize_formula(plain) if plain != formula else formula


@dataclass(frozen=True)
class Family:
    """How a species relates to its parent (for grouping lines of one molecule).

    ``parent`` is the main isotopologue in its ground state (``"CH3OH;v=0;"`` for
    ``"C-13-H3OH;vt=1;"``); ``isotopologue`` is True for rare-isotope or deuterated
    forms, ``excited`` for states other than the ground state (or ranges covering it).
    """

    name: str
    parent: str
    isotopologue: bool
    excited: bool
    state: str


def family(name: str) -> Family:
    """The :class:`Family` of a species name in any spelling."""
    sn = parse(name)
    main = main_isotopologue(sn.formula)
    return Family(
        str(sn), str(SpeciesName(main)), main != sn.formula, not sn.includes_ground, sn.state
    )


def spellings(name: str) -> dict[str, str]:
    """The name of a species in the CDMS, JPL, Splatalogue and XCLASS styles.

    CDMS ``"C-13-H3OH, vt=1"``, JPL ``"C-13-H3OH vt=1"``, Splatalogue
    ``"(13)CH3OH vt=1"`` (rare isotopes as ``(13)C`` before the element) and
    XCLASS ``"C-13-H3OH;vt=1;"``; each resolves back to the same canonical name.
    """
    sn = parse(name)
    splat = _ISO_MARKER.sub(lambda m: f"({m.group(2)}){m.group(1)}", sn.formula)
    return {
        "CDMS": f"{sn.formula}, {sn.state}",
        "JPL": f"{sn.formula} {sn.state}",
        "Splatalogue": f"{splat} {sn.state}",
        "XCLASS": str(sn),
    }
