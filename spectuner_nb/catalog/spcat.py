"""Reader for SPCAT ``.cat`` line catalogs (CDMS and JPL), docs/method.md §1.

Two layouts are understood:

``"cat"``
    The 80-column catalog format of CDMS/JPL entries and of the JPL search
    form: FREQ F13.4 (MHz), ERR F8.4, LGINT F8.4, DR I2, ELO F10.4 (cm⁻¹),
    GUP I3, TAG I7, QNFMT I4, then 6 upper and 6 lower quantum numbers (I2).
``"cdms_form"``
    The output of the CDMS search form (HTML with a ``<pre>`` block, as
    astroquery's CDMS service returns it): ERR and the intensity column are
    F11.4 and the species name follows the quantum numbers.

The intensity column holds either LGINT (log10 of the integrated intensity
in nm² MHz at 300 K; the catalog files) or log10 A_ul (the CDMS form when
queried with temperature 0, which is how spectuner_nb queries it). Integers
≥ 100 (quantum numbers, GUP) are letter-coded: ``A0`` = 100, ``B5`` = 115;
negative ones below −9 use lower case: ``a0`` = −10, ``b5`` = −25. A negative
TAG marks a laboratory frequency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..constants import C2_CM_K, LGINT_TO_A_FACTOR, MHZ_PER_CM1, T0_CATALOG_K
from ..errors import CatalogFormatError
from .linelist import LineList
from .partition import PartitionFunction

__all__ = [
    "INTENSITY_KINDS",
    "decode_int",
    "SpcatTable",
    "parse_spcat",
    "read_spcat",
    "lgint_to_aul",
    "energies_k",
    "to_linelist",
    "catalog_of_tag",
]

# (start, end) of FREQ, ERR, INT, DR, ELO, GUP, TAG, QNFMT, QN', QN" in each layout
_LAYOUTS: dict[str, tuple[int, ...]] = {
    "cat": (0, 13, 21, 29, 31, 41, 44, 51, 55, 67, 79),
    "cdms_form": (0, 13, 24, 35, 37, 47, 50, 57, 61, 73, 85),
}
INTENSITY_KINDS = ("lgint", "log10_aij")


def decode_int(field: str) -> int | None:
    """Decode a SPCAT integer field that may carry a letter code (``A0`` = 100, ``a0`` = −10).

    Returns ``None`` for a blank field. Raises ``ValueError`` if it is not a number.
    """
    s = field.strip()
    if not s:
        return None
    head = s[0]
    if head.isalpha():
        rest = int(s[1:]) if s[1:] else 0
        scale = 10 ** len(s[1:])
        if head.isupper():
            return (ord(head) - ord("A") + 10) * scale + rest
        return -((ord(head) - ord("a") + 1) * scale + rest)
    return int(s)


@dataclass(frozen=True)
class SpcatTable:
    """Raw columns of an SPCAT catalog, one row per transition (file order).

    ``intensity`` is LGINT (log10 nm² MHz at 300 K) or log10 A_ul (s⁻¹),
    as ``intensity_kind`` says. ``elo`` is in cm⁻¹, ``freq``/``err`` in MHz.
    ``qn_up``/``qn_low`` are (n, 6) integer arrays with −999 for blank fields.
    """

    freq: np.ndarray
    err: np.ndarray
    intensity: np.ndarray
    dr: np.ndarray
    elo: np.ndarray
    gup: np.ndarray
    tag: np.ndarray
    qnfmt: np.ndarray
    qn_up: np.ndarray
    qn_low: np.ndarray
    intensity_kind: str
    name: str = ""
    source: str = ""

    def __len__(self) -> int:
        return int(self.freq.size)

    @property
    def main_tag(self) -> int:
        """The (positive) species tag of the catalog: the most common |TAG|."""
        tags, counts = np.unique(np.abs(self.tag), return_counts=True)
        return int(tags[np.argmax(counts)])

    def qn_labels(self) -> np.ndarray:
        """Quantum-number labels ``"u1 u2 … - l1 l2 …"`` (as many QNs as QNFMT says)."""
        out = np.empty(len(self), dtype=object)
        for i in range(len(self)):
            nq = max(int(self.qnfmt[i]) % 10, 1)
            up = " ".join(str(v) for v in self.qn_up[i, :nq] if v != -999)
            lo = " ".join(str(v) for v in self.qn_low[i, :nq] if v != -999)
            out[i] = f"{up} - {lo}"
        return out


_PRE = re.compile(r"<pre>(.*?)</pre>", re.S | re.I)


def _detect_layout(text: str) -> tuple[str, str]:
    """(layout, body text) of a catalog text, HTML search-form output included."""
    m = _PRE.search(text)
    if m:
        return "cdms_form", m.group(1)
    return "cat", text


def _parse_row(line: str, cuts: tuple[int, ...]) -> tuple:
    fields = [line[cuts[k] : cuts[k + 1]] for k in range(8)]
    freq, err, inten = float(fields[0]), float(fields[1]), float(fields[2])
    dr = int(fields[3])
    elo = float(fields[4]) if fields[4].strip() else 0.0
    gup = decode_int(fields[5])
    tag = int(fields[6])
    qnfmt = int(fields[7])
    qn = []
    for part in (line[cuts[8] : cuts[9]], line[cuts[9] : cuts[10]]):
        part = part.ljust(12)
        vals = [decode_int(part[2 * j : 2 * j + 2]) for j in range(6)]
        qn.append([-999 if v is None else v for v in vals])
    if gup is None:
        raise ValueError("blank GUP")
    return freq, err, inten, dr, elo, gup, tag, qnfmt, qn[0], qn[1]


def parse_spcat(
    text: str,
    *,
    intensity: str = "auto",
    layout: str = "auto",
    source: str = "<text>",
) -> SpcatTable:
    """Parse SPCAT catalog text.

    Parameters
    ----------
    text
        File content: a ``.cat`` file, a JPL query answer, or CDMS search-form HTML.
    intensity
        ``"lgint"``, ``"log10_aij"`` or ``"auto"`` (LGINT for the catalog
        layout, log10 A_ul for CDMS search-form output).
    layout
        ``"cat"``, ``"cdms_form"`` or ``"auto"`` (form output is recognised
        by its ``<pre>`` block).
    source
        File or service name used in error messages and provenance.

    Blank lines and headers (such as the JPL ``"28001  CO"`` line: too short to be a
    transition, before the first one) are skipped. Every other line must decode: a
    non-number in a field (FREQ included), a short line after the first transition, or a
    last line cut short (the text ends without a newline, shorter than the other rows: an
    interrupted download) raises :class:`CatalogFormatError` naming the lines.
    """
    found_layout, body = _detect_layout(text)
    layout = found_layout if layout == "auto" else layout
    if layout not in _LAYOUTS:
        raise CatalogFormatError(f"{source}: unknown SPCAT layout {layout!r}")
    if intensity == "auto":
        intensity = "log10_aij" if layout == "cdms_form" else "lgint"
    if intensity not in INTENSITY_KINDS:
        raise CatalogFormatError(f"{source}: intensity must be one of {INTENSITY_KINDS}")
    cuts = _LAYOUTS[layout]
    rows: list[tuple] = []
    bad: list[tuple[int, str, str]] = []  # (line number, line, reason)
    name = ""
    lines = body.splitlines()
    width = max((len(ln.rstrip()) for ln in lines), default=0)
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if len(line.rstrip()) < cuts[8]:  # shorter than the fields up to the QNs
            if rows or bad:  # a header comes first; later, a row cut short
                bad.append((lineno, line, "cut short"))
            continue
        if lineno == len(lines) and not body.endswith("\n") and len(line.rstrip()) < width:
            bad.append((lineno, line, "the text ends mid-row (a truncated file?)"))
            continue
        try:
            rows.append(_parse_row(line, cuts))
        except (ValueError, IndexError) as exc:
            bad.append((lineno, line, str(exc)))
        if layout == "cdms_form" and not name:
            name = line[cuts[10] :].strip()
    if bad:
        lineno, line, why = bad[0]
        numbers = ", ".join(str(b[0]) for b in bad[:10]) + (", …" if len(bad) > 10 else "")
        raise CatalogFormatError(
            f"{source}: {len(bad)} line(s) cannot be parsed (line {numbers}); line {lineno}: "
            f"cannot parse {line!r} ({why})"
        )
    if not rows:
        raise CatalogFormatError(f"{source}: no transitions found")
    cols = list(zip(*rows, strict=True))
    return SpcatTable(
        freq=np.array(cols[0], dtype=float),
        err=np.array(cols[1], dtype=float),
        intensity=np.array(cols[2], dtype=float),
        dr=np.array(cols[3], dtype=int),
        elo=np.array(cols[4], dtype=float),
        gup=np.array(cols[5], dtype=float),
        tag=np.array(cols[6], dtype=int),
        qnfmt=np.array(cols[7], dtype=int),
        qn_up=np.array(cols[8], dtype=int),
        qn_low=np.array(cols[9], dtype=int),
        intensity_kind=intensity,
        name=name,
        source=source,
    )


def read_spcat(path: str | Path, *, intensity: str = "auto", layout: str = "auto") -> SpcatTable:
    """Read an SPCAT ``.cat`` file (or saved CDMS form output); see :func:`parse_spcat`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as exc:
        raise CatalogFormatError(f"cannot read catalog file {path}: {exc}") from exc
    return parse_spcat(text, intensity=intensity, layout=layout, source=str(path))


