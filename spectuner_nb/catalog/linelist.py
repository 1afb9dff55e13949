"""LineList: the transitions of one species, as every other module consumes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..doppler import frequency_width
from ..errors import CatalogError
from ..parameters import DELTA_V_MAX_KMS, V_OFF_MAX_KMS
from .partition import PartitionFunction

__all__ = ["WING_WIDTHS", "default_pad_kms", "LineList"]

WING_WIDTHS: float = 5.0
"""Line wings kept beyond a window edge, in units of the largest Δv (docs/method.md §1)."""


def default_pad_kms() -> float:
    """Window widening in km/s: the v_off bound plus ``WING_WIDTHS`` line widths (Table 1)."""
    return V_OFF_MAX_KMS + WING_WIDTHS * DELTA_V_MAX_KMS


@dataclass(frozen=True)
class LineList:
    """Transitions of one species (one molecule or isotopologue in one state).

    Attributes
    ----------
    species
        Canonical species name (see :mod:`spectuner_nb.catalog.names`).
    freq
        Rest frequencies, MHz, ascending.
    A_ul
        Einstein A coefficients, s⁻¹.
    E_low, E_up
        Lower and upper level energies, K.
    g_u
        Upper-level degeneracies.
    partition
        Partition function Q(T) consistent with ``g_u``.
    qn
        Quantum-number labels, one string per line (may be empty strings).
    tag, catalog, source
        Catalog tag (e.g. 32504), catalog name ("CDMS", "JPL", "SLAIM", …) and
        where the data came from (file or service), for provenance.
    """

    species: str
    freq: np.ndarray
    A_ul: np.ndarray
    E_low: np.ndarray
    E_up: np.ndarray
    g_u: np.ndarray
    partition: PartitionFunction
    qn: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    tag: int | None = None
    catalog: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        n = np.asarray(self.freq).size
        for name in ("A_ul", "E_low", "E_up", "g_u"):
            if np.asarray(getattr(self, name)).size != n:
                raise CatalogError(f"LineList {self.species}: {name} has wrong length")
        if np.asarray(self.qn).size not in (0, n):
            raise CatalogError(f"LineList {self.species}: qn has wrong length")
        if n > 1 and np.any(np.diff(np.asarray(self.freq)) < 0):
            raise CatalogError(f"LineList {self.species}: frequencies must be ascending")

    def __len__(self) -> int:
        return int(np.asarray(self.freq).size)

    def __repr__(self) -> str:
        f = np.asarray(self.freq)
        rng = f"{f[0]:.3f}–{f[-1]:.3f} MHz" if f.size else "empty"
        return f"<LineList {self.species} ({self.catalog} {self.tag}): {len(self)} lines, {rng}>"

    def subset(self, mask: np.ndarray) -> LineList:
        """A LineList of the lines where boolean ``mask`` is True (or at integer indices)."""
        qn = np.asarray(self.qn)
        return LineList(
            species=self.species,
            freq=np.asarray(self.freq)[mask],
            A_ul=np.asarray(self.A_ul)[mask],
            E_low=np.asarray(self.E_low)[mask],
            E_up=np.asarray(self.E_up)[mask],
            g_u=np.asarray(self.g_u)[mask],
            partition=self.partition,
            qn=qn[mask] if qn.size else qn,
            tag=self.tag,
            catalog=self.catalog,
            source=self.source,
        )

    def in_windows(
        self, windows: Sequence[tuple[float, float]], pad_kms: float | None = None
    ) -> LineList:
        """Lines inside any window (fmin, fmax) in MHz, widened by ``pad_kms`` on each side.

        The default padding is the v_off bound plus five maximal line widths
        (docs/method.md §1), so lines just outside a window still add their wings.
        """
        pad = default_pad_kms() if pad_kms is None else float(pad_kms)
        f = np.asarray(self.freq)
        mask = np.zeros(f.size, dtype=bool)
        for fmin, fmax in windows:
            lo, hi = float(min(fmin, fmax)), float(max(fmin, fmax))
            lo -= float(frequency_width(pad, lo))
            hi += float(frequency_width(pad, hi))
            mask[np.searchsorted(f, lo, "left") : np.searchsorted(f, hi, "right")] = True
        return self.subset(mask)

    def as_mapping(self) -> dict:
        """The mapping form accepted by :func:`spectuner_nb.model.lte_spectra`."""
        return {
            "freq": np.asarray(self.freq, dtype=float),
            "A_ul": np.asarray(self.A_ul, dtype=float),
            "E_low": np.asarray(self.E_low, dtype=float),
            "g_u": np.asarray(self.g_u, dtype=float),
            "Q_T": (self.partition.temperature, self.partition.q),
        }

    @classmethod
    def from_mapping(cls, species: str, data: Mapping) -> LineList:
        """Build from a mapping with ``freq`` (MHz), ``A_ul``, ``E_low`` (K), ``g_u``, ``Q_T``."""
        from ..constants import H_OVER_K_K_PER_MHZ

        freq = np.asarray(data["freq"], dtype=float)
        order = np.argsort(freq, kind="stable")
        e_low = np.asarray(data["E_low"], dtype=float)[order]
        e_up = data.get("E_up")
        e_up = (
            e_low + H_OVER_K_K_PER_MHZ * freq[order]
            if e_up is None
            else np.asarray(e_up, dtype=float)[order]
        )
        t, q = data["Q_T"]
        return cls(
            species=species,
            freq=freq[order],
            A_ul=np.asarray(data["A_ul"], dtype=float)[order],
            E_low=e_low,
            E_up=e_up,
            g_u=np.asarray(data["g_u"], dtype=float)[order],
            partition=PartitionFunction.from_table(t, q, name=species),
        )

    def to_table(self):
        """The lines as an astropy Table with units."""
        import astropy.units as u
        from astropy.table import Table

        qn = np.asarray(self.qn)
        cols = {
            "freq": np.asarray(self.freq) * u.MHz,
            "A_ul": np.asarray(self.A_ul) / u.s,
            "E_low": np.asarray(self.E_low) * u.K,
            "E_up": np.asarray(self.E_up) * u.K,
            "g_u": np.asarray(self.g_u),
        }
        if qn.size:
            cols["qn"] = qn.astype(str)
        table = Table(cols)
        table.meta.update(
            species=self.species, tag=self.tag, catalog=self.catalog, source=self.source
        )
        return table
