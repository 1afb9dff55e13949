"""CDMS partfunc.cat / catdir.cat and JPL catdir.cat readers on the real files."""

import numpy as np
import pytest

from spectuner_nb.catalog.partfunc import (
    JPL_TEMPERATURES_K,
    entries_for,
    partition_for_tag,
    read_cdms_catdir,
    read_cdms_partfunc,
    read_jpl_catdir,
)
from spectuner_nb.errors import SpeciesNotFoundError


@pytest.fixture(scope="module")
def pf_dir(shared_catalogs):
    return shared_catalogs / "partition_functions"


def test_cdms_partfunc(pf_dir):
    table = read_cdms_partfunc(pf_dir / "cdms_partfunc.cat")
    assert len(table) > 1000
    ch3oh = table[32504]
    assert ch3oh.name == "CH3OH, vt=0-2"
    assert np.log10(ch3oh.partition(300.0)) == pytest.approx(4.5685, abs=1e-4)
    # 'nan' entries are gaps: H2D+ has no 1000 K value, its table starts at 2.725 K
    h2dp = table[4501].partition
    assert h2dp.temperature.max() == 500.0 and h2dp.temperature.min() == 2.725


def test_log_log_interpolation_between_nodes(pf_dir):
    """Between 150 and 225 K the log-log value is exact for a power law and differs from
    linear interpolation."""
    q = read_cdms_partfunc(pf_dir / "cdms_partfunc.cat")[32504].partition
    t = np.sqrt(150.0 * 225.0)
    expected = np.sqrt(q(150.0) * q(225.0))
    assert q(t) == pytest.approx(expected, rel=1e-12)
    assert not q.is_extrapolated(t) and q.is_extrapolated(1500.0)


def test_cdms_catdir_versions(pf_dir):
    d = read_cdms_catdir(pf_dir / "cdms_catdir.cat")
    assert d[3501]["name"] == "HD" and d[3501]["date"] == "Dec. 2011"


def test_jpl_catdir(pf_dir):
    table = read_jpl_catdir(pf_dir / "jpl_catdir.cat")
    assert len(table) > 390
    co = table[28001]
    assert co.name == "CO" and co.catalog == "JPL"
    assert tuple(co.partition.temperature) == tuple(sorted(JPL_TEMPERATURES_K))
    ch3cn = table[41001]
    assert np.log10(ch3cn.partition(300.0)) == pytest.approx(4.1668, abs=1e-4)


def test_astroquery_tables_and_resolver():
    assert partition_for_tag(-28503).name == "CO, v=0"
    tags = [e.tag for e in entries_for("CH3CH2CN")]
    assert 55502 in tags and 55001 in tags
    assert [e.tag for e in entries_for("HCOOCH3")] == [60003]
    assert {e.tag for e in entries_for("NH2CHO")} == {45512, 45003}
    with pytest.raises(SpeciesNotFoundError):
        partition_for_tag(999999)


def test_log_slope_matches_finite_differences_inside_and_beyond_the_table():
    from spectuner_nb.catalog.partition import PartitionFunction

    pf = PartitionFunction.from_table(
        [9.375, 18.75, 37.5, 75.0, 150.0, 300.0], [12.0, 30.0, 80.0, 220.0, 600.0, 1700.0]
    )
    t = np.array([3.0, 10.0, 50.0, 140.0, 299.0, 800.0])  # below, inside, above the table
    h = 1e-6
    fd = (np.log(pf(t * np.exp(h))) - np.log(pf(t * np.exp(-h)))) / (2 * h)
    np.testing.assert_allclose(pf.log_slope(t), fd, rtol=1e-6)
