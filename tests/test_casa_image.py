"""The tasks on the real W3(H2O) NOEMA cube converted to a CASA image with casatools.

The FITS cube is read from the shared data folder (never copied); the CASA
image is written to a temporary folder. The maps spectunerfit makes from the
CASA image must be identical to those of ``fit_cube`` on the FITS cube.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from spectuner_nb.casa_tasks import casaenv

from spectuner_nb.settings import shared_data_dir

pytestmark = [
    pytest.mark.casa,
    pytest.mark.skipif(not casaenv.casatools_installed(), reason="casatools absent"),
]

VLSR = -48.0  # km/s, W3(H2O)
BOX = (slice(14, 15), slice(14, 16))  # 2 pixels at the continuum peak


@pytest.fixture(scope="module")
def w3_fits():
    path = shared_data_dir(required=False)
    path = None if path is None else path / "spectra/noema_core_wideX/W3H2O_WideX_ABD_center.fits"
    if path is None or not path.is_file():
        pytest.skip("shared W3(H2O) cube not available")
    return path


@pytest.fixture(scope="module")
def w3_image(w3_fits, tmp_path_factory):
    """The W3(H2O) cube as a CASA image (casatools image.fromfits = importfits)."""
    image = tmp_path_factory.mktemp("casa_image") / "w3h2o.im"
    ia = casaenv.casatools().image()
    ia.fromfits(outfile=str(image), infile=str(w3_fits))
    ia.close()
    return image


@pytest.mark.slow
def test_fit_of_the_casa_image_equals_fit_cube_on_the_fits(w3_fits, w3_image, tmp_path):
    from spectuner_nb.casa_tasks import spectunerfit

    from spectuner_nb.cube import CubeFitResult, fit_cube, load_cubes

    out = tmp_path / "w3fit"
    summary = spectunerfit(
        imagename=str(w3_image),
        species="CH3OH",
        vlsr=f"{VLSR}km/s",
        box="14,14,15,14",
        loss="chi2",
        usepolicy=False,
        ninit=20,
        outdir=str(out),
    )
    assert summary["mode"] == "image" and summary["npix"] == 2
    cubes = load_cubes(w3_fits, v_lsr=VLSR)
    mask = np.zeros(cubes.shape, bool)
    mask[BOX] = True
    direct = fit_cube(
        cubes,
        ["CH3OH"],
        loss="chi2",
        init="random",
        optimizer="slsqp",
        n_init=20,
        seed=0,
        mask=mask,
        client=False,
        progress=False,
        workdir=tmp_path / "direct",
    )
    task = CubeFitResult.read(out)
    assert np.array_equal(task.x, direct.x, equal_nan=True)
    assert np.array_equal(task.loss, direct.loss, equal_nan=True)
    assert np.isfinite(task.x[BOX]).all() and np.isnan(task.x[0, 0]).all()
    maps = sorted(p.name for p in out.glob("*T_ex*.fits"))
    assert len(maps) == 1, maps
    t_ex = fits.getdata(out / maps[0])
    assert np.array_equal(
        t_ex, direct.map(direct.species[0], "T_ex").astype(np.float32), equal_nan=True
    )


def test_prep_of_the_casa_image_reports_masks_and_noise(w3_fits, w3_image, tmp_path):
    from spectuner_nb.casa_tasks import spectunerprep

    from spectuner_nb.cube import load_cubes, preprocess

    mask = tmp_path / "mask.fits"
    summary = spectunerprep(imagename=str(w3_image), vlsr=VLSR, maskfile=str(mask))
    direct = preprocess(load_cubes(w3_fits, v_lsr=VLSR))
    assert summary["rmsglobal"] == pytest.approx(list(direct.rms_global))
    assert summary["npix"] == 900 and summary["nkept"] == int(direct.keep.sum())
    assert summary["report"] == direct.report()
    assert np.array_equal(fits.getdata(mask) == 0, direct.keep)


def test_predict_on_the_image_grid(w3_image, tmp_path):
    from spectuner_nb.casa_tasks import spectunerpredict

    out = tmp_path / "model.fits"
    summary = spectunerpredict(
        imagename=str(w3_image),
        species="CH3OH",
        params=[[0.5, 150.0, 1e18, 5.0, 0.0]],
        vlsr=VLSR,
        outfile=str(out),
    )
    data = fits.getdata(out)
    header = fits.getheader(out)
    assert data.shape == (400, 30, 30) and header["BUNIT"] == "K"
    assert np.array_equal(data[:, 3, 7], data[:, 20, 11])
    assert np.allclose(data[:, 0, 0], summary["spectra"][0], rtol=1e-6)
    assert summary["spectra"][0].max() > 1.0  # CH3OH 4(2)-3(1) at 218.440 GHz
