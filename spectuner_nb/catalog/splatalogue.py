"""Splatalogue as an offline source: CASA's SQLite snapshot and CSV exports.

``casadata`` (the ``casa`` extra) ships Splatalogue as SQLite
(``casadata/__data__/ephemerides/splatalogue.db``): table ``species``
(``species_id``, ``s_name`` …) and table ``main`` with one row per
transition: ``orderedfreq`` (MHz), ``ll_id`` (line list: 10 = CDMS,
12 = JPL, 14 = SLAIM — the last inferred, not stated in the file), ``aij``
(log10 A_ul, s⁻¹), ``lower_state_energy`` (cm⁻¹), ``upper_state_degeneracy``
and ``resolved_QNs``. Missing values are SQL NULL, the string ``'NULL'`` or
empty strings; such rows are dropped.

CSV exports (Splatalogue's web export, or rows exported from that database)
are read by column name; see :data:`CSV_COLUMNS` for the names understood.

Both give :class:`SplatRows`; :func:`to_linelist` attaches a partition
function (Splatalogue has none) and converts energies to K.
"""

from __future__ import annotations

import csv
import re
import sqlite3
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CatalogError, CatalogFormatError, SpeciesNotFoundError
from .linelist import LineList
from .names import resolve
from .partition import PartitionFunction
from .spcat import energies_k

__all__ = [
    "LINE_LISTS",
    "CSV_COLUMNS",
    "SplatRows",
    "splatalogue_db_path",
    "db_species",
    "read_splatalogue_db",
    "read_splatalogue_csv",
    "drop_redundant_hfs",
    "to_linelist",
]

LINE_LISTS: dict[int, str] = {
    10: "CDMS",
    11: "LL11",
    12: "JPL",
    14: "SLAIM",
    15: "Recomb",
    18: "LL18",
}
"""Splatalogue ``ll_id`` → catalog name (10/12 checked against CDMS/JPL files; 14 inferred)."""

CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "freq_mhz": ("freq_MHz", "Freq (MHz)", "Meas Freq (MHz)"),
    "freq_ghz": (
        "Freq-GHz(rest frame,redshifted)",
        "Freq-GHz",
        "Meas Freq-GHz(rest frame,redshifted)",
    ),
    "linelist": ("linelist", "Linelist"),
    "log10_aij": ("log10_Aij", "Log<sub>10</sub> (A<sub>ij</sub>)", "log10(Aij)"),
    "elo_cm": ("E_low_cm1", "E_L (cm^-1)", "E_L (cm-1)"),
    "g_up": ("g_up", "Upper State Degeneracy", "Upper State Deg"),
    "qn": ("QNs", "Resolved QNs"),
    "species": ("Species",),
}


@dataclass(frozen=True)
class SplatRows:
    """Raw Splatalogue transitions of one species (MHz, log10 s⁻¹, cm⁻¹)."""

    name: str
    freq: np.ndarray
    log10_aij: np.ndarray
    elo_cm: np.ndarray
    g_up: np.ndarray
    catalog: np.ndarray
    qn: np.ndarray
    source: str

    def __len__(self) -> int:
        return int(self.freq.size)

    def select(self, mask: np.ndarray) -> SplatRows:
        """Rows where ``mask`` is True."""
        return SplatRows(
            self.name,
            self.freq[mask],
            self.log10_aij[mask],
            self.elo_cm[mask],
            self.g_up[mask],
            self.catalog[mask],
            self.qn[mask],
            self.source,
        )


def _num(v) -> float:
    if v is None or (isinstance(v, str) and v.strip() in ("", "NULL", "---", "nan")):
        return float("nan")
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _not_a_number(text: str) -> bool:
    """True for a field that is neither a number nor an empty/NULL marker."""
    return not (text.strip() in ("", "NULL", "---", "nan") or _is_float(text))


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rows_to_splat(name: str, rows: list[tuple], source: str) -> SplatRows:
    """Build SplatRows from (freq, aij, elo, g, catalog, qn) tuples.

    Rows without a frequency, A_ul, E_low or g_u (empty or NULL in Splatalogue) cannot
    be used; they are dropped with a warning that counts them and names the first.
    """
    freq = np.array([_num(r[0]) for r in rows], dtype=float)
    aij = np.array([_num(r[1]) for r in rows], dtype=float)
    elo = np.array([_num(r[2]) for r in rows], dtype=float)
    gup = np.array([_num(r[3]) for r in rows], dtype=float)
    ok = np.isfinite(freq) & np.isfinite(aij) & np.isfinite(elo) & np.isfinite(gup)
    ok &= (freq > 0) & (gup > 0)
    if not ok.all():
        first = rows[int(np.flatnonzero(~ok)[0])]
        warnings.warn(
            f"{source}: skipped {int((~ok).sum())} of {len(rows)} rows without a "
            f"usable frequency, A_ul, E_low or g_u (first: {first[:4]})",
            stacklevel=3,
        )
    order = np.argsort(freq[ok], kind="stable")
    idx = np.flatnonzero(ok)[order]
    cat = np.array([str(r[4]) for r in rows], dtype=object)
    qn = np.array([" ".join(str(r[5] or "").split()) for r in rows], dtype=object)
    return SplatRows(name, freq[idx], aij[idx], elo[idx], gup[idx], cat[idx], qn[idx], source)


