"""SPCAT reader and LGINT → A_ul conversion on the real CDMS/JPL files."""

import numpy as np
import pytest

from spectuner_nb.catalog.partfunc import partition_for_tag
from spectuner_nb.catalog.spcat import decode_int, parse_spcat, read_spcat, to_linelist
from spectuner_nb.errors import CatalogFormatError


@pytest.fixture(scope="module")
def cdms_dir(shared_catalogs):
    return shared_catalogs / "cdms_jpl"


def _linelist(path):
    table = read_spcat(path)
    entry = partition_for_tag(table.main_tag)
    return to_linelist(table, entry.partition, species=entry.name)


@pytest.mark.parametrize(
    "field,value",
    [
        (" 5", 5),
        ("-1", -1),
        ("A0", 100),
        ("B5", 115),
        ("a0", -10),
        ("b5", -25),
        ("  ", None),
        ("A23", 1023),
    ],
)
def test_letter_codes(field, value):
    assert decode_int(field) == value


def test_co_must_show(cdms_dir):
    """CO J=1-0: A_ul = 7.20e-8 s-1, g_u = 3, E_u = 5.53 K (docs/method.md §1), within 0.5 %."""
    ll = _linelist(cdms_dir / "co_pyspeckit.cat")
    i = int(np.argmin(np.abs(ll.freq - 115271.2018)))
    assert ll.A_ul[i] == pytest.approx(7.20e-8, rel=5e-3)
    assert ll.g_u[i] == 3
    assert ll.E_up[i] == pytest.approx(5.53, rel=5e-3)
    assert ll.E_low[i] == 0.0
    assert ll.tag == 28503 and ll.catalog == "CDMS"


def test_log10_aij_variant_agrees_with_lgint(cdms_dir):
    """The CDMS search-form output (log10 A) and the catalog (LGINT) give the same A_ul."""
    form = read_spcat(cdms_dir / "c028503_CO_cdms_query_logAij.html")
    assert form.intensity_kind == "log10_aij" and len(form) == 8
    assert form.name == "CO, v=0"
    ll_form = to_linelist(form, partition_for_tag(28503).partition, species="CO")
    ll_cat = _linelist(cdms_dir / "co_pyspeckit.cat")
    np.testing.assert_allclose(ll_form.A_ul, ll_cat.A_ul[:8], rtol=2e-3)
    np.testing.assert_allclose(ll_form.E_up, ll_cat.E_up[:8], rtol=1e-9)


def test_jpl_query_answer_with_header(cdms_dir):
    ll = _linelist(cdms_dir / "c028001_CO_jpl_query.txt")
    assert len(ll) == 8 and ll.catalog == "JPL" and ll.tag == 28001
    assert ll.A_ul[0] == pytest.approx(7.20e-8, rel=5e-3)


def test_negative_and_positive_tags_and_merged_columns(cdms_dir):
    """co_pyspeckit.cat mixes lab (negative) and predicted (positive) tags, and rows where
    ERR and LGINT touch ("0.5474-10.1007")."""
    t = read_spcat(cdms_dir / "co_pyspeckit.cat")
    assert len(t) == 95
    assert (t.tag < 0).any() and (t.tag > 0).any()
    assert t.main_tag == 28503
    row = int(np.argmin(np.abs(t.freq - 5672165.6738)))
    assert t.err[row] == pytest.approx(0.5474) and t.intensity[row] == pytest.approx(-10.1007)
    assert t.gup[row] == 101


@pytest.mark.parametrize(
    "fname,n",
    [
        ("c032504.cat", 38743),
        ("c064502.cat", 14754),
        ("c051501.cat", 207),
        ("c044505.cat", 1190),
        ("c046502.cat", 465),
        ("c031503.cat", 2309),
        ("ch3cn_MeCN_spcat_example_tag41505.cat", 3357),
    ],
)
def test_real_files_row_counts(cdms_dir, fname, n):
    assert len(read_spcat(cdms_dir / fname)) == n


def test_letter_coded_quantum_numbers_in_real_file(cdms_dir):
    """SiO v=0-10 has J up to 144 written as letter codes (e.g. 'E4')."""
    t = read_spcat(cdms_dir / "c044505.cat")
    assert t.qn_up.max() >= 100


def test_ch3oh_c032504_q300_and_241ghz_lines(cdms_dir):
    ll = _linelist(cdms_dir / "c032504.cat")
    assert ll.partition(300.0) == pytest.approx(10**4.5685, rel=0.02)
    sel = ll.subset((ll.freq >= 241700) & (ll.freq <= 241900))
    assert len(sel) == 16
    i = int(np.argmin(np.abs(sel.freq - 241791.352)))  # 5(0,5)-4(0,4) A+
    assert sel.A_ul[i] == pytest.approx(6.045e-5, rel=0.01)
    assert sel.E_up[i] == pytest.approx(34.82, abs=0.05)


def test_garbage_line_names_file():
    with pytest.raises(CatalogFormatError, match="line 2"):
        parse_spcat(
            "  115271.2018  0.0005 -5.0105 2    0.0000  3 -28503 101 1           0\n"
            "  115271.2018  0.0005 -5.0105 X    0.0000  3 -28503 101 1           0\n",
            source="bad.cat",
        )
    with pytest.raises(CatalogFormatError, match="no transitions"):
        parse_spcat("nothing here\n", source="empty.cat")
