"""TransitionCache: storage, lookups, precedence, windows, atomicity, concurrency, corruption."""

import multiprocessing as mp
import sqlite3

import astropy.units as u
import numpy as np
import pytest

from spectuner_nb.catalog import LineList, PartitionFunction, TransitionCache
from spectuner_nb.catalog.cache import ImportItem
from spectuner_nb.catalog.linelist import default_pad_kms
from spectuner_nb.errors import CacheCorruptError, SpeciesNotFoundError
from spectuner_nb.settings import shared_data_dir

Q = PartitionFunction.from_table([10.0, 100.0, 300.0], [10.0, 100.0, 300.0])


def toy(name="CO", catalog="CDMS", n=50, f0=100_000.0, tag=28503, step=1000.0):
    freq = f0 + step * np.arange(n)
    return LineList(
        name,
        freq,
        np.full(n, 1e-5),
        np.arange(n, dtype=float),
        np.arange(n) + 5.0,
        np.full(n, 3.0),
        Q,
        qn=np.array([f"{i} - {i - 1}" for i in range(n)], dtype=object),
        tag=tag,
        catalog=catalog,
        source="toy",
    )


@pytest.fixture
def cache(tmp_path):
    with TransitionCache(tmp_path / "c.sqlite") as c:
        yield c


def test_roundtrip_and_lookup_styles(cache):
    cache.import_linelist(toy("CH3OH, vt=0-2", tag=32504))
    for name in ("CH3OH", "CH3OH;v=0;", "CH3OH, vt=0-2", "CH3OH vt=0", 32504):
        ll = cache.linelist(name)
        assert ll.species == "CH3OH;vt=0-2;" and len(ll) == 50
    assert cache.species() == ["CH3OH;vt=0-2;"]
    with pytest.raises(SpeciesNotFoundError, match="import a file"):
        cache.linelist("CH3OH;v12=1;")
    ll = cache.linelist("CH3OH")
    np.testing.assert_array_equal(ll.freq, toy().freq)
    assert ll.partition(100.0) == pytest.approx(100.0)
    assert ll.qn[3] == "3 - 2"
    con = sqlite3.connect(cache.path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_precedence_and_catalog_override(tmp_path):
    c = TransitionCache(tmp_path / "p.sqlite")
    c.import_linelist(toy(catalog="SLAIM", n=10))
    c.import_linelist(toy(catalog="JPL", n=20, tag=28001))
    assert len(c.linelist("CO")) == 20  # JPL before SLAIM by default
    assert len(c.linelist("CO", catalog="SLAIM")) == 10
    c2 = TransitionCache(tmp_path / "p.sqlite", precedence=("SLAIM", "JPL"))
    assert len(c2.linelist("CO")) == 10


def test_windows_reuse_linelist_padding(cache):
    cache.import_linelist(toy(n=6000, step=20.0))
    win = [(120_000.0, 130_000.0), (200_000.0, 210_000.0)]
    got = cache.lines("CO", win)
    expected = cache.linelist("CO").in_windows(win)
    np.testing.assert_array_equal(got.freq, expected.freq)
    pad = default_pad_kms() / 299792.458
    assert got.freq.min() < 120_000.0 and got.freq.min() >= 120_000.0 * (1 - pad)
    tight = cache.lines("CO", win, pad_kms=0.0)
    assert tight.freq.min() == 120_000.0 and tight.freq.max() == 210_000.0
    q = cache.lines("CO", [(120 * u.GHz, 130 * u.GHz)], pad_kms=0.0)
    assert len(q) == 501


def test_reimport_replaces_and_other_instances_see_it(tmp_path):
    a = TransitionCache(tmp_path / "r.sqlite")
    b = TransitionCache(tmp_path / "r.sqlite")
    a.import_linelist(toy(n=10))
    assert len(b.linelist("CO")) == 10
    a.import_linelist(toy(n=30))
    assert len(b.linelist("CO")) == 30  # memo invalidated through the generation counter
    assert len(a.entries()) == 1


def test_import_is_atomic(cache):
    cache.import_linelist(toy(n=5))
    bad = ImportItem(toy("12345", n=3))  # unreadable species name: fails mid-transaction
    with pytest.raises(SpeciesNotFoundError):
        cache.import_items([ImportItem(toy("HCN", n=4, tag=27501)), bad])
    assert cache.species() == ["CO;v=0;"]
    con = sqlite3.connect(cache.path)
    assert con.execute("SELECT COUNT(*) FROM lines").fetchone()[0] == 5


def _worker(path, name, n, rounds):
    c = TransitionCache(path)
    for k in range(rounds):
        c.import_linelist(toy(name, n=n + k, tag=None))
    c.close()


def test_two_processes_importing_at_once(tmp_path):
    path = tmp_path / "mp.sqlite"
    TransitionCache(path).close()
    ctx = mp.get_context("fork")
    procs = [
        ctx.Process(target=_worker, args=(path, name, 500, 15)) for name in ("CO", "CO", "HCN")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    c = TransitionCache(path)
    c.check()
    entries = {e.name: e for e in c.entries()}
    assert set(entries) == {"CO;v=0;", "HCN;v=0;"}
    con = sqlite3.connect(path)
    for e in entries.values():
        n = con.execute("SELECT COUNT(*) FROM lines WHERE species_id=?", (e.id,)).fetchone()[0]
        assert n == e.n_lines == 514  # the last round of each writer, complete
    assert con.execute("SELECT COUNT(*) FROM lines").fetchone()[0] == 2 * 514


def test_corrupt_file_gives_typed_error(tmp_path):
    path = tmp_path / "bad.sqlite"
    path.write_bytes(b"this is not an SQLite database at all" * 100)
    with pytest.raises(CacheCorruptError, match="delete .*bad.sqlite"):
        TransitionCache(path)


def test_damaged_pages_give_typed_error(tmp_path):
    path = tmp_path / "dmg.sqlite"
    c = TransitionCache(path)
    c.import_linelist(toy(n=3000))
    c._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    data = bytearray(path.read_bytes())
    data[4096 : len(data) - 4096] = b"\xff" * (len(data) - 8192)
    path.write_bytes(bytes(data))
    with pytest.raises(CacheCorruptError, match="rebuild"):
        c = TransitionCache(path)
        c.check()
        c.linelist("CO")


def test_real_file_import_and_remove(cache):
    root = shared_data_dir(required=False)
    if root is None:
        pytest.skip("shared catalogs not available")
    e = cache.import_file(root / "catalogs/cdms_jpl/c051501.cat")
    assert e.name == "HC3N;v=0;" and e.tag == 51501 and e.n_lines == 207
    assert e.original_name == "HC3N, v=0" and e.version
    cache.remove("HC3N")
    assert cache.species() == []


def test_new_starter_version_replaces_old_starter_but_keeps_user_entries(cache):
    cache.import_items(
        [ImportItem(toy("CO", catalog="SLAIM")), ImportItem(toy("HCN", tag=None))], origin="starter"
    )
    cache.import_linelist(toy("CS", n=7, tag=None))  # the user's own
    cache.import_items(
        [ImportItem(toy("CO", catalog="LAMDA", n=9))],
        origin="starter",
        keep_other_origins=True,
        replace_origin=True,
    )
    got = {(e.name, e.catalog, e.origin) for e in cache.entries()}
    assert got == {("CO;v=0;", "LAMDA", "starter"), ("CS;v=0;", "CDMS", "import")}
    con = sqlite3.connect(cache.path)
    assert con.execute("SELECT COUNT(*) FROM lines").fetchone()[0] == 9 + 7
