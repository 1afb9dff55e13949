"""The shipped starter catalog and default_cache()."""

import json

import numpy as np
import pytest

from spectuner_nb.catalog import default_cache
from spectuner_nb.catalog.starter import (
    MANIFEST,
    import_starter,
    read_manifest,
    sha256_file,
    starter_dir,
)

COMPLEX_ADDED = {
    "c-C2H4O": 44504,
    "aGg'-(CH2OH)2": 62503,
    "s-H2CCHOH": 44506,
    "a-H2CCHOH": 44507,
    "H2NCH2COOH": 75511,
}
"""Complex organics added with an explicit CDMS partition-function tag (name → tag)."""
MORE_TAGGED = {"c-H2C3O": 54504, "c-HCCCD": 39003, "HSCN a-type": 59505}
"""Species whose table is chosen by tag (CDMS "Cyclopropenone", JPL "c-C3HD",
CDMS "HSCN")."""
G327 = [(215565.0, 217273.0), (217572.0, 219271.0), (229611.0, 231319.0)]


@pytest.fixture(scope="module")
def starter(tmp_path_factory):
    import os

    old = os.environ.get("SPECTUNER_NB_CACHE_DIR")
    os.environ["SPECTUNER_NB_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    try:
        yield default_cache()
    finally:
        if old is None:
            del os.environ["SPECTUNER_NB_CACHE_DIR"]
        else:
            os.environ["SPECTUNER_NB_CACHE_DIR"] = old


def test_manifest_checksums_and_size():
    manifest = read_manifest()
    sizes = [p.stat().st_size for p in starter_dir().iterdir()]
    assert sum(sizes) <= 9e6 and max(sizes) <= 1.9 * 2**20
    for rec in manifest["species"]:
        assert sha256_file(starter_dir() / rec["file"]) == rec["sha256"], rec["file"]
        assert rec["provenance"]["lines"] and rec["provenance"]["partition_function"]
    for src in ("casadata", "linecat", "astroquery"):
        assert manifest["sources"][src]["version"]


def test_every_species_the_product_names_is_offline(starter):
    """The build script's species, the mock mixtures' and every species the shipped
    policy was trained on (less the build's LEFT_OUT) or held out from are in the starter
    catalog, in range."""
    from spectuner_nb.mock import DEFAULT_SPECIES
    from spectuner_nb.policy.training import dataset

    build = _build_script()
    named = set(build.SPECIES) | set(DEFAULT_SPECIES) | set(dataset.HELDOUT_SPECIES)
    named |= set(dataset.SHIPPED_TRAIN_SPECIES) - set(build.LEFT_OUT)
    assert len(named) >= 87 and not set(build.LEFT_OUT) & set(build.SPECIES)
    for name in sorted(named):
        ll = starter.linelist(name)
        assert len(ll) > 0, name
        f = np.asarray(ll.freq)
        assert f.min() >= 30e3 and f.max() <= 950e3
        assert np.all(np.asarray(ll.E_up) <= 2000.0)


def _build_script():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "build_starter_catalog.py"
    spec = importlib.util.spec_from_file_location("build_starter_catalog", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_explicit_partition_tags_give_the_cdms_tables(starter):
    """Species whose CDMS partfunc.cat name does not resolve ("Ethylene oxide", "aGg' glycol",
    "s-H2C=CHOH" …) get their table by explicit tag, in the build and in the shipped files."""
    from spectuner_nb.catalog import resolve
    from spectuner_nb.catalog.partfunc import entries_for, partition_for_tag

    build = _build_script()
    records = {r["name"]: r for r in read_manifest()["species"]}
    for name, tag in {**COMPLEX_ADDED, **MORE_TAGGED}.items():
        assert not entries_for(name)  # the name search alone finds nothing
        assert [e.tag for e in build.partition_tables(name)] == [tag]
        rec = records[resolve(name)]
        assert rec["tag"] == tag and rec["provenance"]["partition_function"].split()[1] == str(tag)
        table = partition_for_tag(tag).partition
        shipped = starter.linelist(name)
        assert shipped.tag == tag
        for t in (9.375, 37.5, 150.0, 300.0):
            assert shipped.partition(t) == pytest.approx(
                table(t) * rec["provenance"]["partition_scale"], rel=1e-9
            )
    assert len(starter.linelist("c-H2COCH2")) == records["c-C2H4O;v=0;"]["n_lines"]
    assert len(build.partition_tables("CH3OH")) > 1  # other species: search by name


def test_ch3oh_starter_must_show(starter):
    ll = starter.lines("CH3OH", G327)
    assert ll.catalog == "CDMS" and ll.tag == 32504 and len(ll) > 20
    assert ll.partition(300.0) == pytest.approx(10**4.5685, rel=0.02)
    sel = starter.lines("CH3OH", [(241700.0, 241900.0)], pad_kms=0.0)
    assert len(sel) == 16
    i = int(np.argmin(np.abs(sel.freq - 241791.352)))
    assert sel.A_ul[i] == pytest.approx(6.045e-5, rel=0.01)


def test_partition_consistency_after_fix():
    """Every shipped species agrees with its own levels within 20 % at 20 K (after the
    documented fixes), except where the A_ul carry the weights g_u lacks (CH3OCH3)."""
    for rec in read_manifest()["species"]:
        if "a_ul_carries_weights" in rec["provenance"]["flags"]:
            continue
        ratio = rec["provenance"]["ratio_after_fix"][0]
        assert abs(ratio - 1.0) <= 0.2, (rec["name"], ratio)


def test_starter_import_is_idempotent_and_keeps_user_data(starter):
    from spectuner_nb.catalog import LineList

    assert import_starter(starter) == 0  # same manifest: nothing to do
    co = starter.linelist("CO")
    user = LineList(
        co.species,
        co.freq[:2],
        co.A_ul[:2],
        co.E_low[:2],
        co.E_up[:2],
        co.g_u[:2],
        co.partition,
        tag=co.tag,
        catalog=co.catalog,
    )
    starter.import_linelist(user)
    assert import_starter(starter, force=True) > 0
    assert len(starter.linelist("CO")) == 2  # the user's entry survives a starter refresh
    starter.import_linelist(co, origin="starter")


def test_manifest_is_json():
    json.loads((starter_dir() / MANIFEST).read_text())


@pytest.mark.parametrize(
    "name,fname",
    [
        ("HC3N", "cdms_jpl/c051501.cat"),
        ("SO2", "cdms_jpl/c064502.cat"),
        ("34SO2", "cdms_jpl/c066501.cat"),
        ("OCS", "cdms_jpl/c060503.cat"),
        ("SiO", "cdms_jpl/c044505.cat"),
        ("CO", "cdms_jpl/co_pyspeckit.cat"),
        ("CH3OH", "cdms_jpl/c032504.cat"),
        ("HCN", "lamda/hcn@hfs.dat"),
        ("HCO+", "lamda/hco+@xpol.dat"),
        ("CS", "lamda/cs@lique.dat"),
        ("13CO", "lamda/13co.dat"),
        ("C18O", "lamda/c18o.dat"),
        ("H213CO", "cdms_jpl/c031503.cat"),
        ("H13CCCN", "cdms_jpl/c052509.cat"),
        ("HC13CCN", "cdms_jpl/c052510.cat"),
        ("HCC13CN", "cdms_jpl/c052511.cat"),
        ("O13CS", "cdms_jpl/c061502.cat"),
        ("OC34S", "cdms_jpl/c062505.cat"),
        ("34SO", "cdms_jpl/c050501.cat"),
    ],
)
def test_starter_opacities_match_cdms_files(starter, name, fname):
    """A_ul g_u exp(-E_l/T)/Q(T), summed within 5 MHz of each low-E starter line, agrees with
    the real CDMS entry (or LAMDA file) within 2 % at 20 K and 100 K, whatever source and
    partition-function fix the starter used."""
    from spectuner_nb.catalog.importers import load_file
    from spectuner_nb.settings import shared_data_dir

    root = shared_data_dir(required=False)
    if root is None:
        pytest.skip("shared catalogs not available")
    ref = load_file(root / "catalogs" / fname)
    ll = starter.linelist(name)
    probe = np.asarray(ll.freq)[np.asarray(ll.E_up) < 300.0][:25]

    def strength(x, t):
        w = np.asarray(x.A_ul) * np.asarray(x.g_u) * np.exp(-np.asarray(x.E_low) / t)
        return np.array([w[np.abs(x.freq - f) < 5.0].sum() for f in probe]) / x.partition(t)

    for t in (20.0, 100.0):
        np.testing.assert_allclose(strength(ll, t), strength(ref, t), rtol=0.02)


@pytest.mark.parametrize(
    "name, lo, hi, expect",
    [
        ("HCCNC", 79480.0, 79490.0, [79484.131]),
        ("CH3CHO", 79090.0, 79160.0, [79099.313, 79150.172]),
        ("CH3OCHO", 78470.0, 79790.0, [78479.327, 79783.908]),
    ],
)
def test_3mm_lines_below_80_ghz_offline(starter, name, lo, hi, expect):
    """Band 2/3 and single-dish 3 mm surveys: the catalog starts at 30 GHz (or where the source
    list starts), so the lines below 80 GHz that a cut at 80 GHz lost are there (MHz)."""
    ll = starter.lines(name, [(lo, hi)], pad_kms=0.0)
    for f in expect:
        assert np.min(np.abs(ll.freq - f)) < 1e-3, (name, f)
    assert starter.entry(name).fmin <= 80e3
