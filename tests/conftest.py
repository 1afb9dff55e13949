"""Fixtures shared across test areas (keep minimal)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def small_synthetic_cube():
    """A 4×4-pixel, one-window (200 channels, 218.15–218.55 GHz) synthetic CH3OH cube,
    v_LSR = −5 km/s, seed 3 (:func:`spectuner_nb.cube.synthetic.make_synthetic_cube`)."""
    from spectuner_nb.cube.synthetic import make_synthetic_cube

    return make_synthetic_cube(("CH3OH",), shape=(4, 4), n_channels=200, v_lsr=-5.0, seed=3)


@pytest.fixture(scope="session")
def shared_catalogs():
    """``<shared data>/catalogs`` (real CDMS/JPL/LAMDA/Splatalogue files); skip when absent."""
    from spectuner_nb.settings import shared_data_dir

    root = shared_data_dir(required=False)
    if root is None:
        pytest.skip("shared catalogs not available")
    return root / "catalogs"


def pytest_collection_modifyitems(items):
    """Browser tests (a Voilà server and chromium) belong to the slow tier too."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)
