"""Pixel selection of docs/method.md §8: global rms, peak cuts, local rms, bins, report, cache."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

import spectuner_nb.cube.preprocessing as pp
from spectuner_nb.cube.load import CubeSet, CubeWindow, load_cubes
from spectuner_nb.cube.synthetic import celestial_wcs
from spectuner_nb.settings import shared_data_dir


def _cube(ny=6, nx=5, n_chan=400, rms=0.1, seed=3):
    """Noise 0.1 K; (0, *) 10 lines of 2 K; (1, *) 2 lines; (2, 0) noisy (0.3 K) with 0.7 K
    lines; (3, 0) NaN; the rest noise only.  Two identical windows."""
    rng = np.random.default_rng(seed)
    chan = np.arange(n_chan)
    lines10 = sum(2.0 * np.exp(-0.5 * ((chan - c) / 2.0) ** 2) for c in np.linspace(20, 380, 10))
    lines2 = sum(2.0 * np.exp(-0.5 * ((chan - c) / 2.0) ** 2) for c in (100, 300))
    lines_w = lines10 * 0.35
    windows = []
    for w in range(2):
        data = rng.normal(0, rms, (n_chan, ny, nx))
        data[:, 0, :] += lines10[:, None]
        data[:, 1, :] += lines2[:, None]
        data[:, 2, 0] = rng.normal(0, 0.3, n_chan) + lines_w
        data[5, 3, 0] = np.nan
        freq = 230000.0 + 0.5 * chan + 1000 * w
        windows.append(
            CubeWindow(
                data=data.astype(np.float32),
                freq_mhz=freq,
                beams=np.tile([0.5, 0.4, 0.0], (n_chan, 1)),
                bad=np.zeros(n_chan, bool),
            )
        )
    return CubeSet(windows=windows, wcs=celestial_wcs((ny, nx), 0.1))


def test_selection_reasons_and_bins(tmp_path):
    cubes = _cube()
    res = pp.preprocess(cubes, cache=False)
    np.testing.assert_allclose(res.rms_global, 0.1, rtol=0.05)
    assert res.reason[0].tolist() == [pp.KEPT] * 5
    assert res.reason[1].tolist() == [pp.FEW_PEAKS_GLOBAL] * 5
    assert res.reason[2, 0] == pp.FEW_PEAKS_LOCAL
    assert np.all((res.rms_local[:, 2, 0] > 0.28) & (res.rms_local[:, 2, 0] < 0.4))
    assert res.reason[3, 0] == pp.INVALID
    assert np.all(res.reason[4:] == pp.FEW_PEAKS_GLOBAL)
    assert np.all(res.n_peaks_global[:, 0, :] == 10)
    assert np.all(res.n_peaks_local[:, 0, :] == 10)
    assert np.all(res.n_peaks_local[:, 1, :] == -1)  # not computed for dropped pixels
    assert np.all(res.bins[0] >= 0) and np.all(res.bins[1:] == -1)
    iy, ix = res.pixels()
    assert iy.tolist() == [0] * 5 and ix.tolist() == list(range(5))
    text = res.report()
    assert "5  kept" in text and "bin 0" in text and "1  no finite data" in text
    path = res.write_mask(tmp_path / "mask.fits", cubes.wcs)
    with fits.open(path) as hdul:
        assert hdul[0].data.shape == (6, 5) and hdul[0].header["CTYPE1"] == "RA---SIN"
        assert hdul["PEAKBIN"].data[0, 0] >= 0 and "kept" in hdul[0].header["REASON0"]


def test_count_peaks_threshold():
    x = np.zeros((2, 50))
    x[0, [10, 30]] = [1.0, 0.3]
    x[1, 20] = 5.0
    assert pp.count_peaks(x, [0.5, 6.0]).tolist() == [1, 0]


def test_cache_reused(tmp_path, monkeypatch):
    cubes = _cube()
    first = pp.preprocess(cubes, cache=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1

    def boom(*args, **kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr(pp, "_select", boom)
    again = pp.preprocess(cubes, cache=tmp_path)
    np.testing.assert_array_equal(again.reason, first.reason)
    np.testing.assert_array_equal(again.rms_local, first.rms_local)
    assert again.config == first.config
    with pytest.raises(AssertionError, match="recomputed"):
        pp.preprocess(cubes, pp.PreprocessConfig(n_cut=2), cache=tmp_path)


W3 = shared_data_dir(required=False)


@pytest.mark.skipif(W3 is None, reason="shared data not found")
def test_w3h2o_numbers():
    cubes = load_cubes(W3 / "spectra/noema_core_wideX/W3H2O_WideX_ABD_center.fits")
    res = pp.preprocess(cubes, cache=False)
    assert res.rms_global[0] == pytest.approx(0.2137, abs=0.002)
    assert res.keep.sum() == 900  # a line-rich 30x30 crop of the hot core
    assert res.n_peaks_global.max() == 28
    assert [int(np.sum(res.bins == b)) for b in range(5)] == [113, 254, 240, 209, 84]
