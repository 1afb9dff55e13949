"""spectunerid: identify the species of a MeasurementSet or image cubes, map them jointly."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from spectuner_nb.fit_settings import DEFAULTS
from spectuner_nb.parameters import PHYSICAL_NAMES, PRESET_CHOICES

from .params import Checker
from .runner import clear_output, task_context

TASK = "spectunerid"
PRESETS: tuple[str, ...] = PRESET_CHOICES
"""Accepted ``preset`` values: "auto" (chosen from the line widths) or a named bound preset."""

__all__ = ["PRESETS", "TASK", "spectunerid"]


def _names(check: Checker, param: str, value) -> list[str]:
    """Resolved species names, or [] for an empty value."""
    return check.species(param, value) if check.strings(param, value) else []


def _image_observation(check: Checker, images: list[Path], box, v_lsr: float):
    """The central pixel of the cubes, or the mean spectrum of ``box``."""
    from spectuner_nb.observation import Observation
    from spectuner_nb.readers import read_cube

    ny, nx = read_cube(images[0]).shape[1:]  # the data are read once, below
    region = check.box("box", box, (ny, nx))
    if region is None:
        return Observation.from_cube_pixel([str(p) for p in images], nx // 2, ny // 2, v_lsr=v_lsr)
    ys, xs = region
    return Observation.from_cube_region(
        [str(p) for p in images], (xs.start, xs.stop - 1), (ys.start, ys.stop - 1), v_lsr=v_lsr
    )


def _summary(result, outdir: Path) -> dict:
    """CASA-style summary of an identification."""
    params = {}
    if result.fit is not None:
        p, e = result.fit.params, result.fit.params_err
        for k, name in enumerate(result.fit.species):
            params[name] = {n: float(p[k, j]) for j, n in enumerate(PHYSICAL_NAMES)}
            params[name].update({f"{n}_err": float(e[k, j]) for j, n in enumerate(PHYSICAL_NAMES)})
    unknown = result.unknown
    return {
        "species": list(result.species),
        "params": params,
        "npeaks": int(result.n_peaks),
        "nunknown": len(unknown),
        "unknownfreq": [float(f) for f in np.asarray(unknown["freq"], float)],
        "message": result.message,
        "outdir": str(outdir),
        "files": sorted(str(p) for p in outdir.iterdir() if p.is_file()),
    }


def spectunerid(
    vis: str = "",
    imagename: str | list[str] = "",
    field: str = "",
    spw: str = "",
    datacolumn: str = "corrected",
    beam: str | list[str] = "",
    vlsr: float | str = 0.0,
    box: str = "",
    candidates: str | list[str] = "",
    include: str | list[str] = "",
    exclude: str | list[str] = "",
    preset: str = "auto",
    ninit: int = DEFAULTS.n_init,
    usepolicy: bool = True,
    seed: int = DEFAULTS.seed,
    domap: bool = False,
    outdir: str = "",
    overwrite: bool = False,
    parallel: bool | int = False,
) -> dict:
    """Identify the species of a spectrum (docs/method.md §9) and optionally map them.

    From ``vis``: the vector-averaged spectrum of a compact source at the phase
    centre, converted to K with the stated ``beam`` (as spectunerfit's 'vecavg').
    From ``imagename`` (one cube per spectral window): the central pixel, or the
    mean spectrum of ``box``; with ``domap=True`` the cubes are then fitted pixel by
    pixel with the identified species as one joint model (χ², same bounds).

    Parameters
    ----------
    vis, field, spw, datacolumn, beam
        MeasurementSet and its selections ('' = first field, all spws), beam for Jy → K.
    imagename
        Cube(s), CASA images or FITS (when ``vis=''``); ``spw`` selects them by index.
    vlsr
        Systemic velocity, km/s or a quantity string.
    box
        Pixel box 'blcx,blcy,trcx,trcy' whose mean spectrum is identified ('' = the
        central pixel).
    candidates, include, exclude
        Species considered ('' = every catalog species with lines near the observed
        peaks), always considered, never considered.
    preset
        Parameter bounds: 'auto' (from the observed line widths), 'hot_core' (the
        paper's Table 1) or 'cold_core'.
    ninit, usepolicy, seed
        Initial samples per fit; policy proposals where the policy was trained (True)
        or uniform draws only (False); random seed.
    domap
        Map the cubes with the identified species (``imagename`` only).
    outdir, overwrite
        Output directory ('' = <input name>.spectunerid); replace an existing one.
    parallel
        False (one process), True (all cores) or a number of worker processes.

    Returns
    -------
    dict
        ``mode``, ``species``, ``params`` (per species: θ, T_ex, N_tot, Δv, v_off and
        errors), ``npeaks``, ``nunknown``, ``unknownfreq`` (MHz), ``message``,
        ``outdir``, ``files``, ``time`` (s); with ``domap`` also ``npix`` and ``mapdir``.
    """
    with task_context(TASK, dict(locals())) as log:
        start = time.perf_counter()
        check = Checker(TASK)
        check.one_source(vis, imagename)
        cands = _names(check, "candidates", candidates) or None
        incl = _names(check, "include", include)
        excl = _names(check, "exclude", exclude)
        bounds = check.choice("preset", preset, PRESETS)
        fit = check.fit_settings(
            ninit=check.positive_int("ninit", ninit),
            usepolicy=usepolicy,
            seed=check.seed("seed", seed),
        )
        n_init, seed = fit.n_init, fit.seed
        check.flag("domap", domap)
        workers = check.workers("parallel", parallel)
        v_lsr = check.quantity("vlsr", vlsr, "km/s")
        if vis:
            obs, images, out = _vis_input(
                check, vis, field, spw, datacolumn, beam, box, domap, outdir, overwrite, v_lsr, log
            )
        else:
            images = check.images("imagename", imagename)
            images = [images[i] for i in check.spw("spw", spw, range(len(images)))]
            obs = _image_observation(check, images, box, v_lsr)
            out = check.output(
                "outdir",
                outdir or Path(images[0].name.rstrip("/")).with_suffix(".spectunerid"),
                overwrite,
            )
        clear_output(out)
        result = _identify(
            obs, cands, incl, excl, bounds, n_init, fit.init, seed, workers, out, log
        )
        summary = _summary(result, out)
        if domap and result.species:
            summary.update(_map(images, obs, result, n_init, seed, workers, out / "maps", log))
        summary.update(mode="vecavg" if vis else "image", time=time.perf_counter() - start)
        return summary


def _vis_input(check, vis, field, spw, datacolumn, beam, box, domap, outdir, overwrite, v_lsr, log):
    from .spectunerfit import ms_selection, visibility_observation

    ms, _, field_id, spws, column = ms_selection(check, vis, field, spw, datacolumn)
    if box:
        raise check.fail("box", box, "only for image cubes (imagename)")
    if domap:
        raise check.fail(
            "domap",
            domap,
            "maps need image cubes (imagename); image the MeasurementSet with tclean first",
        )
    if not beam:
        raise check.fail("beam", beam, "needed to convert Jy to K, e.g. beam=['1.0arcsec']")
    beam_arcsec = check.beam("beam", beam)
    out = check.output(
        "outdir", outdir or Path(ms.name.rstrip("/")).with_suffix(".spectunerid"), overwrite
    )
    obs = visibility_observation(ms, spws, field_id, column, beam_arcsec, v_lsr, log)
    return obs, [], out


def _identify(obs, cands, incl, excl, bounds, n_init, init, seed, workers, out, log):
    from spectuner_nb.identification import identify

    client = None
    if workers > 1:
        from spectuner_nb.cube.scheduling import make_client

        client, _ = make_client(None, workers, caller=TASK)
    try:
        result = identify(
            obs,
            cands,
            include=incl,
            exclude=excl,
            bounds=bounds,
            init=init,
            n_init=n_init,
            client=client,
            workdir=out / "work",
            seed=seed,
            progress=False,
        )
    finally:
        if client is not None:
            from spectuner_nb.cube.scheduling import close_client

            close_client(client)
    result.write(out)
    for line in repr(result).splitlines():
        log.info(line)
    log.info(f"{len(result.unknown)} unknown lines of {result.n_peaks} peaks; written to {out}")
    return result


def _map(images, obs, ident, n_init, seed, workers, mapdir, log) -> dict:
    """Fit the cubes with the identified species as one joint model (χ², the same bounds,
    the tie step in every pixel)."""
    preset = ident.settings["preset"]
    parallel = {"client": False} if workers == 1 else {"n_workers": workers}
    result = ident.fit_cube(
        images,
        v_lsr=obs.v_lsr,
        n_init=n_init,
        seed=seed,
        workdir=mapdir / "work",
        progress=False,
        **parallel,
    )
    files = [str(p) for p in result.write(mapdir)]
    for line in result.summary().splitlines():
        log.info(line)
    fitted = int(np.isfinite(result.loss).sum())
    log.info(f"joint-model maps ({preset} bounds) written to {mapdir}")
    return {"npix": fitted, "mapdir": str(mapdir), "mapfiles": files}
