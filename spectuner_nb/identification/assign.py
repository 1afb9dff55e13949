"""Per-peak assignments and unknown lines (docs/method.md §9 step 7).

Every observed peak gets the species whose model supplies at least
:data:`ASSIGN_FRACTION` of its mean observed intensity over the peak span, with
that fraction and the species' transition that contributes most at the peak
frequency (quantum numbers, rest frequency, E_up, A_ul from the catalog's
LineList). Peaks the joint model does not explain
(:attr:`~spectuner_nb.identification.matching.PeakMatch.explained`) are unknown lines.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..catalog.linelist import LineList
from ..constants import FWHM_TO_SIGMA
from ..doppler import frequency_width, sky_frequency
from .candidates import line_strength
from .matching import ObservedPeaks, PeakMatch

__all__ = [
    "ASSIGN_FRACTION",
    "SEPARATOR",
    "assignment_table",
    "split_cell",
    "strongest_transition",
]

ASSIGN_FRACTION: float = 0.1
"""Smallest fraction of an observed peak's mean intensity a species must supply to be
assigned to it."""
SEPARATOR: str = " | "
"""Separator of the species, fractions and quantum numbers of one peak in the line table
(canonical species names contain ";", quantum numbers contain spaces)."""


def split_cell(cell: str) -> list[str]:
    """The items of a species / fractions / qn cell of the line table ([] when empty)."""
    return str(cell).split(SEPARATOR) if str(cell) else []


def strongest_transition(lines: LineList, x: np.ndarray, freq_mhz: float) -> int:
    """Index of the line of ``lines`` contributing most at rest frequency ``freq_mhz``
    for fit-space parameters ``x`` (5,) (opacity-weighted Gaussian profile); -1 if none."""
    if len(lines) == 0:
        return -1
    t_ex, dv, v_off = float(x[1]), 10.0 ** float(x[3]), float(x[4])
    centre = sky_frequency(np.asarray(lines.freq, float), v_off)
    sigma = frequency_width(dv, centre) * FWHM_TO_SIGMA
    weight = line_strength(lines, t_ex) / sigma * np.exp(-0.5 * ((freq_mhz - centre) / sigma) ** 2)
    return int(np.argmax(weight)) if np.any(weight > 0) else -1


def assignment_table(
    peaks: ObservedPeaks,
    joint: PeakMatch,
    names: Sequence[str],
    lines: Sequence[LineList],
    x: np.ndarray,
    components: Sequence[Sequence[np.ndarray]],
):
    """The line table: one row per observed peak (astropy Table with units).

    ``components``: the model of each species alone, per window (K); ``x``: fit-space
    parameters (n_species, 5) of the joint model.
    """
    import astropy.units as u
    from astropy.table import Table

    shares = np.array([peaks.mean_of(c) for c in components]).reshape(len(names), len(peaks))
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(peaks.mean > 0, shares / peaks.mean, 0.0)
    cols: dict[str, list] = {
        k: [] for k in ("species", "fractions", "qn", "line_freq", "E_up", "A_ul")
    }
    for k in range(len(peaks)):
        order = [i for i in np.argsort(-shares[:, k]) if shares[i, k] >= ASSIGN_FRACTION]
        best = [strongest_transition(lines[i], x[i], peaks.freq[k]) for i in order]
        cols["species"].append(SEPARATOR.join(names[i] for i in order))
        cols["fractions"].append(SEPARATOR.join(f"{shares[i, k]:.2f}" for i in order))
        cols["qn"].append(
            SEPARATOR.join(_qn(lines[i], j) for i, j in zip(order, best, strict=True))
        )
        first = (order[0], best[0]) if order and best[0] >= 0 else None
        cols["line_freq"].append(float(lines[first[0]].freq[first[1]]) if first else np.nan)
        cols["E_up"].append(float(lines[first[0]].E_up[first[1]]) if first else np.nan)
        cols["A_ul"].append(float(lines[first[0]].A_ul[first[1]]) if first else np.nan)
    table = Table()
    table["freq"] = peaks.freq * u.MHz
    table["window"] = peaks.window
    table["T_peak"] = peaks.height * u.K
    table["snr"] = peaks.height / peaks.rms
    table["explained"] = joint.explained
    table["model_share"] = joint.share
    table["species"] = cols["species"]
    table["fractions"] = cols["fractions"]
    table["qn"] = cols["qn"]
    table["line_freq"] = np.asarray(cols["line_freq"], float) * u.MHz
    table["E_up"] = np.asarray(cols["E_up"], float) * u.K
    table["A_ul"] = np.asarray(cols["A_ul"], float) / u.s
    table.meta["description"] = (
        "observed peaks (4 rms): species supplying >= "
        f"{ASSIGN_FRACTION:g} of the peak, fractions of the observed intensity, the "
        f"strongest transition of each, items joined by '{SEPARATOR}'; line_freq/E_up/A_ul of "
        "the first"
    )
    return table


def _qn(lines: LineList, j: int) -> str:
    qn = np.asarray(lines.qn)
    return str(qn[j]).strip() if j >= 0 and qn.size else ""
