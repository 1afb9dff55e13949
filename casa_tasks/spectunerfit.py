"""spectunerfit: fit LTE models of species to a MeasurementSet or to image cubes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spectuner_nb.fit_settings import DEFAULTS
from spectuner_nb.parameters import PHYSICAL_NAMES

from . import casaenv
from .params import Checker
from .runner import clear_output, task_context
from .visibilities import DATA_COLUMNS

__all__ = ["TASK", "VISMODES", "spectunerfit"]

TASK = "spectunerfit"
VISMODES = ("vecavg", "tclean")


@dataclass(frozen=True)
class _FitSettings:
    species: list[str]
    loss: str
    optimizer: str
    init: str
    n_init: int
    seed: int
    workers: int
    v_lsr: float


def _fit_settings(
    check: Checker, species, loss, optimizer, ninit, usepolicy, seed, parallel, vlsr
) -> _FitSettings:
    names = check.species("species", species)
    fit = check.fit_settings(
        loss=loss,
        optimizer=optimizer,
        ninit=check.positive_int("ninit", ninit),
        usepolicy=usepolicy,
        seed=check.seed("seed", seed),
    )
    workers = check.workers("parallel", parallel)
    v_lsr = check.quantity("vlsr", vlsr, "km/s")
    return _FitSettings(
        names, fit.loss, fit.optimizer, fit.init, fit.n_init, int(fit.seed), workers, v_lsr
    )


def _default_outdir(source: Path) -> Path:
    return Path(source.name.rstrip("/")).with_suffix(".spectunerfit")


def _summary_of_fit(result, outdir: Path, files: list[str]) -> dict:
    """CASA-style summary of one spectrum fit."""
    p, e = result.params, result.params_err
    params = {}
    for k, (s, c) in enumerate(zip(result.species, result.component, strict=True)):
        key = s if c == 0 else f"{s}#{c}"
        params[key] = {n: float(p[k, j]) for j, n in enumerate(PHYSICAL_NAMES)}
        params[key].update({f"{n}_err": float(e[k, j]) for j, n in enumerate(PHYSICAL_NAMES)})
        params[key]["eta"] = float(result.eta[k])
    return {
        "params": params,
        "loss": float(result.loss),
        "chi2": float(result.chi2),
        "nfev": int(result.nfev),
        "flags": result.flags,
        "outdir": str(outdir),
        "files": files,
    }


def visibility_observation(vis, spws, field, column, beam, v_lsr: float, log):
    """The vector-averaged spectrum of each spw (LSRK), in K with the stated beam."""
    from spectuner_nb.observation import Observation

    from .visibilities import lsrk_frequencies, spectral_setup, vector_average

    setup = spectral_setup(vis)
    freqs, fluxes = [], []
    for spw in spws:
        f_mhz = lsrk_frequencies(vis, spw, field, setup) / 1e6
        s_jy = vector_average(vis, spw, field, column)
        order = np.argsort(f_mhz)
        freqs.append(f_mhz[order])
        fluxes.append(s_jy[order])
        log.info(
            f"spw {spw}: {f_mhz.size} channels {f_mhz.min():.3f}-{f_mhz.max():.3f} MHz "
            f"(LSRK), peak {np.nanmax(s_jy):.4g} Jy"
        )
    obs = Observation.from_arrays(
        freqs,
        fluxes,
        beam=beam,
        unit="Jy/beam",
        v_lsr=v_lsr,
        name=f"{vis.name} field {field} vector average",
    )
    log.info(f"rms per window (K): {', '.join(f'{r:.4g}' for r in obs.rms)}")
    return obs


def _fit_visibility_spectrum(vis, spws, field, column, beam, fs: _FitSettings, outdir, log):
    """Vector-average each spw, convert with the stated beam, fit one spectrum."""
    from spectuner_nb.fit import fit_spectrum

    obs = visibility_observation(vis, spws, field, column, beam, fs.v_lsr, log)
    result = fit_spectrum(
        obs,
        fs.species,
        loss=fs.loss,
        optimizer=fs.optimizer,
        init=fs.init,
        n_init=fs.n_init,
        seed=fs.seed,
    )
    outdir.mkdir(parents=True)
    result.to_json(outdir / "fit.json")
    result.to_molfit(outdir / "fit.molfit")
    for line in repr(result).splitlines():
        log.info(line)
    return _summary_of_fit(result, outdir, [str(outdir / "fit.json"), str(outdir / "fit.molfit")])


def _fit_cubes(images, conts, window_box, fs: _FitSettings, outdir: Path, log) -> dict:
    """Fit the cubes pixel by pixel with the cube engine and write its maps into ``outdir``."""
    from spectuner_nb.cube import fit_cube, load_cubes
    from spectuner_nb.cube.results import PARAMETERS

    cubes = load_cubes(images, continuum=conts or None, v_lsr=fs.v_lsr)
    mask = None
    if window_box is not None:
        mask = np.zeros(cubes.shape, bool)
        mask[window_box] = True
    parallel = {"client": False} if fs.workers == 1 else {"n_workers": fs.workers}
    result = fit_cube(
        cubes,
        fs.species,
        loss=fs.loss,
        optimizer=fs.optimizer,
        init=fs.init,
        n_init=fs.n_init,
        seed=fs.seed,
        mask=mask,
        workdir=outdir / "work",
        progress=False,
        **parallel,
    )
    files = [str(p) for p in result.write(outdir)]
    for line in result.summary().splitlines():
        log.info(line)
    fitted = np.isfinite(result.loss)
    median = (
        {
            name: {par: float(np.nanmedian(result.map(name, par)[fitted])) for par in PARAMETERS}
            for name in result.species
        }
        if fitted.any()
        else {}
    )
    log.info(f"maps written to {outdir}")
    return {"npix": int(fitted.sum()), "outdir": str(outdir), "files": files, "median": median}


def spectunerfit(
    vis: str = "",
    imagename: str | list[str] = "",
    contimage: str | list[str] = "",
    species: str | list[str] = "",
    field: str = "",
    spw: str = "",
    datacolumn: str = "corrected",
    vismode: str = "vecavg",
    beam: str | list[str] = "",
    imsize: int | list[int] = 64,
    cell: str = "",
    niter: int = 0,
    restfreq: str = "",
    vlsr: float | str = 0.0,
    box: str = "",
    loss: str = DEFAULTS.loss,
    optimizer: str = DEFAULTS.optimizer,
    ninit: int = DEFAULTS.n_init,
    usepolicy: bool = True,
    seed: int = DEFAULTS.seed,
    outdir: str = "",
    overwrite: bool = False,
    parallel: bool | int = False,
) -> dict:
    """Fit LTE models of ``species`` to a MeasurementSet (``vis``) or to cubes (``imagename``).

    From ``vis`` with ``vismode='vecavg'``: the vector-averaged spectrum of a
    compact source at the phase centre (Jy), converted to K with the stated
    ``beam`` and fitted as one spectrum. With ``vismode='tclean'``: each
    selected spw is imaged with tclean (cube, LSRK) into ``outdir`` and the
    cubes are fitted pixel by pixel as for ``imagename``. See docs/casa.md.

    Parameters
    ----------
    vis
        MeasurementSet, or '' when fitting images.
    imagename
        Cube(s), one per spectral window, CASA images or FITS (when ``vis=''``).
    contimage
        Optional continuum image per cube (Jy/beam or K).
    species
        Species to fit, e.g. ['CH3OH'] (any spelling the catalog resolves).
    field, spw, datacolumn
        CASA selections of ``vis`` ('' = first field, all spws); for images,
        ``spw`` selects cubes by their index in ``imagename``.
    vismode
        'vecavg' or 'tclean' (``vis`` only).
    beam
        Beam stated for 'vecavg', e.g. ['1.0arcsec', '0.8arcsec'] (arcsec if numbers).
    imsize, cell, niter, restfreq
        tclean settings for 'tclean' ('' cell = 1/5 of λ_min/B_max).
    vlsr
        Systemic velocity, km/s or a quantity string.
    box
        Pixel box 'blcx,blcy,trcx,trcy' of the cubes to fit ('' = every pixel
        the preprocessing keeps).
    loss, optimizer, ninit, usepolicy, seed
        Fit settings (the engine's defaults, :data:`spectuner_nb.fit_settings.DEFAULTS`):
        'pm' (peak matching) or 'chi2'; scipy method or 'pso'; number of initial
        samples (1 … 10000); drawn from the trained policy where its checkpoint loads
        (True, the engine's ``init='auto'``: uniform draws with a warning when none
        loads) or uniformly within Table 1 (False); random seed.
    outdir
        Output directory ('' = <input name>.spectunerfit in the current directory).
    overwrite
        Replace an existing ``outdir``.
    parallel
        False (one process), True (all cores) or a number of worker processes (cubes).

    Returns
    -------
    dict
        ``mode``, ``species``, ``time`` (s), ``outdir``, ``files`` and, for a spectrum,
        ``params`` (per species: θ, T_ex, N_tot, Δv, v_off, errors, η), ``loss``,
        ``chi2``, ``nfev``, ``flags``; for cubes ``npix`` and ``median`` parameters.
    """
    with task_context(TASK, dict(locals())) as log:
        start = time.perf_counter()
        check = Checker(TASK)
        check.one_source(vis, imagename)
        fs = _fit_settings(check, species, loss, optimizer, ninit, usepolicy, seed, parallel, vlsr)
        if vis:
            summary = _run_vis(
                check,
                vis,
                field,
                spw,
                datacolumn,
                vismode,
                beam,
                imsize,
                cell,
                niter,
                restfreq,
                contimage,
                box,
                outdir,
                overwrite,
                fs,
                log,
            )
        else:
            images = check.images("imagename", imagename)
            chosen = check.spw("spw", spw, range(len(images)))
            conts = _continuum(check, contimage, len(images))
            out = check.output("outdir", outdir or _default_outdir(images[0]), overwrite)
            window_box = _box(check, box, images[0])
            clear_output(out)
            summary = _fit_cubes(
                [images[i] for i in chosen],
                [conts[i] for i in chosen] if conts else [],
                window_box,
                fs,
                out,
                log,
            )
            summary["mode"] = "image"
        summary.update(species=fs.species, time=time.perf_counter() - start)
        return summary


def _continuum(check: Checker, contimage, n: int) -> list[Path]:
    conts = [
        check.existing("contimage", c, kind="image") for c in check.strings("contimage", contimage)
    ]
    if conts and len(conts) != n:
        raise check.fail("contimage", contimage, f"give one continuum image per cube ({n}) or none")
    return conts


def _box(check: Checker, box, image: Path):
    if not box:
        return None
    from spectuner_nb.cube.load import read_window

    window, _ = read_window(image)
    return check.box("box", box, window.data.shape[1:])


def ms_selection(check: Checker, vis, field, spw, datacolumn):
    """The checked MeasurementSet selection: (path, spectral setup, field id, spw ids, column)."""
    from .visibilities import spectral_setup

    ms = check.measurement_set("vis", vis)
    setup = spectral_setup(ms)
    field_id = check.field("field", field, setup.fields)
    spws = check.spw("spw", spw, setup.chan_freq)
    column = DATA_COLUMNS[check.choice("datacolumn", datacolumn, tuple(DATA_COLUMNS))]
    if column not in setup.columns:
        raise check.fail("datacolumn", datacolumn, f"the MeasurementSet has no {column} column")
    return ms, setup, field_id, spws, column


def _run_vis(
    check,
    vis,
    field,
    spw,
    datacolumn,
    vismode,
    beam,
    imsize,
    cell,
    niter,
    restfreq,
    contimage,
    box,
    outdir,
    overwrite,
    fs,
    log,
) -> dict:
    from .imaging import default_cell_arcsec, image_cube

    ms, setup, field_id, spws, column = ms_selection(check, vis, field, spw, datacolumn)
    mode = check.choice("vismode", vismode, VISMODES)
    if contimage:
        raise check.fail("contimage", contimage, "continuum images go with imagename, not vis")
    if mode == "vecavg":
        if box:
            raise check.fail("box", box, "only for cubes (imagename or vismode='tclean')")
        if not beam:
            raise check.fail(
                "beam",
                beam,
                "vismode='vecavg' needs the beam to convert Jy to K, e.g. beam=['1.0arcsec']",
            )
        beam_arcsec = check.beam("beam", beam)
        out = check.output("outdir", outdir or _default_outdir(ms), overwrite)
        clear_output(out)
        summary = _fit_visibility_spectrum(ms, spws, field_id, column, beam_arcsec, fs, out, log)
        summary["mode"] = "vecavg"
        return summary
    if not casaenv.casatasks_installed():
        raise check.fail(
            "vismode",
            vismode,
            "'tclean' needs casatasks (pip install "
            "spectuner_nb[casa]); use vismode='vecavg' without CASA",
        )
    if beam:
        raise check.fail("beam", beam, "only for vismode='vecavg' (tclean cubes carry their beam)")
    sizes = [imsize] * 2 if isinstance(imsize, int) else list(imsize)
    if len(sizes) == 1:
        sizes = sizes * 2
    nx, ny = (check.positive_int("imsize", n) for n in sizes)
    cell_arcsec = (
        check.quantity("cell", cell, "arcsec")
        if cell
        else default_cell_arcsec(ms, field_id, max(setup.chan_freq[s].max() for s in spws))
    )
    if isinstance(niter, bool) or not isinstance(niter, int) or niter < 0:
        raise check.fail("niter", niter, "must be a non-negative integer")
    window_box = check.box("box", box, (ny, nx))
    out = check.output("outdir", outdir or _default_outdir(ms), overwrite)
    clear_output(out)
    out.mkdir(parents=True)
    images = []
    for s in spws:
        log.info(f'imaging spw {s} with tclean (cube, {nx}x{ny} pixels of {cell_arcsec:.3g}")')
        images.append(
            image_cube(
                ms,
                out / f"spw{s}",
                field=field_id,
                spw=s,
                datacolumn=datacolumn,
                imsize=[nx, ny],
                cell_arcsec=cell_arcsec,
                niter=niter,
                restfreq=restfreq,
            )
        )
    summary = _fit_cubes(images, [], window_box, fs, out / "fit", log)
    summary.update(mode="tclean", images=[str(p) for p in images])
    return summary
