"""Turn a catalog file of any supported format into a LineList ready for the cache.

Formats (``fmt="auto"`` guesses from the name and content):

``spcat``
    CDMS/JPL ``.cat`` files, JPL query answers, saved CDMS search-form HTML;
    the partition function comes from astroquery's table for the file's tag.
``lamda``
    LAMDA ``.dat`` (partition function summed over the file's levels).
``splatalogue_csv``
    Splatalogue CSV export; the partition function is the CDMS/JPL table of the
    same species (same catalog preferred).
``splatalogue_db``
    A Splatalogue SQLite database such as casadata's; needs ``species``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CatalogError, CatalogFormatError
from .linelist import LineList
from .names import resolve

__all__ = ["FORMATS", "guess_format", "load_file"]

FORMATS = ("spcat", "lamda", "splatalogue_csv", "splatalogue_db")


def guess_format(path: Path) -> str:
    """The format of ``path`` from its suffix (and first bytes for SQLite)."""
    suffix = path.suffix.lower()
    if suffix in (".db", ".sqlite", ".sqlite3"):
        return "splatalogue_db"
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise CatalogFormatError(f"cannot read {path}: {exc}") from exc
    if head.startswith(b"SQLite format 3"):
        return "splatalogue_db"
    if suffix == ".dat" and head.lstrip().startswith(b"!"):
        return "lamda"
    if suffix == ".csv":
        return "splatalogue_csv"
    return "spcat"


def _table_partition(species: str, catalog: str):
    from .partfunc import entries_for

    tables = entries_for(species)
    if not tables:
        raise CatalogError(
            f"no CDMS/JPL partition function found for {species!r}; import a SPCAT/LAMDA file "
            "instead, or build the LineList yourself and use TransitionCache.import_linelist"
        )
    same = [t for t in tables if t.catalog == catalog]
    return (same or tables)[0]


def load_file(
    path: str | Path,
    *,
    species: str | None = None,
    fmt: str = "auto",
    intensity: str = "auto",
) -> LineList:
    """Read a catalog file into a :class:`LineList` (A_ul s⁻¹, energies K, with Q(T)).

    ``species`` overrides the name found in the file (and selects the species
    of a Splatalogue database). ``intensity`` is passed to the SPCAT reader.
    """
    path = Path(path)
    fmt = guess_format(path) if fmt == "auto" else fmt
    if fmt == "spcat":
        from .partfunc import partition_for_tag
        from .spcat import read_spcat, to_linelist

        table = read_spcat(path, intensity=intensity)
        entry = partition_for_tag(table.main_tag)
        return to_linelist(
            table,
            entry.table,
            species=resolve(species or entry.name),
            catalog=entry.catalog,
            tag=entry.tag,
        )
    if fmt == "lamda":
        from .lamda import read_lamda
        from .lamda import to_linelist as lamda_linelist

        data = read_lamda(path)
        return lamda_linelist(data, species=resolve(species or data.name))
    if fmt in ("splatalogue_csv", "splatalogue_db"):
        from .splatalogue import (
            drop_redundant_hfs,
            read_splatalogue_csv,
            read_splatalogue_db,
        )
        from .splatalogue import to_linelist as splat_linelist

        if fmt == "splatalogue_db":
            if not species:
                raise CatalogError(f"{path}: a Splatalogue database needs species=NAME")
            rows = read_splatalogue_db(species, path)
        else:
            rows = read_splatalogue_csv(path, name=species)
        rows = drop_redundant_hfs(rows)
        cats = sorted(set(rows.catalog.tolist()))
        name = resolve(species or rows.name)
        entry = _table_partition(name, cats[0] if len(cats) == 1 else "CDMS")
        return splat_linelist(rows, entry.table, species=name, tag=entry.tag)
    raise CatalogError(f"unknown catalog format {fmt!r}; use one of {FORMATS}")
