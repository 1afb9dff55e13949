"""spectunerpredict: the LTE model of given parameters on the grid of an image or an MS."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import casaenv
from .params import Checker
from .runner import clear_output, task_context

__all__ = ["TASK", "OUTUNITS", "spectunerpredict"]

TASK = "spectunerpredict"
OUTUNITS = ("k", "jy/beam")


@dataclass
class _Grid:
    """Channel frequencies (MHz, file order) of one window and how to write an image of it."""

    freq_mhz: np.ndarray
    header: dict
    shape: tuple[int, int]


def _image_grid(path: Path, beam) -> tuple[_Grid, tuple[float, float]]:
    """Grid and common beam (arcsec) of an image cube (CASA image or FITS); ``beam``
    (arcsec) replaces the cube's beams when given."""
    import astropy.units as u

    from spectuner_nb.beam import common_beam
    from spectuner_nb.readers import read_cube

    cube = read_cube(path, beam=beam)
    freq = np.empty_like(cube.freq_mhz)
    freq[cube.order] = cube.freq_mhz  # file order: the model is written channel by channel
    common = common_beam(cube.beams)
    header = dict(cube.cube.wcs.to_header())
    return (
        _Grid(freq, header, cube.shape[1:]),
        (float(common.major.to_value(u.arcsec)), float(common.minor.to_value(u.arcsec))),
    )


def _ms_grid(freq_hz: np.ndarray, phase_dir_rad: np.ndarray) -> _Grid:
    """A one-pixel grid at the phase centre with the LSRK channels of one spw."""
    df = float(np.mean(np.diff(freq_hz))) if freq_hz.size > 1 else 1.0
    ra, dec = np.degrees(phase_dir_rad[:2])
    header = {
        "CTYPE1": "RA---SIN",
        "CUNIT1": "deg",
        "CRVAL1": float(ra % 360.0),
        "CRPIX1": 1.0,
        "CDELT1": -1.0 / 3600.0,
        "CTYPE2": "DEC--SIN",
        "CUNIT2": "deg",
        "CRVAL2": float(dec),
        "CRPIX2": 1.0,
        "CDELT2": 1.0 / 3600.0,
        "CTYPE3": "FREQ",
        "CUNIT3": "Hz",
        "CRVAL3": float(freq_hz[0]),
        "CRPIX3": 1.0,
        "CDELT3": df,
        "SPECSYS": "LSRK",
    }
    return _Grid(np.asarray(freq_hz) / 1e6, header, (1, 1))


def _write(grid: _Grid, spectrum: np.ndarray, unit: str, beam, path: Path) -> None:
    """Write the model (constant over the pixels) as FITS, or as a CASA image via FITS."""
    from astropy.io import fits

    from spectuner_nb.beam import header_keywords

    data = np.broadcast_to(spectrum[:, None, None], (spectrum.size, *grid.shape))
    header = fits.Header(grid.header)
    header["BUNIT"] = unit
    header.update(header_keywords(beam))
    header["ORIGIN"] = "spectuner_nb spectunerpredict"
    hdu = fits.PrimaryHDU(np.ascontiguousarray(data, dtype=np.float32), header=header)
    if path.suffix.lower() in (".fits", ".fit", ".fts"):
        hdu.writeto(path)
        return
    image = casaenv.casatools().image()
    with tempfile.TemporaryDirectory() as tmp:
        fits_path = Path(tmp) / "model.fits"
        hdu.writeto(fits_path)
        image.fromfits(outfile=str(path), infile=str(fits_path))
        image.close()


def _molfit(check: Checker, species, params, molfit):
    from spectuner_nb.errors import MolfitError
    from spectuner_nb.xclass import Molfit, read_molfit

    if molfit:
        if species or params:
            raise check.fail("molfit", molfit, "give either molfit or species + params")
        path = check.existing("molfit", molfit, kind="molfit file")
        try:
            return read_molfit(path)
        except MolfitError as exc:
            raise check.fail("molfit", molfit, str(exc)) from exc
    names = check.species("species", species)
    try:
        values = np.asarray(params, dtype=float).reshape(len(names), -1, 5)
    except (TypeError, ValueError) as exc:
        raise check.fail(
            "params",
            params,
            "give [theta_arcsec, T_ex_K, N_tot_cm-2, dv_kms, voff_kms] per species",
        ) from exc
    if not np.all(np.isfinite(values)) or np.any(values[..., :4] <= 0):
        raise check.fail("params", params, "theta, T_ex, N_tot and dv must be positive")
    return Molfit.from_params(names, list(values))


