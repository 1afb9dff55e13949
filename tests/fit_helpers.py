"""Shared set-up for the fitting-engine tests: a small catalog and the W3(H2O) cube path.

The catalog is built from the real CDMS files in the shared data folder
(HC3N 051501, OCS 060503, H2(13)CO 031503) with their CDMS partition
functions, so the tests do not depend on the shipped starter catalog. Without the shared
data it is generated instead: rigid-rotor line lists of HC3N and OCS from their rotational
constants and dipole moments (:func:`rigid_rotor`), so the core fit tests still run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spectuner_nb.settings import shared_data_dir

CDMS_FILES = {
    "HC3N": ("c051501.cat", 51501),
    "OCS": ("c060503.cat", 60503),
    "H2C-13-O": ("c031503.cat", 31503),
}
ROTORS = {"HC3N": (4549.0586, 3.724), "OCS": (6081.4921, 0.7152)}
"""Linear molecules of the generated catalog: rotational constant B (MHz), dipole (D)."""
CDMS_TEMPERATURES_K = (2.725, 5.0, 9.375, 18.75, 37.5, 75.0, 150.0, 225.0, 300.0, 500.0, 1000.0)


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
    cache = TransitionCache(path)
    if root is None:
        for name, (b_mhz, dipole) in ROTORS.items():
            cache.import_linelist(rigid_rotor(resolve(name), b_mhz, dipole))
        return cache
    for name, (fname, tag) in CDMS_FILES.items():
        table = read_spcat(root / "catalogs/cdms_jpl" / fname)
        linelist = to_linelist(
            table, partition_for_tag(tag).partition, species=resolve(name), tag=tag
        )
        cache.import_linelist(linelist)
    return cache


def rigid_rotor(species: str, b_mhz: float, dipole_debye: float, f_max_mhz: float = 1e6):
    """Line list of a rigid linear rotor: J → J−1 at ν = 2BJ (MHz) up to ``f_max_mhz``,
    E_J = hBJ(J+1)/k (K), g_u = 2J+1, A_ul = 64π⁴ν³μ²J / (3hc³(2J+1)) (cgs, s⁻¹), and
    Q(T) summed over the levels at the CDMS table temperatures."""
    from spectuner_nb.catalog.linelist import LineList
    from spectuner_nb.catalog.partition import PartitionFunction
    from spectuner_nb.constants import C_M_S, H_J_S, H_OVER_K_K_PER_MHZ

    j = np.arange(1, int(f_max_mhz / (2 * b_mhz)) + 1)
    freq = 2 * b_mhz * j
    energy = H_OVER_K_K_PER_MHZ * b_mhz * j * (j + 1)
    nu_hz, h_erg, c_cm = freq * 1e6, H_J_S * 1e7, C_M_S * 1e2
    a_ul = (
        64
        * np.pi**4
        * nu_hz**3
        * (dipole_debye * 1e-18) ** 2
        * j
        / (3 * h_erg * c_cm**3 * (2 * j + 1))
    )
    levels = np.arange(0, 2000)
    e_levels = H_OVER_K_K_PER_MHZ * b_mhz * levels * (levels + 1)
    temps = np.asarray(CDMS_TEMPERATURES_K)
    q = np.array([np.sum((2 * levels + 1) * np.exp(-e_levels / t)) for t in temps])
    e_low = np.concatenate([[0.0], energy[:-1]])
    return LineList(
        species,
        freq,
        a_ul,
        e_low,
        energy,
        (2 * j + 1).astype(float),
        PartitionFunction.from_table(temps, q, name=species),
        qn=np.array([f"J={k}-{k - 1}" for k in j], dtype=object),
        catalog="synthetic",
        source="rigid rotor (tests/fit_helpers.py)",
    )
