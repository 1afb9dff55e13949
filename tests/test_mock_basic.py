"""Mock observations: reproducible, consistent with the model, realistic knobs."""

from __future__ import annotations

import numpy as np
import pytest
from fit_helpers import real_catalog

from spectuner_nb.errors import FitError
from spectuner_nb.mock import BANDS, available_species, mock_dataset, mock_spectrum
from spectuner_nb.model import LTEModel


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return real_catalog(tmp_path_factory.mktemp("cat") / "cat.sqlite")


def test_seeded_and_consistent_with_the_model(catalog):
    a = mock_spectrum(["HC3N", "OCS"], band=6, catalog=catalog, seed=11)
    b = mock_spectrum(["HC3N", "OCS"], band=6, catalog=catalog, seed=11)
    for ya, yb in zip(a.obs.intensities, b.obs.intensities, strict=True):
        np.testing.assert_array_equal(ya, yb)
    assert a.species == ["HC3N;v=0;", "OCS;v=0;"]
    assert a.params.shape == (2, 5) and a.obs.n_windows == 2
    lines = [catalog.lines(s, a.obs.windows) for s in a.species]
    model = LTEModel(a.obs.rest_freqs, lines, beam=a.obs.beam, T_bg=a.obs.T_bg[0])
    for clean, again in zip(a.model, model(a.params), strict=True):
        np.testing.assert_allclose(clean, again, rtol=1e-12, atol=1e-12)
    resid = np.concatenate(a.obs.intensities) - np.concatenate(a.model)
    assert np.std(resid) == pytest.approx(a.obs.rms[0], rel=0.1)  # the noise is what rms says
    peak = max(float(np.max(m)) for m in a.model)
    assert peak >= 5.0 * a.obs.rms[0]  # line-rich mocks show lines
    np.testing.assert_allclose(
        a.params_fit[:, 1:],
        np.column_stack(
            [a.params[:, 1], np.log10(a.params[:, 2]), np.log10(a.params[:, 3]), a.params[:, 4]]
        ),
    )
    assert np.all(a.params_fit[:, 0] < 0)


@pytest.mark.parametrize("band", sorted(BANDS))
def test_bands_beams_and_channels(catalog, band):
    m = mock_spectrum(
        ["HC3N"], band=band, regime="line-poor", n_channels=256, catalog=catalog, seed=band
    )
    lo, hi = BANDS[band]["range_mhz"]
    dnu = BANDS[band]["channel_mhz"]
    for f in m.obs.freqs:
        assert f.size == 256 and np.allclose(np.diff(f), dnu)
        assert lo - 256 * dnu < f[0] < hi
    bmin, bmax = BANDS[band]["beam_arcsec"]
    assert bmin <= m.obs.beam[0] <= bmax and m.obs.beam[1] <= m.obs.beam[0]
    assert 0.0 <= m.obs.T_bg[0] <= 3.0
    assert m.truth("HC3N;v=0;").shape == (5,)


def test_dataset_cycles_bands_and_regimes(catalog):
    data = mock_dataset(4, seed=2, bands=(3, 6), catalog=catalog, n_channels=128)
    assert [(m.band, m.regime) for m in data] == [
        (3, "line-rich"),
        (6, "line-rich"),
        (3, "line-poor"),
        (6, "line-poor"),
    ]
    assert set(available_species(catalog)) >= {"HC3N;v=0;", "OCS;v=0;"}
    assert all(set(m.species) <= set(available_species(catalog)) for m in data)


def test_errors(catalog):
    with pytest.raises(FitError, match="band"):
        mock_spectrum(["HC3N"], band=4, catalog=catalog)
    with pytest.raises(FitError, match="regime"):
        mock_spectrum(["HC3N"], regime="dense", catalog=catalog)
    with pytest.raises(FitError, match="truth|not in this mock"):
        mock_spectrum(["HC3N"], catalog=catalog, seed=0).truth("OCS;v=0;")
