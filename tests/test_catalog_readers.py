"""LAMDA, Splatalogue CSV and CASA's Splatalogue SQLite readers on the real files."""

import numpy as np
import pytest

from spectuner_nb.catalog.consistency import check_partition
from spectuner_nb.catalog.importers import guess_format, load_file
from spectuner_nb.catalog.lamda import read_lamda
from spectuner_nb.catalog.lamda import to_linelist as lamda_linelist
from spectuner_nb.catalog.names import resolve
from spectuner_nb.catalog.splatalogue import (
    drop_redundant_hfs,
    read_splatalogue_csv,
    read_splatalogue_db,
    splatalogue_db_path,
)
from spectuner_nb.errors import CatalogError, CatalogFormatError


@pytest.fixture(scope="module")
def cat_dir(shared_catalogs):
    return shared_catalogs


@pytest.fixture(scope="module")
def splat_db():
    try:
        return splatalogue_db_path()
    except CatalogError:
        pytest.skip("casadata not installed")


def test_lamda_co(cat_dir):
    ll = lamda_linelist(read_lamda(cat_dir / "lamda" / "co.dat"))
    assert ll.species == "CO" and len(ll) == 40
    assert ll.A_ul[0] == pytest.approx(7.203e-8, rel=1e-3)
    assert ll.E_up[0] == pytest.approx(5.53, rel=5e-3) and ll.g_u[0] == 3
    # Q summed over the file's own levels matches CDMS for CO within 1 % at 20–150 K
    from spectuner_nb.catalog.partfunc import partition_for_tag

    cdms = partition_for_tag(28503).partition
    for t in (20.0, 75.0, 150.0):
        assert ll.partition(t) == pytest.approx(cdms(t), rel=0.01)
    assert check_partition(ll).ok()


@pytest.mark.parametrize(
    "fname",
    [
        "13co.dat",
        "c18o.dat",
        "ch3cn.dat",
        "hcn@hfs.dat",
        "hco+@xpol.dat",
        "cs@lique.dat",
        "so@lique.dat",
        "sio.dat",
        "oh2co-h2.dat",
        "ph2s.dat",
        "hnco.dat",
        "ocs@xpol.dat",
    ],
)
def test_lamda_files(cat_dir, fname):
    data = read_lamda(cat_dir / "lamda" / fname)
    ll = lamda_linelist(data, species=resolve(data.name))
    assert len(ll) > 0 and np.all(np.diff(ll.freq) >= 0)
    assert np.all(ll.E_up > ll.E_low)
    # E_up - E_low equals h nu / k within the files' rounding
    np.testing.assert_allclose(ll.E_up - ll.E_low, 4.799243e-5 * ll.freq, rtol=2e-3, atol=2e-3)


def test_lamda_rejects_other_text(tmp_path):
    p = tmp_path / "x.dat"
    p.write_text("!MOLECULE\nCO\n!WEIGHT\n28\n!LEVELS\nnot a number\n")
    with pytest.raises(CatalogFormatError):
        read_lamda(p)


def test_splatalogue_csv_all_files(cat_dir):
    files = sorted((cat_dir / "splatalogue_casadata").glob("*.csv"))
    assert len(files) >= 29
    for f in files:
        rows = read_splatalogue_csv(f)
        assert len(rows) > 0 and np.all(np.isfinite(rows.log10_aij)), f.name
        resolve(rows.name)


def test_splatalogue_csv_co(cat_dir):
    ll = load_file(cat_dir / "splatalogue_casadata" / "splat02812_CO_v0.csv")
    assert ll.species == "CO;v=0;" and ll.catalog == "SLAIM"
    assert ll.A_ul[0] == pytest.approx(7.20e-8, rel=5e-3) and ll.g_u[0] == 3


def test_splatalogue_hfs_rows_not_counted_twice(cat_dir):
    rows = read_splatalogue_csv(cat_dir / "splatalogue_casadata" / "splat02701_HCN_v0.csv")
    kept = drop_redundant_hfs(rows)
    j10 = [q for q in kept.qn if q.startswith("J= 1 - 0") or q.startswith("J=1-0")]
    assert len(kept) < len(rows) and len(j10) == 1


def test_casadata_splatalogue_db(splat_db):
    rows = read_splatalogue_db("13CO", splat_db)
    assert rows.name == "(13)CO v=0" and len(rows) == 40
    ch3oh = read_splatalogue_db("CH3OH vt=0", splat_db, linelists=("SLAIM",))
    assert len(ch3oh) == 2772
    ll = load_file(splat_db, species="CH3CH2CN")
    assert ll.species == "C2H5CN;v=0;" and ll.catalog == "JPL" and len(ll) > 50000
    assert guess_format(splat_db) == "splatalogue_db"
