"""Display quantities of a cube (spectuner_nb.cube.maps): moment 0 over a velocity range,
box averages, K ↔ Jy/beam, radio velocities."""

from __future__ import annotations

import numpy as np
import pytest

from spectuner_nb.constants import C_KM_S
from spectuner_nb.cube.load import CubeWindow, kelvin_per_jy_beam
from spectuner_nb.cube.maps import (
    box_spectra,
    brightness_factor,
    channel_map,
    moment0_map,
    peak_map,
    radio_velocity,
    sky_frequency,
)
from spectuner_nb.errors import CubeError, ObservationError


def _window(data: np.ndarray, freq: np.ndarray) -> CubeWindow:
    return CubeWindow(
        data=data,
        freq_mhz=freq,
        beams=np.tile([1.0, 0.5, 0.0], (freq.size, 1)),
        bad=np.zeros(freq.size, bool),
    )


def test_moment0_of_flat_spectrum_is_width_in_kms():
    freq = np.linspace(100000.0, 100010.0, 11)  # 1 MHz channels at 100 GHz → 2.998 km/s
    win = _window(np.ones((11, 2, 2)), freq)
    dv = C_KM_S * 1.0 / 100005.0
    np.testing.assert_allclose(moment0_map(win), 11 * dv, rtol=1e-9)
    rest = 100005.0  # v = 0 at the centre channel; ±1.5 channels → 3 channels
    v = radio_velocity(freq, rest)
    np.testing.assert_allclose(v[5], 0.0, atol=1e-9)
    np.testing.assert_allclose(moment0_map(win, (-1.5 * dv, 1.5 * dv), rest), 3 * dv, rtol=1e-9)
    assert np.isnan(moment0_map(win, (1e4, 2e4), rest)).all()
    with pytest.raises(CubeError):
        moment0_map(win, (-1.0, 1.0))


def test_velocity_conventions():
    rest = np.array([230538.0])
    sky = sky_frequency(rest, -48.0)
    np.testing.assert_allclose(radio_velocity(sky, rest[0]), -48.0, rtol=1e-12)
    with pytest.raises(ObservationError, match="rest frequency"):
        radio_velocity(sky, 0.0)


def test_units_peak_channel_maps():
    freq = np.array([218000.0, 218001.0, 218002.0])
    data = np.arange(12, dtype=float).reshape(3, 2, 2)
    win = _window(data, freq)
    factor = brightness_factor(win, "Jy/beam")
    np.testing.assert_allclose(factor * kelvin_per_jy_beam(freq, win.beams), 1.0)
    np.testing.assert_allclose(peak_map(win), data[2])
    np.testing.assert_allclose(channel_map(win, 1, "Jy/beam"), data[1] * factor[1])
    with pytest.raises(CubeError):
        brightness_factor(win, "mJy")
    with pytest.raises(CubeError):
        channel_map(win, 3)


def test_box_mean_spectrum(small_synthetic_cube):
    cubes = small_synthetic_cube.cubes
    spectra, t_bg = box_spectra(cubes, (2, 1, 0, 1))  # corners in any order
    expected = cubes.windows[0].data[:, 0:2, 1:3].mean(axis=(1, 2))
    np.testing.assert_allclose(spectra[0], expected, rtol=1e-6)
    assert t_bg.shape == (1,)
    with pytest.raises(CubeError):
        box_spectra(cubes, (0, 4, 0, 0))
