"""Read a MeasurementSet: spectral setup, fields, and the vector-averaged visibility spectrum.

Tables are read with casatools when it is installed, otherwise with
python-casacore. Arrays are returned row-first: visibilities (n_row, n_chan,
n_corr).

The vector average is the spectrum of a compact source at the phase centre:
for such a source every baseline measures the same complex visibility, its
flux density S(ν) in Jy, so the weighted mean over baselines and times of the
parallel-hand correlations (Stokes I = (XX+YY)/2 or (RR+LL)/2) estimates S(ν)
with the noise reduced by √N. Converted with a stated beam (Jy/beam → K) it is
the beam-averaged brightness that the LTE model predicts for that beam.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spectuner_nb.errors import ConfigurationError, ObservationError

from . import casaenv

__all__ = [
    "PARALLEL_HANDS",
    "FREQ_FRAMES",
    "DATA_COLUMNS",
    "MSTable",
    "SpectralSetup",
    "spectral_setup",
    "lsrk_frequencies",
    "vector_average",
    "max_baseline_m",
]

PARALLEL_HANDS = {1: "I", 5: "RR", 8: "LL", 9: "XX", 12: "YY"}
"""CASA Stokes codes of the correlations averaged into Stokes I."""

FREQ_FRAMES = {0: "REST", 1: "LSRK", 2: "LSRD", 3: "BARY", 4: "GEO", 5: "TOPO", 6: "GALACTO"}
"""CASA MFrequency codes (MEAS_FREQ_REF)."""

DATA_COLUMNS = {"data": "DATA", "corrected": "CORRECTED_DATA", "model": "MODEL_DATA"}
"""``datacolumn`` values and the MS columns they read."""


class MSTable:
    """An MS table opened with casatools or python-casacore; getcol gives row-first arrays."""

    def __init__(self, path: Path, query: str | None = None) -> None:
        if casaenv.casatools_installed():
            self._tb = casaenv.casatools().table()
            self._tb.open(str(path))
            self._casatools = True
            if query:
                opened = self._tb
                self._tb = opened.query(query)
                opened.close()
        else:
            try:
                from casacore import tables
            except ImportError as exc:
                raise ConfigurationError(
                    "reading a MeasurementSet needs casatools or python-casacore: "
                    "`pip install spectuner_nb[casa]`"
                ) from exc
            self._tb = tables.table(str(path), ack=False)
            self._casatools = False
            if query:
                self._tb = self._tb.query(query)

    def __enter__(self) -> MSTable:
        return self

    def __exit__(self, *exc) -> None:
        self._tb.close()

    def nrows(self) -> int:
        """Number of rows (after the query)."""
        return int(self._tb.nrows())

    def colnames(self) -> list[str]:
        """Column names."""
        return list(self._tb.colnames())

    def getcol(self, name: str) -> np.ndarray:
        """Column ``name`` with rows first: (n_row,), (n_row, n) or (n_row, n_chan, n_corr)."""
        value = np.asarray(self._tb.getcol(name))
        if self._casatools and value.ndim > 1:
            value = np.moveaxis(value, -1, 0)  # casatools puts rows last
            value = np.swapaxes(value, 1, -1) if value.ndim == 3 else value
        return value

    def getcell(self, name: str, row: int):
        """One cell of column ``name``."""
        return self._tb.getcell(name, row)


@dataclass(frozen=True)
class SpectralSetup:
    """Spectral windows, fields and columns of a MeasurementSet.

    Attributes
    ----------
    chan_freq
        Channel frequencies per spectral window id, Hz, in the MS frame.
    frame
        Frequency frame per spectral window id (``"TOPO"``, ``"LSRK"`` …).
    fields
        Field names, indexed by field id.
    phase_dirs
        Phase centres (RA, Dec) in rad, per field.
    columns
        Columns of the main table.
    """

    chan_freq: dict[int, np.ndarray]
    frame: dict[int, str]
    fields: list[str]
    phase_dirs: np.ndarray
    columns: list[str]


def spectral_setup(vis: Path) -> SpectralSetup:
    """Read the spectral windows, fields and column names of ``vis``."""
    with MSTable(vis / "SPECTRAL_WINDOW") as tb:
        refs = tb.getcol("MEAS_FREQ_REF")
        chan_freq = {i: np.asarray(tb.getcell("CHAN_FREQ", i), float) for i in range(tb.nrows())}
    with MSTable(vis / "FIELD") as tb:
        names = [str(n) for n in tb.getcol("NAME")]
        dirs = np.asarray([np.ravel(tb.getcell("PHASE_DIR", i))[:2] for i in range(tb.nrows())])
    with MSTable(vis) as tb:
        columns = tb.colnames()
    frame = {i: FREQ_FRAMES.get(int(r), str(r)) for i, r in enumerate(refs)}
    return SpectralSetup(chan_freq, frame, names, dirs, columns)


def lsrk_frequencies(vis: Path, spw: int, field: int, setup: SpectralSetup) -> np.ndarray:
    """Channel frequencies of ``spw`` in the LSRK frame, Hz (casatools converts; else as stored).

    Raises :class:`ConfigurationError` when the MS frame is not LSRK and
    casatools is not installed to convert it.
    """
    if setup.frame[spw] == "LSRK":
        return setup.chan_freq[spw]
    if not casaenv.casatools_installed():
        raise ConfigurationError(
            f"{vis}: spw {spw} is in the {setup.frame[spw]} frame; converting to LSRK needs "
            "casatools"
        )
    tool = casaenv.casatools().ms()
    tool.open(str(vis))
    try:
        freqs = tool.cvelfreqs(spwids=[spw], fieldids=[field], mode="channel", outframe="LSRK")
    finally:
        tool.close()
    return np.asarray(freqs, float)


def _data_description_ids(vis: Path, spw: int) -> tuple[list[int], list[int]]:
    with MSTable(vis / "DATA_DESCRIPTION") as tb:
        spws = tb.getcol("SPECTRAL_WINDOW_ID")
        pols = tb.getcol("POLARIZATION_ID")
    ids = [i for i, s in enumerate(spws) if int(s) == spw]
    return ids, [int(pols[i]) for i in ids]


def vector_average(vis: Path, spw: int, field: int, column: str) -> np.ndarray:
    """Weighted vector average over baselines, times and parallel hands: S(ν) in Jy per channel.

    Flagged data and autocorrelations are excluded; channels with no
    unflagged data are NaN. Returns the real part (a compact source at the
    phase centre has zero phase).
    """
    ddids, pol_ids = _data_description_ids(vis, spw)
    if not ddids:
        raise ObservationError(f"{vis}: spw {spw} has no data description")
    with MSTable(vis / "POLARIZATION") as tb:
        corr_types = {p: np.ravel(tb.getcell("CORR_TYPE", p)) for p in set(pol_ids)}
    total = weight_sum = None
    for ddid, pol in zip(ddids, pol_ids, strict=True):
        hands = np.isin(corr_types[pol], list(PARALLEL_HANDS))
        query = f"DATA_DESC_ID=={ddid} && FIELD_ID=={field} && ANTENNA1!=ANTENNA2 && !FLAG_ROW"
        with MSTable(vis, query) as tb:
            if tb.nrows() == 0:
                continue
            data = tb.getcol(column)[..., hands].astype(np.complex128)
            flag = tb.getcol("FLAG")[..., hands]
            if "WEIGHT_SPECTRUM" in tb.colnames() and _has_values(tb, "WEIGHT_SPECTRUM"):
                weight = tb.getcol("WEIGHT_SPECTRUM")[..., hands]
            else:
                weight = np.broadcast_to(tb.getcol("WEIGHT")[:, None, hands], data.shape)
        w = np.where(flag, 0.0, weight.astype(np.float64))
        part = np.sum(w * data, axis=(0, 2))
        part_w = np.sum(w, axis=(0, 2))
        total = part if total is None else total + part
        weight_sum = part_w if weight_sum is None else weight_sum + part_w
    if total is None:
        raise ObservationError(f"{vis}: no cross-correlation rows for spw {spw}, field {field}")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(weight_sum > 0, total / weight_sum, np.nan)
    return np.real(mean)


def _has_values(tb: MSTable, column: str) -> bool:
    try:
        tb.getcell(column, 0)
    except RuntimeError:
        return False
    return True


def max_baseline_m(vis: Path, field: int) -> float:
    """Longest projected baseline (uv distance) of ``field``, metres."""
    with MSTable(vis, f"FIELD_ID=={field} && ANTENNA1!=ANTENNA2") as tb:
        uvw = tb.getcol("UVW")
    if uvw.size == 0:
        raise ObservationError(f"{vis}: no cross-correlations for field {field}")
    return float(np.max(np.hypot(uvw[:, 0], uvw[:, 1])))
