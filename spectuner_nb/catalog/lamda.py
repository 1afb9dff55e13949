"""Reader for LAMDA molecular data files (Schöier et al. 2005), radiative part only.

Layout: ``!``-headed blocks — molecule name, weight, number of levels, then
one row per level (index, energy in cm⁻¹, statistical weight, quantum
numbers), number of radiative transitions, then one row per transition
(index, upper level, lower level, A_ul in s⁻¹, frequency in GHz, E_u in K).
Collision data that follow are ignored.

LAMDA lists no partition function; :func:`to_linelist` sums the file's own
levels, Q(T) = Σ g_i exp(−E_i/T), on the CDMS temperature grid, which is
consistent with the file's degeneracies by construction (but too low at
temperatures where levels above the file's last one are populated).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..constants import C2_CM_K
from ..errors import CatalogFormatError
from .linelist import LineList
from .partition import PartitionFunction

__all__ = ["Q_GRID_K", "LamdaData", "read_lamda", "to_linelist"]

Q_GRID_K = (2.725, 5.0, 9.375, 18.75, 37.5, 75.0, 150.0, 225.0, 300.0, 500.0, 1000.0)
"""Temperatures (K) at which Q is tabulated from the LAMDA levels (CDMS grid)."""


@dataclass(frozen=True)
class LamdaData:
    """Levels and radiative transitions of a LAMDA file."""

    name: str
    level_energy_cm: np.ndarray
    level_g: np.ndarray
    level_qn: np.ndarray
    up: np.ndarray
    low: np.ndarray
    A_ul: np.ndarray
    freq_ghz: np.ndarray
    source: str

    def level_partition(self, temperatures=Q_GRID_K) -> PartitionFunction:
        """Q(T) summed over the file's levels at ``temperatures`` (K)."""
        t = np.asarray(temperatures, dtype=float)
        e_k = self.level_energy_cm * C2_CM_K
        q = (self.level_g[None, :] * np.exp(-e_k[None, :] / t[:, None])).sum(axis=1)
        return PartitionFunction.from_table(t, q, name=self.name)


def read_lamda(path: str | Path) -> LamdaData:
    """Read the levels and radiative transitions of a LAMDA ``.dat`` file."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="latin-1").splitlines()
    except OSError as exc:
        raise CatalogFormatError(f"cannot read LAMDA file {path}: {exc}") from exc
    lines = [ln for ln in raw if ln.strip() and not ln.lstrip().startswith("!")]
    try:
        name = lines[0].split()[0]  # the rest of the line is a comment in some files
        n_lev = int(lines[2].split()[0])
        lev = [ln.split() for ln in lines[3 : 3 + n_lev]]
        n_rad = int(lines[3 + n_lev].split()[0])
        rad = [ln.split() for ln in lines[4 + n_lev : 4 + n_lev + n_rad]]
        energy = np.array([float(r[1]) for r in lev])
        g = np.array([float(r[2]) for r in lev])
        qn = np.array([" ".join(r[3:]) for r in lev], dtype=object)
        index = {int(r[0]): i for i, r in enumerate(lev)}
        up = np.array([index[int(r[1])] for r in rad])
        low = np.array([index[int(r[2])] for r in rad])
        a_ul = np.array([float(r[3]) for r in rad])
        freq = np.array([float(r[4]) for r in rad])
    except (IndexError, ValueError, KeyError) as exc:
        raise CatalogFormatError(f"{path}: not a LAMDA file ({exc!r})") from exc
    if len(lev) != n_lev or len(rad) != n_rad:
        raise CatalogFormatError(f"{path}: truncated level or transition block")
    return LamdaData(name, energy, g, qn, up, low, a_ul, freq, str(path))


def to_linelist(data: LamdaData, *, species: str | None = None) -> LineList:
    """LineList of the radiative transitions (MHz, s⁻¹, K) with the level-sum Q(T)."""
    order = np.argsort(data.freq_ghz, kind="stable")
    up, low = data.up[order], data.low[order]
    e = data.level_energy_cm * C2_CM_K
    return LineList(
        species=species or data.name,
        freq=data.freq_ghz[order] * 1e3,
        A_ul=data.A_ul[order],
        E_low=e[low],
        E_up=e[up],
        g_u=data.level_g[up],
        partition=data.level_partition(),
        qn=np.array(
            [f"{a} - {b}" for a, b in zip(data.level_qn[up], data.level_qn[low], strict=True)],
            dtype=object,
        ),
        catalog="LAMDA",
        source=data.source,
    )
