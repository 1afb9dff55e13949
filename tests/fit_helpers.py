"""Shared set-up for the fitting-engine tests: a small real catalog and the W3(H2O) cube path.

The catalog is built from the real CDMS files in the shared data folder
(HC3N 051501, OCS 060503, H2(13)CO 031503) with their CDMS partition
functions, so the tests do not depend on the shipped starter catalog.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spectuner_nb.settings import shared_data_dir

CDMS_FILES = {"HC3N": ("c051501.cat", 51501), "OCS": ("c060503.cat", 60503),
              "H2C-13-O": ("c031503.cat", 31503)}


def w3h2o_cube() -> Path:
    """Path of the real W3(H2O) NOEMA cube (skips the test when the shared data are absent)."""
    root = shared_data_dir(required=False)
    path = None if root is None else root / "spectra/noema_core_wideX/W3H2O_WideX_ABD_center.fits"
    if path is None or not path.exists():
        pytest.skip("shared W3(H2O) cube not available")
    return path


def real_catalog(path: Path):
    """A TransitionCache at ``path`` holding HC3N, OCS and H2(13)CO from the real CDMS files."""
    from spectuner_nb.catalog.cache import TransitionCache
    from spectuner_nb.catalog.names import resolve
    from spectuner_nb.catalog.partfunc import partition_for_tag
    from spectuner_nb.catalog.spcat import read_spcat, to_linelist

    root = shared_data_dir(required=False)
    if root is None:
        pytest.skip("shared catalogs not available")
    cache = TransitionCache(path)
    for name, (fname, tag) in CDMS_FILES.items():
        table = read_spcat(root / "catalogs/cdms_jpl" / fname)
        linelist = to_linelist(table, partition_for_tag(tag).partition, species=resolve(name),
                               tag=tag)
        cache.import_linelist(linelist)
    return cache
