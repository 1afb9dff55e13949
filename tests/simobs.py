"""Small simulated MeasurementSets (casatools.simulator) holding a compact line source.

A test fixture, not part of the package: used by the tests, the CASA tutorial
(which puts ``tests/`` on ``sys.path``) and the docs transcript. Two steps: build an
empty ALMA-like MS with :func:`create_ms`, then write the visibilities of an
unpolarised point source at the phase centre with :func:`write_point_source`
(its spectrum, in Jy per channel, is usually an LTE model converted with a beam).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from spectuner_nb.casa_tasks import casaenv
from spectuner_nb.casa_tasks.visibilities import MSTable

__all__ = ["ORION_KL_DIRECTION", "SpwSpec", "create_ms", "write_point_source"]

ORION_KL_DIRECTION = ("J2000", "05h35m14.5s", "-05d22m30s")
"""Phase centre used by default: the Orion KL hot core (transits high at the ALMA site)."""


@dataclass(frozen=True)
class SpwSpec:
    """One spectral window: first channel frequency and channel width (Hz, TOPO), channels."""

    freq_hz: float
    width_hz: float
    n_chan: int


def create_ms(
    vis: str | Path,
    spws: Sequence[SpwSpec],
    *,
    direction: tuple[str, str, str] = ORION_KL_DIRECTION,
    n_ant: int = 5,
    duration_s: float = 600.0,
    integration_s: float = 60.0,
) -> Path:
    """Write an empty MS (DATA = 0) observed by ``n_ant`` 12-m ALMA antennas, XX/YY feeds.

    The source is observed around transit. Antennas lie on a golden-angle
    spiral 20–(5 + 15 n_ant) m from the array centre: no shadowing, short
    baselines. Every spectral window must have the same number of channels.
    """
    tools = casaenv.casatools()
    me = tools.measures()
    sm = tools.simulator()
    vis = Path(vis)
    radius = 20.0 + 15.0 * np.arange(n_ant)
    angle = np.deg2rad(137.5) * np.arange(n_ant)
    xy = np.stack([radius * np.cos(angle), radius * np.sin(angle)])
    sm.open(str(vis))
    try:
        sm.setconfig(
            telescopename="ALMA",
            x=list(xy[0]),
            y=list(xy[1]),
            z=[0.0] * n_ant,
            dishdiameter=[12.0] * n_ant,
            mount=["alt-az"],
            antname=[f"A{i:02d}" for i in range(n_ant)],
            coordsystem="local",
            referencelocation=me.observatory("ALMA"),
        )
        for i, spw in enumerate(spws):
            sm.setspwindow(
                spwname=f"spw{i}",
                freq=f"{spw.freq_hz}Hz",
                deltafreq=f"{spw.width_hz}Hz",
                freqresolution=f"{spw.width_hz}Hz",
                nchannels=int(spw.n_chan),
                stokes="XX YY",
            )
        sm.setfeed(mode="perfect X Y", pol=[""])
        sm.setfield(sourcename="src", sourcedirection=me.direction(*direction))
        sm.setlimits(shadowlimit=0.001, elevationlimit="8.0deg")
        sm.setauto(autocorrwt=0.0)
        sm.settimes(
            integrationtime=f"{integration_s}s",
            usehourangle=True,
            referencetime=me.epoch("utc", "2024/01/01/00:00:00"),
        )
        for i in range(len(spws)):
            sm.observe(
                "src", f"spw{i}", starttime=f"{-duration_s / 2}s", stoptime=f"{duration_s / 2}s"
            )
    finally:
        sm.close()
    return vis


def write_point_source(
    vis: str | Path, flux_jy: dict[int, np.ndarray], *, noise_jy: float = 0.0, seed: int = 0
) -> None:
    """Fill DATA with a point source at the phase centre plus Gaussian noise.

    Parameters
    ----------
    flux_jy
        Per spectral window id, the source flux density per channel, Jy (Stokes I;
        XX = YY = I, cross hands 0).
    noise_jy
        Standard deviation of the real and of the imaginary part of each
        visibility, Jy; WEIGHT and SIGMA are set to match (σ = 1 when 0).
    """
    tools = casaenv.casatools()
    rng = np.random.default_rng(seed)
    with MSTable(Path(vis) / "DATA_DESCRIPTION") as tb:
        spw_of_ddid = tb.getcol("SPECTRAL_WINDOW_ID")
    tb = tools.table()
    tb.open(str(vis), nomodify=False)
    try:
        ddid = tb.getcol("DATA_DESC_ID")
        data = tb.getcol("DATA")  # (n_corr, n_chan, n_row): one spw shape per MS here
        for d, spw in enumerate(spw_of_ddid):
            rows = ddid == d
            spec = np.asarray(flux_jy[int(spw)], float)
            data[:, :, rows] = spec[None, :, None]
        if noise_jy > 0:
            data = data + noise_jy * (
                rng.standard_normal(data.shape) + 1j * rng.standard_normal(data.shape)
            )
        sigma = noise_jy if noise_jy > 0 else 1.0
        tb.putcol("DATA", data.astype(np.complex64))
        tb.putcol("CORRECTED_DATA", data.astype(np.complex64))
        n_corr, _, n_row = data.shape
        tb.putcol("SIGMA", np.full((n_corr, n_row), sigma, np.float32))
        tb.putcol("WEIGHT", np.full((n_corr, n_row), 1.0 / sigma**2, np.float32))
    finally:
        tb.close()
