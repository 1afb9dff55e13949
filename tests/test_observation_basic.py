"""Observation: constructors, unit conversion, masking and validation errors."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from fit_helpers import w3h2o_cube

from spectuner_nb.constants import C_KM_S
from spectuner_nb.errors import ObservationError
from spectuner_nb.observation import Observation, jy_per_beam_to_k, robust_rms

BEAM = (0.5, 0.4)


def _freq(n=200, f0=230_000.0, df=0.5):
    return f0 + df * np.arange(n)


def test_from_arrays_single_window_in_k():
    f = _freq()
    y = np.random.default_rng(0).normal(0, 0.1, f.size)
    obs = Observation.from_arrays(f, y, beam=BEAM, T_bg=3.0, v_lsr=-10.0)
    assert obs.n_windows == 1 and obs.n_channels == 200
    assert obs.T_bg.tolist() == [3.0]
    assert obs.rms[0] == pytest.approx(0.1, rel=0.15)
    # rest frame: ν_rest = ν_obs / (1 − v_LSR/c)
    assert obs.rest_freqs[0][0] == pytest.approx(f[0] / (1 + 10.0 / C_KM_S), rel=1e-12)
    assert obs.theta_b_sq_ref == pytest.approx(0.2)


def test_quantities_and_several_windows():
    f1, f2 = _freq(), _freq(f0=231_000.0)
    obs = Observation.from_arrays(
        [f1 * u.MHz, (f2 / 1e3) * u.GHz],
        [np.zeros(200) * u.K, np.ones(200) * u.mK],
        beam=(0.5 * u.arcsec, 400 * u.mas),
        rms=[0.1, 0.2],
    )
    assert obs.n_windows == 2
    np.testing.assert_allclose(obs.freqs[1], f2)
    np.testing.assert_allclose(obs.intensities[1], 1e-3)
    assert obs.beam == pytest.approx((0.5, 0.4))


def test_jy_per_beam_matches_astropy():
    f = _freq()
    obs = Observation.from_arrays(f, np.ones(f.size), beam=BEAM, unit="Jy/beam", rms=0.1)
    omega = (np.pi / (4 * np.log(2))) * (0.5 * u.arcsec) * (0.4 * u.arcsec)
    expected = (1 * u.Jy).to(u.K, u.brightness_temperature(f[0] * u.MHz, beam_area=omega))
    assert obs.intensities[0][0] == pytest.approx(expected.value, rel=1e-9)
    assert jy_per_beam_to_k(f, BEAM)[0] == pytest.approx(expected.value, rel=1e-9)


def test_radio_beam_and_dish():
    from radio_beam import Beam

    f = _freq()
    obs = Observation.from_arrays(
        f, np.zeros(f.size), beam=Beam(0.5 * u.arcsec, 0.4 * u.arcsec), rms=0.1
    )
    assert obs.beam == pytest.approx((0.5, 0.4))
    dish = Observation.from_arrays(f, np.zeros(f.size), beam=12 * u.m, rms=0.1)
    assert dish.is_single_dish and dish.beam == 12.0


def test_nans_are_masked_not_propagated():
    f = _freq()
    y = np.zeros(f.size)
    y[:3] = np.nan  # trimmed
    y[100:110] = np.nan  # splits the window
    obs = Observation.from_arrays(f, y, beam=BEAM, rms=0.1)
    assert obs.n_windows == 2
    assert all(np.all(np.isfinite(v)) for v in obs.intensities)
    assert obs.n_channels == 200 - 13
    assert obs.rms.tolist() == [0.1, 0.1]


@pytest.mark.parametrize(
    "freq, data, kwargs, message",
    [
        (_freq()[::-1], np.zeros(200), {}, "ascending"),
        (np.repeat(_freq(100), 2), np.zeros(200), {}, "duplicated"),
        (np.zeros(0), np.zeros(0), {}, "empty"),
        (_freq(), np.full(200, np.nan), {}, "finite"),
        (_freq(), np.zeros(200), {"beam": None}, "missing beam"),
        (_freq(), np.zeros(200), {"unit": "furlong"}, "unit"),
        (_freq(), np.zeros(200), {"unit": "W"}, "neither"),
        (_freq(), np.zeros(199), {}, "frequencies for"),
        (_freq(), np.zeros(200), {"rms": [0.1, 0.2]}, "rms"),
    ],
)
def test_validation_errors(freq, data, kwargs, message):
    args = {"beam": BEAM, "rms": 0.1} | kwargs
    with pytest.raises(ObservationError, match=message):
        Observation.from_arrays(freq, data, **args)


def test_robust_rms_ignores_lines():
    rng = np.random.default_rng(1)
    y = rng.normal(0, 0.05, 4000)
    y[1000:1040] += 5.0
    y[3000:3100] += 2.0
    assert robust_rms(y) == pytest.approx(0.05, rel=0.1)


def test_cube_pixel_of_real_w3h2o():
    path = w3h2o_cube()
    obs = Observation.from_cube_pixel(path, 15, 15, v_lsr=-48.5)
    assert obs.beam == pytest.approx((0.5762, 0.4220), abs=1e-3)
    assert obs.n_windows == 1 and obs.n_channels == 400
    f = obs.freqs[0]
    assert np.all(np.diff(f) > 0) and f[0] == pytest.approx(218182.9, abs=0.5)
    from astropy.io import fits

    raw = fits.getdata(path)[:, 15, 15]
    # the file's radio-velocity axis decreases, so its frequencies already ascend
    k = jy_per_beam_to_k(f, obs.beam)
    np.testing.assert_allclose(obs.intensities[0], raw * k, rtol=1e-10)
    assert 10.0 < obs.intensities[0].max() < 200.0  # a bright hot-core pixel, in K
    with pytest.raises(ObservationError, match="outside"):
        Observation.from_cube_pixel(path, 40, 0)


def test_from_fits_1d_and_dict_round_trip(tmp_path):
    from astropy.io import fits

    f = _freq()
    header = fits.Header(
        {
            "CTYPE1": "FREQ",
            "CUNIT1": "Hz",
            "CRPIX1": 1.0,
            "CRVAL1": f[0] * 1e6,
            "CDELT1": 0.5e6,
            "BUNIT": "K",
            "BMAJ": 0.5 / 3600,
            "BMIN": 0.4 / 3600,
        }
    )
    path = tmp_path / "spec.fits"
    fits.PrimaryHDU(np.linspace(0, 1, f.size), header).writeto(path)
    obs = Observation.from_fits(path, rms=0.1)
    np.testing.assert_allclose(obs.freqs[0], f)
    assert obs.beam == pytest.approx((0.5, 0.4))
    again = Observation.from_dict(obs.to_dict())
    np.testing.assert_array_equal(again.intensities[0], obs.intensities[0])
    assert again.beam == obs.beam