def lgint_to_aul(
    lgint: np.ndarray, freq_mhz: np.ndarray, elo_cm: np.ndarray, gup: np.ndarray, q300: float
) -> np.ndarray:
    """A_ul (s⁻¹) from LGINT at 300 K (docs/method.md §1).

    ``A = 2.7964e-16 · 10^LGINT · ν² · Q(300) / g_u / (exp(−E_l c2/T0) − exp(−E_u c2/T0))``
    with ν in MHz, energies in cm⁻¹ and E_u = E_l + ν/29979.2458.
    """
    nu = np.asarray(freq_mhz, dtype=float)
    el = np.asarray(elo_cm, dtype=float)
    eu = el + nu / MHZ_PER_CM1
    boltz = np.exp(-el * C2_CM_K / T0_CATALOG_K) - np.exp(-eu * C2_CM_K / T0_CATALOG_K)
    return LGINT_TO_A_FACTOR * 10.0 ** np.asarray(lgint) * nu**2 * q300 / np.asarray(gup) / boltz


def energies_k(elo_cm: np.ndarray, freq_mhz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(E_low, E_up) in K from E_low in cm⁻¹ and ν in MHz: E_u = E_l + ν/29979.2458 cm⁻¹."""
    el = np.asarray(elo_cm, dtype=float)
    return el * C2_CM_K, (el + np.asarray(freq_mhz, dtype=float) / MHZ_PER_CM1) * C2_CM_K


def to_linelist(
    table: SpcatTable,
    partition: PartitionFunction,
    *,
    species: str,
    catalog: str = "",
    tag: int | None = None,
) -> LineList:
    """Convert raw SPCAT columns to a :class:`LineList` (A_ul in s⁻¹, energies in K).

    ``partition`` supplies Q(300 K) for the LGINT conversion and is attached
    to the result; it must follow the catalog's degeneracy convention.
    Rows with non-positive frequency or g_u, or a non-finite A_ul, are
    dropped; rows are sorted by frequency.
    """
    freq = table.freq
    if table.intensity_kind == "lgint":
        a_ul = lgint_to_aul(table.intensity, freq, table.elo, table.gup, float(partition(300.0)))
    else:
        a_ul = 10.0**table.intensity
    e_low, e_up = energies_k(table.elo, freq)
    ok = np.isfinite(a_ul) & (a_ul > 0) & (freq > 0) & (table.gup > 0)
    order = np.argsort(freq[ok], kind="stable")
    idx = np.flatnonzero(ok)[order]
    return LineList(
        species=species,
        freq=freq[idx],
        A_ul=a_ul[idx],
        E_low=e_low[idx],
        E_up=e_up[idx],
        g_u=table.gup[idx],
        partition=partition,
        qn=table.qn_labels()[idx],
        tag=table.main_tag if tag is None else tag,
        catalog=catalog or catalog_of_tag(table.main_tag),
        source=table.source,
    )


def catalog_of_tag(tag: int) -> str:
    """``"CDMS"`` for tags whose last three digits are ≥ 500, else ``"JPL"``."""
    return "CDMS" if abs(int(tag)) % 1000 >= 500 else "JPL"