def splatalogue_db_path() -> Path:
    """Path of casadata's Splatalogue SQLite file (needs the ``casa`` extra)."""
    try:
        import casadata
    except ImportError as exc:
        raise CatalogError(
            "casadata is not installed: `pip install spectuner_nb[casa]` provides "
            "Splatalogue's offline database"
        ) from exc
    path = Path(casadata.__file__).parent / "__data__" / "ephemerides" / "splatalogue.db"
    if not path.is_file():
        raise CatalogError(f"casadata has no Splatalogue database at {path}")
    return path


def _connect_ro(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise CatalogFormatError(f"cannot open Splatalogue database {path}: {exc}") from exc


def db_species(path: str | Path | None = None) -> list[tuple[int, str, str]]:
    """(species_id, Splatalogue name, canonical name) of every species in the database.

    Names the resolver cannot read get an empty canonical name.
    """
    path = Path(path) if path else splatalogue_db_path()
    con = _connect_ro(path)
    try:
        rows = con.execute("SELECT species_id, s_name FROM species ORDER BY species_id").fetchall()
    except sqlite3.DatabaseError as exc:
        raise CatalogFormatError(f"{path}: not a Splatalogue database ({exc})") from exc
    finally:
        con.close()
    out = []
    for sid, name in rows:
        try:
            canon = resolve(name)
        except SpeciesNotFoundError:
            canon = ""
        out.append((int(sid), name, canon))
    return out


def read_splatalogue_db(
    species: str | int,
    path: str | Path | None = None,
    *,
    linelists: tuple[str, ...] | None = None,
) -> SplatRows:
    """Transitions of one species from a Splatalogue SQLite database.

    Parameters
    ----------
    species
        Splatalogue ``species_id`` or a name in any style the resolver reads
        (matched against the resolved Splatalogue names; ``"13CO"`` finds
        ``"(13)CO v=0"``).
    path
        Database file (default: casadata's copy).
    linelists
        Keep only these catalogs (e.g. ``("CDMS", "JPL")``); default all.
    """
    path = Path(path) if path else splatalogue_db_path()
    if isinstance(species, (int, np.integer)):
        sid = int(species)
        names = {s: n for s, n, _ in db_species(path)}
        if sid not in names:
            raise SpeciesNotFoundError(f"Splatalogue species id {sid} is not in {path}")
        name = names[sid]
    else:
        want = resolve(species)
        hits = [(s, n) for s, n, c in db_species(path) if c == want]
        if not hits:
            raise SpeciesNotFoundError(f"species {species!r} ({want}) is not in {path}")
        sid, name = hits[0]
    con = _connect_ro(path)
    try:
        rows = con.execute(
            "SELECT orderedfreq, aij, lower_state_energy, upper_state_degeneracy, ll_id, "
            "resolved_QNs FROM main WHERE species_id=?",
            (sid,),
        ).fetchall()
    finally:
        con.close()
    rows = [(*r[:4], LINE_LISTS.get(int(r[4]), f"LL{r[4]}"), r[5]) for r in rows]
    if linelists:
        rows = [r for r in rows if r[4] in linelists]
    return _rows_to_splat(name, rows, f"{path}#species_id={sid}")


def _column(header: list[str], key: str) -> int | None:
    for alias in CSV_COLUMNS[key]:
        if alias in header:
            return header.index(alias)
    return None


def read_splatalogue_csv(path: str | Path, *, name: str | None = None) -> SplatRows:
    """Read a Splatalogue CSV export (``#`` comment lines allowed; ``:`` or ``,`` separated).

    The species name is taken from ``name``, a ``Species`` column, or a
    ``# species: NAME (…)`` comment, in that order.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise CatalogFormatError(f"cannot read {path}: {exc}") from exc
    lines = text.splitlines()
    comments = [ln for ln in lines if ln.startswith("#")]
    numbered = [
        (k, ln) for k, ln in enumerate(lines, start=1) if ln.strip() and not ln.startswith("#")
    ]
    body = "\n".join(ln for _, ln in numbered)
    delim = ":" if body.count(":") > body.count(",") else ","
    table = list(csv.reader([ln for _, ln in numbered], delimiter=delim))
    if len(table) < 2:
        raise CatalogFormatError(f"{path}: no rows")
    header = [h.strip() for h in table[0]]
    col = {k: _column(header, k) for k in CSV_COLUMNS}
    fcol = col["freq_mhz"] if col["freq_mhz"] is not None else col["freq_ghz"]
    scale = 1.0 if col["freq_mhz"] is not None else 1e3
    missing = [k for k in ("log10_aij", "elo_cm", "g_up") if col[k] is None]
    if fcol is None or missing:
        raise CatalogFormatError(
            f"{path}: missing columns {missing or ['frequency']} (header: {header})"
        )
    if name is None and col["species"] is not None:
        name = table[1][col["species"]].strip()
    if name is None:
        for c in comments:
            if c.lower().startswith("# species:"):
                name = c.split(":", 1)[1].strip().split(" (", 1)[0].split(";")[0].strip()
    if not name:
        raise CatalogFormatError(f"{path}: no species name (pass name=...)")

    def get(row: list[str], key: str):
        i = col[key]
        return row[i] if i is not None and i < len(row) else None

    rows, bad = [], []
    numeric = [c for c in (fcol, col["log10_aij"], col["elo_cm"], col["g_up"]) if c is not None]
    for (lineno, line), row in zip(numbered[1:], table[1:], strict=True):
        if len(row) != len(header):
            bad.append(
                (lineno, line, f"{len(row)} fields, the header {len(header)} (a file cut mid-row?)")
            )
            continue
        wrong = [header[c] for c in numeric if _not_a_number(row[c])]
        if wrong:
            bad.append((lineno, line, f"{', '.join(wrong)} not a number"))
            continue
        f = _num(row[fcol]) * scale
        rows.append(
            (
                f,
                get(row, "log10_aij"),
                get(row, "elo_cm"),
                get(row, "g_up"),
                get(row, "linelist") or "Splatalogue",
                get(row, "qn"),
            )
        )
    if not bad and not text.endswith(("\n", "\r")):
        lineno, line = numbered[-1]
        bad.append(
            (
                lineno,
                line,
                "the file ends without a newline: cut mid-row? (add the "
                "final newline if the row is complete)",
            )
        )
    if bad:
        lineno, line, why = bad[0]
        numbers = ", ".join(str(b[0]) for b in bad[:10]) + (", …" if len(bad) > 10 else "")
        raise CatalogFormatError(
            f"{path}: {len(bad)} malformed row(s) (line {numbers}); "
            f"line {lineno}: {why}: {line[:80]!r}"
        )
    return _rows_to_splat(name, rows, str(path))


_HFS = re.compile(r"\s*,\s*F\s*=")


def drop_redundant_hfs(rows: SplatRows) -> SplatRows:
    """Remove hyperfine rows that would count a transition twice.

    Splatalogue often lists a transition both unsplit and as ``F=`` components
    (e.g. CDMS H2CO 1(1,0)–1(1,1)); the components are dropped where the
    unsplit line exists. SLAIM components carry the J-level A_ul and g_u, so
    where no unsplit SLAIM line exists only the first component is kept.
    Fully resolved CDMS/JPL hyperfine lists (own A_ul and g_F) are unchanged.
    """
    prefix = np.array([_HFS.split(q)[0].strip() for q in rows.qn], dtype=object)
    is_hfs = np.array([bool(_HFS.search(q)) for q in rows.qn], dtype=bool)
    if not is_hfs.any():
        return rows
    unsplit = set(zip(prefix[~is_hfs], rows.catalog[~is_hfs], strict=True))
    keep = ~is_hfs
    seen: set = set()
    for i in np.flatnonzero(is_hfs):
        key = (prefix[i], rows.catalog[i])
        if key in unsplit:
            continue
        if rows.catalog[i] != "SLAIM" or key not in seen:
            keep[i] = True
            seen.add(key)
    return rows.select(keep)


def to_linelist(
    rows: SplatRows,
    partition: PartitionFunction,
    *,
    species: str | None = None,
    catalog: str | None = None,
    tag: int | None = None,
) -> LineList:
    """LineList from Splatalogue rows (A_ul = 10^aij; E from E_low cm⁻¹ and ν, in K).

    ``catalog`` defaults to the single catalog of the rows, or ``"Splatalogue"``
    if they mix several.
    """
    e_low, e_up = energies_k(rows.elo_cm, rows.freq)
    cats = sorted(set(rows.catalog.tolist()))
    return LineList(
        species=species or rows.name,
        freq=rows.freq,
        A_ul=10.0**rows.log10_aij,
        E_low=e_low,
        E_up=e_up,
        g_u=rows.g_up,
        partition=partition,
        qn=rows.qn,
        tag=tag,
        catalog=catalog or (cats[0] if len(cats) == 1 else "Splatalogue"),
        source=rows.source,
    )
