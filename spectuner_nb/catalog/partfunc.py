"""Readers for the CDMS and JPL partition-function tables (docs/method.md §1).

- CDMS ``partfunc.cat``: a ``|``-separated table of log10 Q at 1000 … 2.725 K
  per tag; ``nan`` and ``---`` are gaps.
- CDMS ``catdir.cat``: the catalogue directory (name, version, date per tag).
- JPL ``catdir.cat``: fixed width (I6, X, A13, I6, 7F7.4, I2) with log10 Q at
  300, 225, 150, 75, 37.5, 18.75 and 9.375 K.

astroquery ships all three files; :func:`partition_for_tag` reads them from
the installed astroquery package, so it works offline.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import CatalogError, CatalogFormatError, SpeciesNotFoundError
from .partition import PartitionFunction

__all__ = [
    "JPL_TEMPERATURES_K",
    "PartitionEntry",
    "read_cdms_partfunc",
    "read_cdms_catdir",
    "read_jpl_catdir",
    "astroquery_data_files",
    "partition_for_tag",
    "entries_for",
]

JPL_TEMPERATURES_K = (300.0, 225.0, 150.0, 75.0, 37.5, 18.75, 9.375)
"""Temperatures of the seven log10 Q columns of JPL catdir.cat, K."""


@dataclass(frozen=True)
class PartitionEntry:
    """One catalog species: tag, catalog name, Q(T) table and directory data."""

    tag: int
    name: str
    catalog: str
    partition: PartitionFunction | None
    n_lines: int = 0
    version: str = ""
    date: str = ""

    @property
    def table(self) -> PartitionFunction:
        """The Q(T) table (SpeciesNotFoundError when the directory lists none for the tag)."""
        if self.partition is None:
            raise SpeciesNotFoundError(
                f"{self.catalog} tag {self.tag} ({self.name}): no partition function"
            )
        return self.partition


def _float_or_nan(s: str) -> float:
    s = s.strip()
    try:
        return float(s)
    except ValueError:  # "---", "nan", ""
        return float("nan")


def _partition_or_none(t, logq, name: str) -> PartitionFunction | None:
    try:
        return PartitionFunction.from_log10(t, logq, name=name)
    except CatalogError:
        return None


def _pipe_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        lines = path.read_text(encoding="latin-1").splitlines()
    except OSError as exc:
        raise CatalogFormatError(f"cannot read {path}: {exc}") from exc
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines if "|" in ln]
    if len(rows) < 2:
        raise CatalogFormatError(f"{path}: not a '|'-separated CDMS table")
    return rows[0], rows[1:]


def read_cdms_partfunc(path: str | Path) -> dict[int, PartitionEntry]:
    """Read CDMS ``partfunc.cat``: {tag: PartitionEntry} (versions left empty)."""
    path = Path(path)
    header, rows = _pipe_rows(path)
    temps = []
    for col in header[3:]:
        m = re.search(r"Q\(([\d.]+)\)", col)
        if not m:
            raise CatalogFormatError(f"{path}: unexpected column {col!r}")
        temps.append(float(m.group(1)))
    out: dict[int, PartitionEntry] = {}
    for lineno, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise CatalogFormatError(
                f"{path}, row {lineno}: {len(row)} columns, expected {len(header)}"
            )
        tag = int(row[0])
        logq = [_float_or_nan(v) for v in row[3:]]
        n = int(row[2]) if row[2].isdigit() else 0
        out[tag] = PartitionEntry(tag, row[1], "CDMS", _partition_or_none(temps, logq, row[1]), n)
    return out


def read_cdms_catdir(path: str | Path) -> dict[int, dict[str, str]]:
    """Read CDMS ``catdir.cat``: {tag: {"name", "version", "date"}}."""
    path = Path(path)
    _, rows = _pipe_rows(path)
    out = {}
    for row in rows:
        if len(row) >= 6 and row[0].isdigit():
            out[int(row[0])] = {"name": row[1], "version": row[3], "date": row[5]}
    return out


def read_jpl_catdir(path: str | Path) -> dict[int, PartitionEntry]:
    """Read JPL ``catdir.cat``: {tag: PartitionEntry} with the version column."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="latin-1").splitlines()
    except OSError as exc:
        raise CatalogFormatError(f"cannot read {path}: {exc}") from exc
    out: dict[int, PartitionEntry] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            tag = int(line[0:6])
            name = line[7:20].strip()
            n_lines = int(line[20:26])
            logq = [_float_or_nan(line[26 + 7 * k : 33 + 7 * k]) for k in range(7)]
            version = line[75:].strip()
        except ValueError as exc:
            raise CatalogFormatError(f"{path}, line {lineno}: cannot parse {line!r}") from exc
        part = _partition_or_none(JPL_TEMPERATURES_K, logq, name)
        out[tag] = PartitionEntry(tag, name, "JPL", part, n_lines, version)
    return out


def astroquery_data_files() -> dict[str, Path]:
    """Paths of the partition tables shipped inside the installed astroquery."""
    import astroquery

    root = Path(astroquery.__file__).parent
    return {
        "cdms_partfunc": root / "linelists" / "cdms" / "data" / "partfunc.cat",
        "cdms_catdir": root / "linelists" / "cdms" / "data" / "catdir.cat",
        "jpl_catdir": root / "jplspec" / "data" / "catdir.cat",
    }


@functools.lru_cache(maxsize=1)
def _all_entries() -> dict[int, PartitionEntry]:
    files = astroquery_data_files()
    entries = read_jpl_catdir(files["jpl_catdir"])
    directory = read_cdms_catdir(files["cdms_catdir"])
    for tag, e in read_cdms_partfunc(files["cdms_partfunc"]).items():
        d = directory.get(tag, {})
        entries[tag] = PartitionEntry(
            e.tag,
            e.name,
            e.catalog,
            e.partition,
            e.n_lines,
            d.get("version", ""),
            d.get("date", ""),
        )
    return entries


def partition_for_tag(tag: int) -> PartitionEntry:
    """The CDMS or JPL directory entry (with Q(T)) of a catalog tag (sign ignored).

    Raises :class:`SpeciesNotFoundError` if astroquery's tables do not list the
    tag or give fewer than two usable Q values for it.
    """
    entry = _all_entries().get(abs(int(tag)))
    if entry is None or entry.partition is None:
        raise SpeciesNotFoundError(
            f"tag {tag}: no partition function in astroquery's CDMS/JPL tables "
            f"({astroquery_data_files()['cdms_partfunc'].parent})"
        )
    return entry


def entries_for(species: str) -> list[PartitionEntry]:
    """CDMS and JPL directory entries whose name resolves to ``species`` (CDMS first).

    A ground-state name (``"CH3OH"``) also matches entries whose state covers
    the ground state (``"CH3OH, vt=0-2"``).
    """
    from .names import SpeciesName, parse

    want = parse(species)
    out = []
    for e in _all_entries().values():
        try:
            got = parse(e.name)
        except SpeciesNotFoundError:
            continue
        if e.partition is None or got.formula != want.formula:
            continue
        exact = got.state == want.state
        if exact or (want.is_ground and SpeciesName(got.formula, got.state).includes_ground):
            out.append((e.catalog != "CDMS", not exact, e.tag, e))
    return [item[-1] for item in sorted(out, key=lambda x: x[:3])]