def spectunerpredict(
    vis: str = "",
    imagename: str | list[str] = "",
    species: str | list[str] = "",
    params: list | tuple = (),
    molfit: str = "",
    field: str = "",
    spw: str = "",
    beam: str | list[str] = "",
    vlsr: float | str = 0.0,
    tbg: float = 0.0,
    outunit: str = "K",
    outfile: str = "",
    overwrite: bool = False,
) -> dict:
    """The LTE model spectrum of ``species``/``params`` or of a ``molfit`` file on a grid.

    The grid is the spectral axis (and pixel grid) of each ``imagename`` cube,
    or the LSRK channels of the selected spws of ``vis`` (a one-pixel image at
    the phase centre). The model is the same in every pixel.

    Parameters
    ----------
    vis, field, spw
        MeasurementSet and its selection ('' = first field, all spws).
    imagename
        Template cube(s) (CASA image or FITS), one per window; ``spw`` selects by index.
    species, params
        Species and, per species, [θ arcsec, T_ex K, N_tot cm⁻², Δv km/s, v_off km/s]
        (or several such rows: velocity components).
    molfit
        An XCLASS molfit file instead of ``species``/``params``.
    beam
        Beam for η and for Jy/beam ('' = the template image's beam; required for vis).
    vlsr
        Systemic velocity, km/s.
    tbg
        Background (continuum) temperature, K.
    outunit
        'K' or 'Jy/beam'.
    outfile
        Output image name: a name ending in ``.fits`` for FITS, else a CASA image; several windows
        get '.spw<i>' before the suffix. '' = return the spectra only.
    overwrite
        Replace existing outputs.

    Returns
    -------
    dict
        ``spectra`` (per window, model per channel in file order, ``unit``),
        ``freqs`` (MHz, observed frame), ``beam`` (arcsec), ``files`` and ``time`` (s).
    """
    with task_context(TASK, dict(locals())) as log:
        start = time.perf_counter()
        check = Checker(TASK)
        check.one_source(vis, imagename, "template images")
        model = _molfit(check, species, params, molfit)
        v_lsr = check.quantity("vlsr", vlsr, "km/s")
        t_bg = check.quantity("tbg", tbg, "K")
        unit = {"k": "K", "jy/beam": "Jy/beam"}[check.choice("outunit", outunit, OUTUNITS)]
        grids, beam_arcsec, labels = _grids(check, vis, imagename, field, spw, beam)
        paths = _outputs(check, outfile, labels, overwrite)
        if (
            any(p.suffix.lower() not in (".fits", ".fit", ".fts") for p in paths)
            and not casaenv.casatools_installed()
        ):
            raise check.fail("outfile", outfile, "CASA images need casatools; name a .fits file")

        from spectuner_nb.beam import kelvin_per_jy_beam
        from spectuner_nb.observation import Observation
        from spectuner_nb.xclass import molfit_spectra

        spectra = []
        for grid in grids:
            order = np.argsort(grid.freq_mhz)
            obs = Observation.from_arrays(
                [grid.freq_mhz[order]],
                [np.zeros(order.size)],
                beam=beam_arcsec,
                rms=1.0,
                T_bg=t_bg,
                v_lsr=v_lsr,
            )
            sorted_model = molfit_spectra(model, obs)[0]
            spectrum = np.empty_like(sorted_model)
            spectrum[order] = sorted_model
            if unit == "Jy/beam":
                spectrum = spectrum / kelvin_per_jy_beam(grid.freq_mhz, beam_arcsec)
            spectra.append(spectrum)
            log.info(
                f"window {len(spectra) - 1}: {spectrum.size} channels, peak "
                f"{np.max(spectrum):.4g} {unit}"
            )
        for k, path in enumerate(paths):  # none when outfile=''
            clear_output(path)
            _write(grids[k], spectra[k], unit, beam_arcsec, path)
            log.info(f"model written to {path}")
        return {
            "spectra": spectra,
            "freqs": [g.freq_mhz for g in grids],
            "unit": unit,
            "beam": list(beam_arcsec),
            "files": [str(p) for p in paths],
            "time": time.perf_counter() - start,
        }


def _grids(check: Checker, vis, imagename, field, spw, beam):
    """Grids of the selected windows, the beam (arcsec) and a label per window."""
    if vis:
        from .visibilities import lsrk_frequencies, spectral_setup

        ms = check.measurement_set("vis", vis)
        setup = spectral_setup(ms)
        field_id = check.field("field", field, setup.fields)
        spws = check.spw("spw", spw, setup.chan_freq)
        if not beam:
            raise check.fail(
                "beam", beam, "a MeasurementSet has no beam: state one, e.g. beam=['1.0arcsec']"
            )
        beam_arcsec = check.beam("beam", beam)
        grids = [
            _ms_grid(lsrk_frequencies(ms, s, field_id, setup), setup.phase_dirs[field_id])
            for s in spws
        ]
        return grids, beam_arcsec, [f"spw{s}" for s in spws]
    images = check.images("imagename", imagename)
    chosen = check.spw("spw", spw, range(len(images)))
    given = check.beam("beam", beam) if beam else None
    read = [_image_grid(images[i], given) for i in chosen]
    beam_arcsec = given if given is not None else read[0][1]
    return [g for g, _ in read], beam_arcsec, [f"spw{i}" for i in chosen]


def _outputs(check: Checker, outfile, labels, overwrite) -> list[Path]:
    if not outfile:
        return []
    base = Path(outfile)
    if len(labels) == 1:
        names = [base]
    else:
        names = [base.with_name(f"{base.stem}.{lab}{base.suffix}") for lab in labels]
    return [check.output("outfile", n, overwrite) for n in names]
