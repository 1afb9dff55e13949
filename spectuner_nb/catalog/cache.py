"""TransitionCache: the SQLite store of species, partition functions and transitions.

One database file (WAL journal, every import one ``BEGIN IMMEDIATE``
transaction, so two processes importing at once leave it consistent) holds

``species``
    one row per (canonical name, catalog): tag, version, date, source,
    provenance (JSON), origin (``starter``/``import``/``fetch``);
``partition``
    Q(T) nodes per species (K, dimensionless);
``lines``
    transitions per species: frequency (MHz), A_ul (s⁻¹), E_low and E_up (K),
    g_u, quantum-number label;
``meta``
    schema version, a generation counter bumped by every write, and the
    version of the imported starter catalog.

When the same species exists in several catalogs, lookups take the first
catalog of ``precedence`` (default :data:`DEFAULT_PRECEDENCE`), overridable
per cache or per call. A ground-state query (``"CH3OH"`` = ``"CH3OH;v=0;"``)
also matches entries whose state covers the ground state (``vt=0-2``).
Full line lists are kept in memory per process once read, so repeated
window queries cost only a binary search.
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import (
    CacheAccessError,
    CacheBusyError,
    CacheCorruptError,
    CacheReadOnlyError,
    CatalogError,
    SpeciesNotFoundError,
)
from .linelist import LineList
from .names import Family, SpeciesName, family, parse, resolve
from .partition import PartitionFunction

__all__ = [
    "SCHEMA_VERSION",
    "DEFAULT_PRECEDENCE",
    "CACHE_FILENAME",
    "SpeciesEntry",
    "ImportItem",
    "TransitionCache",
]

SCHEMA_VERSION = "1"
DEFAULT_PRECEDENCE: tuple[str, ...] = ("CDMS", "JPL", "LAMDA", "SLAIM")
"""Catalog order used when one species exists in several catalogs (others follow, A→Z)."""

CACHE_FILENAME = "transitions.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS species (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL, formula TEXT NOT NULL, state TEXT NOT NULL,
    catalog TEXT NOT NULL, tag INTEGER, version TEXT, date TEXT,
    source TEXT, original_name TEXT, provenance TEXT, origin TEXT NOT NULL,
    n_lines INTEGER NOT NULL, fmin REAL, fmax REAL, imported_at TEXT,
    UNIQUE (name, catalog)
);
CREATE TABLE IF NOT EXISTS partition (species_id INTEGER NOT NULL, temperature REAL, q REAL);
CREATE TABLE IF NOT EXISTS lines (
    species_id INTEGER NOT NULL, freq REAL NOT NULL, a_ul REAL NOT NULL,
    e_low REAL NOT NULL, e_up REAL NOT NULL, g_u REAL NOT NULL, qn TEXT
);
CREATE INDEX IF NOT EXISTS lines_by_species_freq ON lines (species_id, freq);
CREATE INDEX IF NOT EXISTS partition_by_species ON partition (species_id);
"""


@dataclass(frozen=True)
class SpeciesEntry:
    """Directory data of one species in the cache."""

    id: int
    name: str
    catalog: str
    tag: int | None
    version: str
    date: str
    source: str
    original_name: str
    provenance: dict
    origin: str
    n_lines: int
    fmin: float
    fmax: float

    @property
    def flags(self) -> tuple[str, ...]:
        """Quality flags of the entry (see :data:`spectuner_nb.catalog.build.FLAGS`)."""
        return tuple(self.provenance.get("flags", ()))

    @property
    def family(self) -> Family:
        """Parent species (main isotopologue, ground state), isotopologue and state data,
        for grouping the lines of one molecule."""
        return family(self.name)

    @property
    def ism(self) -> dict[str, int]:
        """Splatalogue's detected-in-space marks (``known_ast_molecules``, ``ism_hotcore`` …)
        of the species, when the snapshot gives them."""
        return dict(self.provenance.get("ism", {}))


@dataclass(frozen=True)
class ImportItem:
    """A line list to store, with its directory data (see :meth:`TransitionCache.import_items`)."""

    linelist: LineList
    original_name: str = ""
    version: str = ""
    date: str = ""
    provenance: dict | None = None


def _rebuild_hint(path: Path) -> str:
    return (
        f"delete {path} (and its -wal/-shm files) and run `spectuner-nb catalog list` to "
        "rebuild it from the shipped starter catalog, then re-import your own files"
    )


_BUSY_TIMEOUT_S = 60.0


