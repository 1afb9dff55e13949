"""The offline starter catalog shipped in ``spectuner_nb/data/catalog`` and the default cache.

The folder holds one compressed ``.npz`` file per species (``freq`` MHz,
``A_ul`` s⁻¹, ``E_low``/``E_up`` K, ``g_u``, ``qn``, and the partition
function nodes ``pf_T`` K / ``pf_Q``) and ``manifest.json`` (provenance,
versions and sha256 of every file), written by
``scripts/build_starter_catalog.py``. :func:`default_cache` imports it into
the user cache on first use, and again whenever the shipped manifest changes;
a new version replaces the old starter entries (species it dropped included)
but never overwrites entries the user imported or fetched.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CatalogError
from ..settings import package_data_dir
from .cache import ImportItem, TransitionCache
from .linelist import LineList
from .partition import PartitionFunction

__all__ = [
    "MANIFEST",
    "META_KEY",
    "starter_dir",
    "sha256_file",
    "read_manifest",
    "species_arrays",
    "save_species",
    "load_species",
    "import_starter",
    "default_cache",
]

MANIFEST = "manifest.json"
META_KEY = "starter_catalog_sha256"


def starter_dir() -> Path:
    """Folder of the shipped starter catalog."""
    return package_data_dir() / "catalog"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(folder: Path | None = None) -> dict:
    """The starter-catalog manifest (raises :class:`CatalogError` if missing)."""
    path = (folder or starter_dir()) / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CatalogError(
            f"starter catalog manifest {path} is missing or unreadable ({exc}); "
            "reinstall spectuner_nb or run scripts/build_starter_catalog.py"
        ) from exc


def species_arrays(linelist: LineList) -> dict[str, Any]:
    """The arrays a starter ``.npz`` file holds for ``linelist`` (MHz, s⁻¹, K, K, -, QNs,
    partition table T in K and Q)."""
    return {
        "freq": np.asarray(linelist.freq, dtype=float),
        "A_ul": np.asarray(linelist.A_ul, dtype=float),
        "E_low": np.asarray(linelist.E_low, dtype=float),
        "E_up": np.asarray(linelist.E_up, dtype=float),
        "g_u": np.asarray(linelist.g_u, dtype=float),
        "qn": np.asarray(linelist.qn, dtype=str),
        "pf_T": linelist.partition.temperature,
        "pf_Q": linelist.partition.q,
    }


def save_species(path: Path, linelist: LineList) -> None:
    """Write one line list as a compressed ``.npz`` starter file."""
    np.savez_compressed(path, **species_arrays(linelist))


def load_species(path: Path, record: dict) -> LineList:
    """Read one starter ``.npz`` file described by its manifest ``record``."""
    with np.load(path, allow_pickle=False) as z:
        return LineList(
            species=record["name"],
            freq=z["freq"],
            A_ul=z["A_ul"],
            E_low=z["E_low"],
            E_up=z["E_up"],
            g_u=z["g_u"],
            partition=PartitionFunction.from_table(z["pf_T"], z["pf_Q"], name=record["name"]),
            qn=z["qn"].astype(object),
            tag=record.get("tag"),
            catalog=record["catalog"],
            source=record.get("source", ""),
        )


def import_starter(cache: TransitionCache, *, force: bool = False, verify: bool = True) -> int:
    """Import the shipped starter catalog into ``cache`` if it changed (or ``force``).

    Entries that the user imported or fetched are kept. Returns the number of
    species written (0 if the cache already holds this starter version).
    """
    folder = starter_dir()
    digest = sha256_file(folder / MANIFEST)
    if not force and cache.meta(META_KEY) == digest:
        return 0
    manifest = read_manifest(folder)
    items = []
    for rec in manifest["species"]:
        path = folder / rec["file"]
        if verify and sha256_file(path) != rec["sha256"]:
            raise CatalogError(
                f"starter catalog file {path} does not match the sha256 in {MANIFEST}; "
                "reinstall spectuner_nb or rebuild with scripts/build_starter_catalog.py"
            )
        items.append(
            ImportItem(
                load_species(path, rec),
                original_name=rec.get("original_name", ""),
                version=str(rec.get("version", "")),
                date=str(rec.get("date", "")),
                provenance=rec.get("provenance", {}),
            )
        )
    if not force and cache.meta(META_KEY) == digest:  # another process just did it
        return 0
    cache.import_items(
        items,
        origin="starter",
        meta={META_KEY: digest},
        keep_other_origins=True,
        replace_origin=True,
    )
    return len(items)


@functools.lru_cache(maxsize=4)
def _default_cache(path: str) -> TransitionCache:
    from .build import ensure_full_catalog

    cache = TransitionCache(path)
    import_starter(cache)
    cache.on_miss = ensure_full_catalog
    return cache


def default_cache(*, full: bool = False) -> TransitionCache:
    """The user transition cache with the starter catalog imported (offline).

    Located at ``settings.cache_dir()/transitions.sqlite`` (environment
    variable ``SPECTUNER_NB_CACHE_DIR``); one shared instance per path. The
    full offline catalog (every species of casadata's Splatalogue snapshot,
    :mod:`.build`) is built into it, with a progress bar, the first time a
    species outside the starter catalog is asked for, or now with ``full=True``
    (about half a minute, once per machine).
    """
    from ..settings import cache_dir
    from .build import ensure_full_catalog
    from .cache import CACHE_FILENAME

    cache = _default_cache(str(cache_dir() / CACHE_FILENAME))
    if full:
        ensure_full_catalog(cache)
    return cache
