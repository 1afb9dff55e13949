"""The CH3OCH3 weights defect, its detector, and the choice of partition function."""

import numpy as np
import pytest

from spectuner_nb.catalog.consistency import lgint_q300, strength_ratio, symmetry_a_spread
from spectuner_nb.catalog.partfunc import partition_for_tag
from spectuner_nb.catalog.starter import read_manifest


@pytest.fixture(scope="module")
def starter(tmp_path_factory):
    from spectuner_nb.catalog import TransitionCache
    from spectuner_nb.catalog.starter import import_starter

    cache = TransitionCache(tmp_path_factory.mktemp("starter") / "t.sqlite")
    import_starter(cache)
    return cache


def test_ch3och3_intensity_matches_rigid_rotor(starter):
    """4(1,4)–3(0,3) EE: rigid-rotor A_ul 5.53e-6 s⁻¹ (μ_b = 1.302 D) times the spin weight 16;
    g_u·A_ul/Q must equal 16·9·5.53e-6/Q_JPL (it was 18 times larger with Q divided by 18)."""
    ll = starter.lines("CH3OCH3", [(99325.0, 99325.4)], pad_kms=0.0)
    i = int(np.argmin(np.abs(ll.freq - 99325.208)))
    assert ll.g_u[i] == 9 and str(ll.qn[i]).endswith("EE")
    q_jpl = partition_for_tag(46008).partition
    for t in (9.375, 37.5, 150.0, 300.0):
        assert ll.partition(t) == pytest.approx(q_jpl(t), rel=1e-9)
        assert ll.g_u[i] * ll.A_ul[i] / ll.partition(t) == pytest.approx(
            16 * 9 * 5.53e-6 / q_jpl(t), rel=0.01
        )


def test_weights_detector_finds_only_ch3och3(starter):
    """The A_ul of symmetry components in 16:10:6:4 are caught; A/E species with equal A_ul
    (CH3OCHO, CH3CHO, CH3OH) are not."""
    assert symmetry_a_spread(starter.linelist("CH3OCH3")) == pytest.approx(4.0, rel=0.05)
    for name in ("CH3OCHO", "CH3CHO", "CH3OH", "CH3NC", "C2H5CN"):
        assert symmetry_a_spread(starter.linelist(name)) < 1.2, name
    flagged = [
        r["name"]
        for r in read_manifest()["species"]
        if "a_ul_carries_weights" in r["provenance"]["flags"]
    ]
    assert flagged == ["CH3OCH3;v=0;"]


def test_strength_and_lgint_checks_on_known_values():
    """The dipole formula and the LGINT↔Q(300 K) relation on a CDMS CO line
    (c028503: 115271.2018 MHz, LGINT −5.0105, E_low 0, g_u 3, Q(300) 108.8651)."""
    from spectuner_nb.catalog.spcat import lgint_to_aul

    a = lgint_to_aul(
        np.array([-5.0105]), np.array([115271.2018]), np.array([0.0]), np.array([3.0]), 108.8651
    )
    assert a[0] == pytest.approx(7.203e-8, rel=0.01)
    q = lgint_q300([115271.2018], a, [3.0], [0.0], [-5.0105])
    assert q[0] == pytest.approx(108.8651, rel=1e-9)
    smu2 = 0.0121  # μ² (0.11011 D)² with S = J_u = 1
    assert strength_ratio([115271.2018], a, [3.0], [smu2])[0] == pytest.approx(1.0, rel=0.02)