def _cache_error(path: Path, exc: sqlite3.Error, doing: str) -> CatalogError:
    """The typed error for an SQLite failure: busy, read-only, unopenable or corrupt."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return CacheBusyError(
            f"transition cache {path} is busy: another process held its write lock for over "
            f"{_BUSY_TIMEOUT_S:.0f} s while {doing} ({exc}); try again when it has finished"
        )
    if "readonly" in text or "read-only" in text:
        return CacheReadOnlyError(
            f"transition cache {path} is read-only (write-protected file or read-only file "
            f"system) while {doing}: it can be read but not written; import into a cache of "
            "your own (--cache, or SPECTUNER_NB_CACHE_DIR)"
        )
    if "unable to open" in text:
        return CacheAccessError(
            f"cannot open transition cache {path} ({exc}): check that it "
            "and its folder exist and are readable"
        )
    return CacheCorruptError(
        f"transition cache {path} is unreadable while {doing} ({exc}): {_rebuild_hint(path)}"
    )


class TransitionCache:
    """SQLite transition cache at ``path`` (default: ``settings.cache_dir()/transitions.sqlite``).

    Parameters
    ----------
    path
        Database file; created with its parent folder if missing (unless ``create`` is
        False: then a missing file is a :class:`CacheAccessError`, not a new empty cache).
    precedence
        Catalog names in order of preference for species found in several
        catalogs (default :data:`DEFAULT_PRECEDENCE`).
    readonly
        Open for reading only (a shared cache). A cache that cannot be written
        (write-protected file, read-only file system) is opened so automatically;
        writing to it raises :class:`CacheReadOnlyError`.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        precedence: Sequence[str] = DEFAULT_PRECEDENCE,
        readonly: bool = False,
        create: bool = True,
    ) -> None:
        if path is None:
            from ..settings import cache_dir

            path = cache_dir() / CACHE_FILENAME
        self.path = Path(path)
        self.precedence = tuple(precedence)
        self._lock = threading.RLock()
        self._memo: dict[int, LineList] = {}
        self._lookup: dict[tuple, int] = {}
        self._generation: str | None = None
        self.on_miss: Callable[[TransitionCache], object] | None = None
        """Called once (then cleared) when a species is not found, before giving up;
        :func:`~spectuner_nb.catalog.starter.default_cache` sets it to build the full
        offline catalog (:func:`~spectuner_nb.catalog.build.ensure_full_catalog`)."""
        if not self.path.exists() and (readonly or not create):
            raise CacheAccessError(
                f"no transition cache at {self.path} (check the path; a new "
                "cache is created only where one is written)"
            )
        self.readonly = readonly or (self.path.exists() and not _writable(self.path))
        if not self.readonly:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CacheAccessError(f"cannot create the folder of {self.path}: {exc}") from exc
        try:
            self._con = self._connect()
            self._init_schema()
        except sqlite3.Error as exc:
            raise _cache_error(self.path, exc, "opening it") from exc

    # -- housekeeping -------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            con = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro",
                uri=True,
                timeout=_BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
        else:
            con = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
        return con

    def _schema_version(self) -> str | None:
        """The stored schema version; None for a new (empty) database."""
        try:
            row = self._con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise
        return None if row is None else row[0]

    def _init_schema(self) -> None:
        version = self._schema_version()
        if version is not None and version != SCHEMA_VERSION:
            raise CacheCorruptError(
                f"transition cache {self.path} has schema {version}, expected "
                f"{SCHEMA_VERSION}: {_rebuild_hint(self.path)}"
            )
        if version is not None:  # nothing to create: no write lock taken
            return
        if self.readonly:
            raise CacheCorruptError(
                f"transition cache {self.path} holds no cache tables: {_rebuild_hint(self.path)}"
            )
        cur = self._con.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    cur.execute(statement)
            row = cur.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                cur.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
                cur.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '0')")
            elif row[0] != SCHEMA_VERSION:
                raise CacheCorruptError(
                    f"transition cache {self.path} has schema {row[0]}, expected "
                    f"{SCHEMA_VERSION}: {_rebuild_hint(self.path)}"
                )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def _query(self, sql: str, args: Iterable = ()) -> list[tuple]:
        try:
            return self._con.execute(sql, tuple(args)).fetchall()
        except sqlite3.Error as exc:
            raise _cache_error(self.path, exc, "reading it") from exc

    def _refresh(self) -> None:
        """Drop in-memory copies if another writer changed the database."""
        rows = self._query("SELECT value FROM meta WHERE key='generation'")
        gen = rows[0][0] if rows else "0"
        if gen != self._generation:
            self._memo.clear()
            self._lookup.clear()
            self._generation = gen

    def meta(self, key: str) -> str | None:
        """A value of the ``meta`` table (``None`` if absent)."""
        rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else None

    def check(self) -> None:
        """Run SQLite's integrity check; raise :class:`CacheCorruptError` if it fails."""
        rows = self._query("PRAGMA integrity_check")
        if not rows or rows[0][0] != "ok":
            raise CacheCorruptError(
                f"transition cache {self.path} failed its integrity check "
                f"({rows[:3]}): {_rebuild_hint(self.path)}"
            )

    def _check_writable(self) -> None:
        if self.readonly:
            raise CacheReadOnlyError(
                f"transition cache {self.path} is open read-only (shared, write-protected or "
                "on a read-only file system): import into a cache of your own (--cache, or "
                "SPECTUNER_NB_CACHE_DIR)"
            )

    def close(self) -> None:
        """Close the database connection."""
        self._con.close()

    def __enter__(self) -> TransitionCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TransitionCache {self.path}>"

    # -- writing ------------------------------------------------------------
    def import_items(
        self,
        items: Sequence[ImportItem],
        *,
        origin: str = "import",
        meta: dict[str, str] | None = None,
        keep_other_origins: bool = False,
        replace_origin: bool = False,
    ) -> list[int]:
        """Store several line lists in one transaction (all or nothing).

        An existing entry with the same canonical name and catalog is replaced,
        unless ``keep_other_origins`` is set and it came from another origin
        (used by the starter catalog so it never overwrites user data).
        ``replace_origin`` first deletes every entry of ``origin`` (a new starter
        catalog replaces the old one, species it dropped included). ``meta``
        entries are written in the same transaction. Returns the new species
        ids (``-1`` for skipped items).
        """
        self._check_writable()
        with self._lock:
            cur = self._con.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                if replace_origin:
                    self._delete(cur, "SELECT id FROM species WHERE origin=?", (origin,))
                ids = [self._write(cur, it, origin, keep_other_origins) for it in items]
                for key, value in (meta or {}).items():
                    cur.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))
                cur.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'"
                )
                cur.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._con.in_transaction:
                    cur.execute("ROLLBACK")
                raise _cache_error(self.path, exc, "importing") from exc
            except BaseException:
                if self._con.in_transaction:
                    cur.execute("ROLLBACK")
                raise
        return ids

    def import_linelist(
        self,
        linelist: LineList,
        *,
        original_name: str = "",
        version: str = "",
        date: str = "",
        provenance: dict | None = None,
        origin: str = "import",
    ) -> int:
        """Store one :class:`LineList` (atomically); returns its species id."""
        item = ImportItem(linelist, original_name, version, date, provenance)
        return self.import_items([item], origin=origin)[0]

    def import_file(
        self,
        path: str | Path,
        *,
        species: str | None = None,
        fmt: str = "auto",
        intensity: str = "auto",
    ) -> SpeciesEntry:
        """Read a catalog file (see :mod:`.importers`) and store it atomically."""
        from .importers import load_file

        ll = load_file(path, species=species, fmt=fmt, intensity=intensity)
        meta = {"original_name": "", "version": "", "date": ""}
        if ll.tag is not None and ll.catalog in ("CDMS", "JPL"):
            from .partfunc import partition_for_tag

            e = partition_for_tag(ll.tag)
            meta = {"original_name": e.name, "version": e.version, "date": e.date}
        self.import_linelist(ll, provenance={"file": str(Path(path).resolve())}, **meta)
        return self.entry(ll.species, catalog=ll.catalog)

    def fetch(
        self,
        species: str | int,
        catalog: str = "CDMS",
        *,
        fmin: float | None = None,
        fmax: float | None = None,
        timeout: float = 30.0,
    ) -> SpeciesEntry:
        """Download ``species`` from CDMS or JPL (astroquery) and store it.

        Raises :class:`~spectuner_nb.errors.OfflineError`, naming the offline
        options, when the service cannot be reached.
        """
        from .fetch import parse_answer, plan, request_text, require_online

        require_online(catalog, f" for {species}")  # fail fast, before reading any table
        req = plan(species, catalog, fmin, fmax)
        ll = parse_answer(request_text(req, timeout=timeout), req)
        self.import_linelist(
            ll,
            original_name=req.entry.name,
            version=req.entry.version,
            date=req.entry.date,
            provenance={
                "service": req.catalog,
                "molecule": req.molecule,
                "fmin_MHz": req.fmin,
                "fmax_MHz": req.fmax,
            },
            origin="fetch",
        )
        return self.entry(ll.species, catalog=ll.catalog)

    def _write(self, cur: sqlite3.Cursor, item: ImportItem, origin: str, keep: bool) -> int:
        ll = item.linelist
        sn = parse(ll.species)
        name = str(sn)
        catalog = ll.catalog or "UNKNOWN"
        old = cur.execute(
            "SELECT id, origin FROM species WHERE name=? AND catalog=?", (name, catalog)
        ).fetchone()
        if old is not None:
            if keep and old[1] != origin:
                return -1
            self._delete(cur, "SELECT ?", (old[0],))
        freq = np.asarray(ll.freq, dtype=float)
        cur.execute(
            "INSERT INTO species (name, formula, state, catalog, tag, version, date, source, "
            "original_name, provenance, origin, n_lines, fmin, fmax, imported_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                sn.formula,
                sn.state,
                catalog,
                None if ll.tag is None else int(ll.tag),
                item.version,
                item.date,
                ll.source,
                item.original_name or ll.species,
                json.dumps(item.provenance or {}, sort_keys=True),
                origin,
                int(freq.size),
                float(freq[0]) if freq.size else None,
                float(freq[-1]) if freq.size else None,
                _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            ),
        )
        sid = cur.lastrowid
        if sid is None:
            raise CatalogError(f"{self.path}: the species row was not inserted")
        part = ll.partition
        cur.executemany(
            "INSERT INTO partition VALUES (?, ?, ?)",
            [(sid, float(t), float(q)) for t, q in zip(part.temperature, part.q, strict=True)],
        )
        qn = np.asarray(ll.qn)
        labels = qn.astype(str) if qn.size else np.full(freq.size, "", dtype=object)
        cur.executemany(
            "INSERT INTO lines VALUES (?, ?, ?, ?, ?, ?, ?)",
            zip(
                [sid] * freq.size,
                freq.tolist(),
                np.asarray(ll.A_ul, dtype=float).tolist(),
                np.asarray(ll.E_low, dtype=float).tolist(),
                np.asarray(ll.E_up, dtype=float).tolist(),
                np.asarray(ll.g_u, dtype=float).tolist(),
                labels.tolist(),
                strict=True,
            ),
        )
        return sid

    @staticmethod
    def _delete(cur: sqlite3.Cursor, id_query: str, args: tuple) -> None:
        """Delete the species whose ids ``id_query`` selects, with their lines and Q(T)."""
        ids = [(r[0],) for r in cur.execute(id_query, args).fetchall()]
        for table, col in (("lines", "species_id"), ("partition", "species_id"), ("species", "id")):
            cur.executemany(f"DELETE FROM {table} WHERE {col}=?", ids)

    def remove(self, species: str | int, catalog: str | None = None) -> None:
        """Delete one species entry (the one :meth:`entry` would return)."""
        e = self.entry(species, catalog=catalog)
        self._check_writable()
        with self._lock:
            cur = self._con.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                self._delete(cur, "SELECT ?", (e.id,))
                cur.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'"
                )
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    # -- reading ------------------------------------------------------------
    _ENTRY_COLS = (
        "id, name, catalog, tag, version, date, source, original_name, provenance, origin, "
        "n_lines, fmin, fmax"
    )

    def _entry_from_row(self, row: tuple) -> SpeciesEntry:
        vals = list(row)
        vals[8] = json.loads(vals[8] or "{}")
        return SpeciesEntry(*vals)

    def entries(self, catalog: str | None = None) -> list[SpeciesEntry]:
        """All species entries (optionally of one catalog), sorted by name and catalog."""
        sql = f"SELECT {self._ENTRY_COLS} FROM species"
        args: tuple = ()
        if catalog:
            sql += " WHERE catalog=?"
            args = (catalog,)
        return [self._entry_from_row(r) for r in self._query(sql + " ORDER BY name, catalog", args)]

    def species(self) -> list[str]:
        """Canonical names of all species in the cache, sorted."""
        return [r[0] for r in self._query("SELECT DISTINCT name FROM species ORDER BY name")]

    def _rank(self, catalog: str) -> tuple[int, str]:
        try:
            return (self.precedence.index(catalog), catalog)
        except ValueError:
            return (len(self.precedence), catalog)

    def candidates(self, species: str | int, catalog: str | None = None) -> list[SpeciesEntry]:
        """Every entry matching ``species`` (name in any style, or tag), best first."""
        if isinstance(species, (int, np.integer)) or str(species).lstrip("-").isdigit():
            rows = self._query(
                f"SELECT {self._ENTRY_COLS} FROM species WHERE tag=?", (abs(int(species)),)
            )
            found = [self._entry_from_row(r) for r in rows]
            exact_name = None
        else:
            sn = parse(str(species))
            exact_name = str(sn)
            rows = self._query(
                f"SELECT {self._ENTRY_COLS}, state FROM species WHERE formula=?", (sn.formula,)
            )
            found = []
            for r in rows:
                if SpeciesName(sn.formula, r[-1]).covers(sn.state):
                    found.append(self._entry_from_row(r[:-1]))
        if catalog:
            found = [e for e in found if e.catalog.upper() == catalog.upper()]
        found.sort(key=lambda e: (self._rank(e.catalog), e.name != exact_name, e.name))
        return found

    def entry(self, species: str | int, catalog: str | None = None) -> SpeciesEntry:
        """The preferred entry for ``species`` (raises :class:`SpeciesNotFoundError`)."""
        found = self.candidates(species, catalog)
        if not found and self.on_miss is not None:
            hook, self.on_miss = self.on_miss, None
            hook(self)
            found = self.candidates(species, catalog)
        if not found:
            where = f" in catalog {catalog}" if catalog else ""
            label = species if isinstance(species, int) else f"{species!r} ({resolve(species)})"
            raise SpeciesNotFoundError(
                f"species {label} is not in the transition cache {self.path}{where}; "
                "import a file (`spectuner-nb catalog import FILE`), fetch it "
                "(`spectuner-nb catalog fetch SPECIES`), or see `spectuner-nb catalog list`"
            )
        return found[0]

    def partition(self, species: str | int, catalog: str | None = None) -> PartitionFunction:
        """Q(T) of a species."""
        return self.linelist(species, catalog=catalog).partition

    def linelist(self, species: str | int, catalog: str | None = None) -> LineList:
        """All stored transitions of a species, as a :class:`LineList` (memoised)."""
        with self._lock:
            self._refresh()
            key = (species, catalog)
            sid = self._lookup.get(key)
            if sid is None:
                sid = self.entry(species, catalog).id
                self._lookup[key] = sid
            ll = self._memo.get(sid)
            if ll is None:
                ll = self._read_linelist(sid)
                self._memo[sid] = ll
            return ll

    def _read_linelist(self, sid: int) -> LineList:
        head = self._query("SELECT name, catalog, tag, source FROM species WHERE id=?", (sid,))
        if not head:
            raise CatalogError(f"transition cache {self.path}: species id {sid} vanished")
        name, catalog, tag, source = head[0]
        rows = self._query(
            "SELECT freq, a_ul, e_low, e_up, g_u, qn FROM lines WHERE species_id=? ORDER BY freq",
            (sid,),
        )
        pf = self._query("SELECT temperature, q FROM partition WHERE species_id=?", (sid,))
        cols = list(zip(*rows, strict=True)) if rows else [()] * 6
        arrays = [np.array(c, dtype=float) for c in cols[:5]] + [np.array(cols[5], dtype=object)]
        for a in arrays:  # shared by every caller through the memo: keep them read-only
            a.setflags(write=False)
        t, q = zip(*pf, strict=True) if pf else ((), ())
        return LineList(
            species=name,
            freq=arrays[0],
            A_ul=arrays[1],
            E_low=arrays[2],
            E_up=arrays[3],
            g_u=arrays[4],
            partition=PartitionFunction.from_table(t, q, name=name),
            qn=arrays[5],
            tag=tag,
            catalog=catalog,
            source=source or "",
        )

    def lines(
        self,
        species: str | int,
        windows: Sequence[tuple[float, float]] | None = None,
        pad_kms: float | None = None,
        *,
        catalog: str | None = None,
    ) -> LineList:
        """Transitions of ``species`` inside ``windows`` [(fmin, fmax) in MHz, …].

        Each window is widened by ``pad_kms`` (default: the v_off bound plus
        five maximal line widths, docs/method.md §1) via :meth:`LineList.in_windows`.
        Frequencies may be astropy Quantities. ``windows=None`` returns every line.
        """
        ll = self.linelist(species, catalog=catalog)
        if windows is None:
            return ll
        return ll.in_windows([_window_mhz(w) for w in windows], pad_kms=pad_kms)


def _writable(path: Path) -> bool:
    """True when ``path`` and its folder (for the WAL files) can be written."""
    import os

    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _window_mhz(window) -> tuple[float, float]:
    """(fmin, fmax) in MHz from floats (MHz) or astropy Quantities."""
    try:
        pair = tuple(window)
    except TypeError:
        pair = ()
    if len(pair) != 2:
        raise CatalogError(f"a window must be (fmin, fmax) in MHz, got {window!r}")
    out = []
    for v in pair:
        if hasattr(v, "unit"):
            import astropy.units as u

            v = v.to_value(u.MHz, equivalencies=u.spectral())
        out.append(float(v))
    return out[0], out[1]
