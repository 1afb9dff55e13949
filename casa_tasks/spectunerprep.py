"""spectunerprep: run the cube preprocessing alone and report the masks and noise."""

from __future__ import annotations

import time

import numpy as np

from .params import Checker
from .runner import task_context

__all__ = ["TASK", "spectunerprep"]

TASK = "spectunerprep"


def spectunerprep(
    imagename: str | list[str] = "",
    contimage: str | list[str] = "",
    vlsr: float | str = 0.0,
    nsigmaglobal: float = 4.0,
    nsigmalocal: float = 6.0,
    ncut: float = 3.0,
    nsample: int = 10000,
    maskfile: str = "",
    overwrite: bool = False,
) -> dict:
    """Select the pixels worth fitting in one or more spectral-window cubes (docs/method.md §8).

    Parameters
    ----------
    imagename
        Cube(s), one per spectral window, on one pixel grid: CASA images or FITS files.
    contimage
        Optional continuum image per window (Jy/beam or K), or ''.
    vlsr
        Systemic velocity, km/s (number or quantity string such as '-48km/s').
    nsigmaglobal, nsigmalocal, ncut
        Peak thresholds (global / local rms) and the minimum mean number of
        peaks per window a pixel needs to be kept.
    nsample
        Pixels sampled for the global rms.
    maskfile
        FITS file for the mask image (HDU 0: reason code, 0 = kept; HDU 1: peak
        bin), or '' for none.
    overwrite
        Replace an existing ``maskfile``.

    Returns
    -------
    dict
        ``npix``, ``nkept``, ``rmsglobal`` (K per window), ``rmslocal``
        (median over kept pixels, K per window), ``counts`` (pixels per
        reason), ``maskfile``, ``report`` (text) and ``time`` (s).
    """
    with task_context(TASK, dict(locals())) as log:
        start = time.perf_counter()
        check = Checker(TASK)
        images = check.images("imagename", imagename)
        conts = [
            check.existing("contimage", c, kind="image")
            for c in check.strings("contimage", contimage)
        ]
        if conts and len(conts) != len(images):
            raise check.fail(
                "contimage", contimage, f"give one continuum image per cube ({len(images)}) or none"
            )
        v_lsr = check.quantity("vlsr", vlsr, "km/s")
        thresholds = [
            check.positive_float(name, value)
            for name, value in (
                ("nsigmaglobal", nsigmaglobal),
                ("nsigmalocal", nsigmalocal),
                ("ncut", ncut),
            )
        ]
        n_sample = check.positive_int("nsample", nsample)
        mask_path = check.output("maskfile", maskfile, overwrite) if maskfile else None

        from spectuner_nb.cube.load import load_cubes
        from spectuner_nb.cube.preprocessing import PreprocessConfig, preprocess

        cubes = load_cubes(images, continuum=conts or None, v_lsr=v_lsr)
        config = PreprocessConfig(
            n_sigma_global=thresholds[0],
            n_sigma_local=thresholds[1],
            n_cut=thresholds[2],
            n_sample=n_sample,
        )
        prep = preprocess(cubes, config)
        report = prep.report()
        for line in report.splitlines():
            log.info(line)
        if mask_path is not None:
            prep.write_mask(mask_path, cubes.wcs)
            log.info(f"mask written to {mask_path}")
        keep = prep.keep
        rms_local = [
            float(np.nanmedian(r[keep])) if keep.any() else float("nan") for r in prep.rms_local
        ]
        return {
            "npix": int(keep.size),
            "nkept": int(keep.sum()),
            "rmsglobal": [float(r) for r in prep.rms_global],
            "rmslocal": rms_local,
            "counts": prep.counts(),
            "maskfile": str(mask_path) if mask_path is not None else "",
            "report": report,
            "time": time.perf_counter() - start,
        }
