"""Table 1 parameter spaces and θ ↔ η conversions (spectuner_nb.parameters)."""

import numpy as np
import pytest

from spectuner_nb.errors import ModelInputError, SpectunerError
from spectuner_nb.parameters import (
    TABLE1_BOUNDS,
    at_bound,
    beam_size_sq,
    eta_from_theta,
    fit_to_physical,
    physical_to_fit,
    reference_beam_sq,
    theta_from_eta,
)


def test_table1_values():
    assert TABLE1_BOUNDS.shape == (5, 2)
    assert TABLE1_BOUNDS[0].tolist() == [-3.0, -0.00043]
    assert TABLE1_BOUNDS[2].tolist() == [12.0, 22.0]


def test_eta_theta_round_trip():
    tb2 = 0.58 * 0.42
    theta = np.array([0.01, 0.3, 1.0, 30.0])
    eta = eta_from_theta(theta, tb2)
    np.testing.assert_allclose(theta_from_eta(eta, tb2), theta, rtol=1e-12)
    # a source as big as the beam fills half of it
    assert eta_from_theta(np.sqrt(tb2), tb2) == pytest.approx(0.5)


def test_fit_physical_round_trip():
    rng = np.random.default_rng(1)
    x = rng.uniform(TABLE1_BOUNDS[:, 0], TABLE1_BOUNDS[:, 1], size=(100, 3, 5))
    tb2 = 1.3
    np.testing.assert_allclose(physical_to_fit(fit_to_physical(x, tb2), tb2), x, atol=1e-9)


def test_single_dish_beam_scales_with_frequency():
    # 12 m dish at 230 GHz: θ_b = 1.22 λ/D ≈ 27.4″
    tb2 = beam_size_sq(12.0, np.array([230e3, 115e3]))
    assert np.sqrt(tb2[0]) == pytest.approx(27.35, rel=2e-3)
    assert tb2[1] / tb2[0] == pytest.approx(4.0)
    assert reference_beam_sq((0.5, 0.4), 1e5) == pytest.approx(0.2)


@pytest.mark.parametrize("beam", [0.0, -3.0, (1.0,), (1.0, -1.0), (np.nan, 1.0)])
def test_bad_beam_is_typed_error(beam):
    with pytest.raises(ModelInputError):
        beam_size_sq(beam, 1e5)


def test_bad_values_are_typed_errors():
    with pytest.raises(SpectunerError):
        theta_from_eta(1.0, 1.0)
    with pytest.raises(ModelInputError):
        physical_to_fit(np.array([1.0, -5.0, 1e15, 1.0, 0.0]), 1.0)
    with pytest.raises(ModelInputError):
        fit_to_physical(np.zeros(4), 1.0)


def test_at_bound():
    x = np.array([[-3.0, 500.0, 17.0, 0.5, 12.0]])
    assert at_bound(x).tolist() == [[True, False, False, False, True]]
