"""Image one spectral window of a MeasurementSet into a cube with casatasks.tclean."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spectuner_nb.constants import C_M_S
from spectuner_nb.errors import CubeError

from . import casaenv
from .visibilities import max_baseline_m

__all__ = ["PIXELS_PER_BEAM", "default_cell_arcsec", "image_cube"]

PIXELS_PER_BEAM: float = 5.0
"""Default cell: the finest fringe spacing λ_min/B_max divided by this."""


def default_cell_arcsec(vis: Path, field: int, freq_max_hz: float) -> float:
    """Cell size (arcsec) sampling the finest fringe λ_min/B_max with 5 pixels."""
    baseline = max_baseline_m(vis, field)
    return float(np.degrees(C_M_S / freq_max_hz / baseline) * 3600.0 / PIXELS_PER_BEAM)


def image_cube(
    vis: Path,
    imagename: Path,
    *,
    field: int,
    spw: int,
    datacolumn: str,
    imsize: list[int],
    cell_arcsec: float,
    niter: int,
    restfreq: str,
) -> Path:
    """Run tclean (specmode='cube', LSRK, natural weighting); returns the ``.image`` path.

    ``imagename`` is the tclean prefix: ``.image``, ``.psf``, ``.residual`` … are
    written beside it. With ``niter=0`` the image is the dirty cube (Jy/beam,
    beam = fitted PSF). tclean runs from the folder of ``imagename``, where its
    scratch files (TempLattice*) come and go, not from the user's directory.
    """
    tasks = casaenv.casatasks()
    vis, imagename = Path(vis).absolute(), Path(imagename).absolute()
    with casaenv.working_directory(imagename.parent):
        tasks.tclean(
            vis=str(vis),
            imagename=str(imagename),
            field=str(field),
            spw=str(spw),
            datacolumn=datacolumn,
            specmode="cube",
            outframe="LSRK",
            restfreq=restfreq or [],
            imsize=list(imsize),
            cell=f"{cell_arcsec}arcsec",
            niter=int(niter),
            weighting="natural",
            gridder="standard",
            deconvolver="hogbom",
            interactive=False,
            restoration=True,
            pbcor=False,
            parallel=False,
        )
    image = Path(f"{imagename}.image")
    if not image.is_dir():
        raise CubeError(f"tclean did not write {image}; see the CASA log")
    return image
