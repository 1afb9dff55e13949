"""PartitionFunction interpolation and LineList selection."""

import numpy as np
import pytest

from spectuner_nb.catalog import LineList, PartitionFunction
from spectuner_nb.catalog.linelist import default_pad_kms
from spectuner_nb.errors import CatalogError


def test_loglog_interpolation_exact_for_power_law():
    t = np.array([9.375, 18.75, 37.5, 75.0, 150.0, 300.0])
    pf = PartitionFunction.from_table(t, 2.0 * t**1.5)
    for temp in (12.0, 100.0, 250.0):
        assert pf(temp) == pytest.approx(2.0 * temp**1.5, rel=1e-12)
    # extrapolation with the power law of the two outermost nodes, flagged
    assert pf(1000.0) == pytest.approx(2.0 * 1000.0**1.5, rel=1e-12)
    assert bool(pf.is_extrapolated(1000.0)) and not bool(pf.is_extrapolated(100.0))


def test_gaps_are_dropped_not_zeros():
    pf = PartitionFunction.from_log10([300, 225, 150, 75], [np.nan, 2.0, 1.5, 1.0])
    assert pf.temperature.tolist() == [75.0, 150.0, 225.0]
    with pytest.raises(CatalogError):
        PartitionFunction.from_table([300.0, 150.0], [np.nan, 1.0], name="X")


def _lines():
    pf = PartitionFunction.from_table([10.0, 300.0], [10.0, 1000.0])
    return LineList.from_mapping(
        "TEST",
        {
            "freq": [230100.0, 230000.0, 231000.0],
            "A_ul": [1e-5, 2e-5, 3e-5],
            "E_low": [10.0, 20.0, 30.0],
            "g_u": [3, 5, 7],
            "Q_T": (pf.temperature, pf.q),
        },
    )


def test_from_mapping_sorts_and_derives_e_up():
    ll = _lines()
    assert ll.freq.tolist() == [230000.0, 230100.0, 231000.0]
    assert ll.A_ul.tolist() == [2e-5, 1e-5, 3e-5]
    # E_up - E_low = hν/k: 230 GHz ↔ 11.04 K
    assert ll.E_up[0] - ll.E_low[0] == pytest.approx(11.038, rel=1e-3)


def test_window_padding_keeps_edge_lines():
    ll = _lines()
    pad = default_pad_kms()
    assert pad == pytest.approx(12 + 5 * 10**1.5)
    # a window ending 50 MHz below a line still includes it (pad ≈ 130 MHz at 230 GHz)
    assert len(ll.in_windows([(229000.0, 229950.0)])) == 1
    assert len(ll.in_windows([(229000.0, 229950.0)], pad_kms=0.0)) == 0
    assert len(ll.in_windows([(230050.0, 230150.0)], pad_kms=0.0)) == 1


def test_table_has_units():
    table = _lines().to_table()
    assert str(table["freq"].unit) == "MHz" and str(table["E_up"].unit) == "K"
