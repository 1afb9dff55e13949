"""Loading cubes: units (Jy/beam → K), frequencies, beams, masks, WCS (real NOEMA data)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.wcs import WCS

from spectuner_nb.constants import C_KM_S
from spectuner_nb.cube.load import kelvin_per_jy_beam, load_cubes
from spectuner_nb.errors import CubeError
from spectuner_nb.settings import shared_data_dir

DATA = shared_data_dir(required=False)
W3 = None if DATA is None else DATA / "spectra/noema_core_wideX/W3H2O_WideX_ABD_center.fits"
needs_data = pytest.mark.skipif(W3 is None or not W3.exists(), reason="shared data not found")


def _astropy_k_per_jy(freq_mhz, bmaj, bmin):
    area = np.pi * bmaj * bmin / (4 * np.log(2)) * u.arcsec**2
    return (1 * u.Jy).to_value(u.K, u.brightness_temperature(freq_mhz * u.MHz, beam_area=area))


@needs_data
def test_w3h2o_cube_in_kelvin_with_sky_frequencies():
    cubes = load_cubes(W3, v_lsr=-48.5 * u.km / u.s)
    (w,) = cubes.windows
    assert cubes.shape == (30, 30)
    assert w.data.shape == (400, 30, 30) and w.data.dtype == np.float32
    # VRAD axis (LSRK, radio convention, RESTFRQ of C18O) → 218.18–218.96 GHz ascending
    assert w.freq_range_mhz == pytest.approx((218182.909, 218962.119), abs=1e-3)
    assert np.all(np.diff(w.freq_mhz) > 0)
    assert w.beam_arcsec == pytest.approx((0.576199, 0.422003), rel=1e-5)
    with fits.open(W3) as hdul:
        raw = hdul[0].data[:, 12, 17]  # Jy/beam; velocity descends, so frequency ascends
    factor = _astropy_k_per_jy(w.freq_mhz, 0.57619928571696, 0.4220029189548)
    np.testing.assert_allclose(w.data[:, 12, 17], raw * factor, rtol=1e-5, atol=1e-5)
    assert float(np.nanmax(w.data)) == pytest.approx(73.97, abs=0.01)
    assert cubes.v_lsr == -48.5
    assert isinstance(cubes.wcs, WCS) and cubes.wcs.naxis == 2
    assert cubes.wcs.wcs.ctype[0] == "RA---ARC"


def test_kelvin_factor_matches_astropy_per_channel_beams():
    freq = np.array([100e3, 230e3, 345e3])
    beams = np.array([[0.5, 0.4, 0], [1.0, 0.8, 10], [0.5, 0.4, 0]])
    want = [_astropy_k_per_jy(f, b[0], b[1]) for f, b in zip(freq, beams, strict=True)]
    np.testing.assert_allclose(kelvin_per_jy_beam(freq, beams), want, rtol=1e-10)


def _write_cube(path, data, unit="Jy/beam", beams=None, freq0=2.2e11, step=1e6):
    from spectral_cube import SpectralCube, VaryingResolutionSpectralCube

    wcs = WCS(naxis=3)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN", "FREQ"]
    wcs.wcs.cunit = ["deg", "deg", "Hz"]
    wcs.wcs.cdelt = [-1e-5, 1e-5, step]
    wcs.wcs.crval = [10.0, 20.0, freq0]
    wcs.wcs.crpix = [1, 1, 1]
    q = data * u.Unit(unit)
    if beams is not None:
        cube = VaryingResolutionSpectralCube(data=q, wcs=wcs, beams=beams)
    else:
        from radio_beam import Beam

        cube = SpectralCube(data=q, wcs=wcs).with_beam(
            Beam(0.5 * u.arcsec, 0.4 * u.arcsec), raise_error_jybm=False
        )
    cube.write(path, overwrite=True)
    return path


def test_per_channel_beams_descending_axis_bad_channels_and_continuum(tmp_path):
    from radio_beam import Beams

    n = 6
    beams = Beams(
        major=np.linspace(0.5, 0.7, n) * u.arcsec,
        minor=np.full(n, 0.4) * u.arcsec,
        pa=np.zeros(n) * u.deg,
    )
    path = _write_cube(tmp_path / "vr.fits", np.ones((n, 3, 4)), beams=beams, step=-1e6)
    cont = tmp_path / "cont.fits"
    hdr = WCS(str(path)).celestial.to_header()
    hdr.update(BUNIT="Jy/beam", BMAJ=0.5 / 3600, BMIN=0.4 / 3600)
    fits.PrimaryHDU(np.full((3, 4), 0.01), header=hdr).writeto(cont)
    cubes = load_cubes([path], continuum=[cont], bad_channels=[[(0, 1)]])
    w = cubes.windows[0]
    assert np.all(np.diff(w.freq_mhz) > 0)
    # file channel 0 (highest frequency, 0.5" beam) is now last
    np.testing.assert_allclose(w.beams[::-1, 0], np.linspace(0.5, 0.7, n))
    np.testing.assert_allclose(w.data[:, 0, 0], kelvin_per_jy_beam(w.freq_mhz, w.beams), rtol=1e-6)
    assert w.bad.tolist() == [False] * 4 + [True] * 2  # file channels 0–1 = the top two
    k = _astropy_k_per_jy(w.freq_mhz.mean(), 0.5, 0.4)
    np.testing.assert_allclose(w.continuum_k, 0.01 * k, rtol=1e-5)
    spec = cubes.spectra([0], [0])[0]
    assert spec.shape == (1, 4)
    masked = cubes.spectra([0], [0], masked=True)[0]
    assert masked.shape == (1, 6) and np.isnan(masked[0, 4:]).all()
    np.testing.assert_allclose(cubes.t_background([2], [3]), [[0.01 * k]], rtol=1e-5)


def test_kelvin_cube_and_observation_rest_frame(tmp_path):
    from spectuner_nb.observation import Observation

    path = _write_cube(
        tmp_path / "k.fits", np.random.default_rng(1).normal(size=(50, 2, 2)), unit="K"
    )
    cubes = load_cubes(path, v_lsr=30.0)
    w = cubes.windows[0]
    with fits.open(path) as hdul:
        np.testing.assert_allclose(w.data[:, 1, 0], hdul[0].data[:, 1, 0], rtol=1e-6)
    obs = Observation.from_arrays(
        [w.freq_mhz], [cubes.spectra([1], [0])[0][0]], beam=cubes.beam_arcsec, v_lsr=cubes.v_lsr
    )
    np.testing.assert_allclose(obs.rest_freqs[0], w.freq_mhz / (1 - 30.0 / C_KM_S))


def test_errors(tmp_path):
    with pytest.raises(CubeError, match="not found"):
        load_cubes(tmp_path / "missing.fits")
    a = _write_cube(tmp_path / "a.fits", np.ones((5, 3, 4)))
    b = _write_cube(tmp_path / "b.fits", np.ones((5, 2, 4)))
    with pytest.raises(CubeError, match="grid"):
        load_cubes([a, b])
    with pytest.raises(CubeError, match="outside"):
        load_cubes(a, bad_channels=[[(3, 9)]])
