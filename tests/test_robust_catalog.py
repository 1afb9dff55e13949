"""Catalog readers never drop rows in silence and the transition cache names its real
problem (issue 22 items 6 and 9)."""

from __future__ import annotations

import sqlite3
import time

import pytest

from spectuner_nb.catalog import cache as cache_mod
from spectuner_nb.catalog.cache import TransitionCache, _cache_error
from spectuner_nb.catalog.spcat import parse_spcat, read_spcat
from spectuner_nb.catalog.splatalogue import read_splatalogue_csv
from spectuner_nb.errors import (
    CacheAccessError,
    CacheBusyError,
    CacheCorruptError,
    CacheReadOnlyError,
    CatalogFormatError,
)


# ------------------------------------------------------------------ item 6
def test_letter_in_freq_field_is_refused(shared_catalogs):
    path = shared_catalogs / "cdms_jpl" / "c028501.cat"
    lines = path.read_text().splitlines()
    n_rows = len(read_spcat(path))
    for k in range(0, len(lines), max(1, len(lines) // 50)):  # a letter in ~50 FREQ fields
        lines[k] = lines[k][:5] + "x" + lines[k][6:]
    bad = len(range(0, len(lines), max(1, len(lines) // 50)))
    with pytest.raises(CatalogFormatError, match=rf"{bad} line\(s\).*\(line 1, .*line 1: cannot"):
        parse_spcat("\n".join(lines), source=path.name)
    assert n_rows > 50 and bad >= 40


def test_spcat_cut_mid_row_is_refused(shared_catalogs):
    """Every cut inside the last transition row (an interrupted download) is refused."""
    text = (shared_catalogs / "cdms_jpl" / "c028501.cat").read_text()
    start = text.rstrip("\n").rfind("\n") + 1  # the last row
    for cut in range(start + 2, len(text) - 1):
        if text[cut - 1] == " " and not text[cut:].strip():
            continue  # only blanks cut off: the row is complete
        with pytest.raises(CatalogFormatError, match=r"line \d+: cannot parse"):
            parse_spcat(text[:cut])
    rows = text.splitlines()
    rows.insert(10, rows[10][:20])  # a row cut short in the middle of the file
    with pytest.raises(CatalogFormatError, match="line 11: cannot parse.*cut short"):
        parse_spcat("\n".join(rows) + "\n")


def test_jpl_header_line_still_skipped():
    row = "  115271.2018  0.0005 -5.0105 2    0.0000  3  28001 101 1                     0"
    table = parse_spcat("28001  CO\n" + row + "\n")
    assert len(table) == 1 and table.freq[0] == pytest.approx(115271.2018)


def _splat_csv(shared_catalogs):
    return next((shared_catalogs / "splatalogue_casadata").glob("*.csv"))


def test_splatalogue_csv_cut_mid_row_is_refused(shared_catalogs, tmp_path):
    text = _splat_csv(shared_catalogs).read_text()
    cut = tmp_path / "cut.csv"
    cut.write_text(text[: len(text) // 2 + 7])  # the download stopped mid-row
    with pytest.raises(CatalogFormatError, match="cut mid-row"):
        read_splatalogue_csv(cut)
    end = len(text.rstrip("\n"))
    for n_cut in (1, 2, 5):  # cut inside the last field: every field is still there
        cut.write_text(text[: end - n_cut])
        with pytest.raises(CatalogFormatError, match=r"line \d+: the file ends without a newline"):
            read_splatalogue_csv(cut)


def test_splatalogue_rows_without_values_are_reported(shared_catalogs, tmp_path):
    source = shared_catalogs / "splatalogue_casadata" / "splat04008_CH3CCH_v0.csv"
    with pytest.warns(UserWarning, match=r"skipped 10 of 1081 rows"):
        rows = read_splatalogue_csv(source)
    assert len(rows) == 1071
    lines = source.read_text().splitlines()
    data = next(i for i, ln in enumerate(lines) if ln and not ln.startswith("#")) + 1
    sep = ":" if lines[data].count(":") > lines[data].count(",") else ","
    fields = lines[data].split(sep)
    fields[0] = "21x7.4"
    lines[data] = sep.join(fields)
    (tmp_path / "word.csv").write_text("\n".join(lines))
    with pytest.raises(CatalogFormatError, match="not a number"):
        read_splatalogue_csv(tmp_path / "word.csv")


# ------------------------------------------------------------------ item 9
@pytest.fixture()
def small_cache(tmp_path):
    from spectuner_nb.catalog import default_cache

    path = tmp_path / "c.sqlite"
    with TransitionCache(path) as c:
        c.import_linelist(default_cache().linelist("CO"))
    return path


@pytest.mark.parametrize(
    "action", [["list"], ["show", "CO"], ["lines", "CO", "--fmin", "1", "--fmax", "2"]]
)
def test_catalog_cli_does_not_create_a_typo_cache(tmp_path, capsys, action):
    from spectuner_nb.cli import main

    typo = tmp_path / "typo.sqlite"
    assert main(["catalog", "--cache", str(typo), *action]) == 1
    assert "no transition cache at" in capsys.readouterr().err
    assert not typo.exists()


def test_catalog_cli_reads_a_shared_cache_read_only(small_cache, capsys, monkeypatch):
    from spectuner_nb.cli import main

    monkeypatch.setattr(cache_mod, "_BUSY_TIMEOUT_S", 0.2)
    writer = sqlite3.connect(small_cache, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        assert (
            main(
                [
                    "catalog",
                    "--cache",
                    str(small_cache),
                    "lines",
                    "CO",
                    "--fmin",
                    "1e5",
                    "--fmax",
                    "3e5",
                ]
            )
            == 0
        )
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert "CO" in capsys.readouterr().out


def test_missing_cache_is_not_created(tmp_path):
    with pytest.raises(CacheAccessError, match="no transition cache"):
        TransitionCache(tmp_path / "typo.sqlite", create=False)
    assert not (tmp_path / "typo.sqlite").exists()


def test_readonly_use_takes_no_write_lock(small_cache, monkeypatch):
    monkeypatch.setattr(cache_mod, "_BUSY_TIMEOUT_S", 0.2)
    writer = sqlite3.connect(small_cache, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process is importing
    try:
        t0 = time.perf_counter()
        shared = TransitionCache(small_cache, readonly=True)
        assert len(shared.linelist("CO")) == 8 and time.perf_counter() - t0 < 1.0
        with pytest.raises(CacheReadOnlyError, match="read-only"):
            shared.import_linelist(shared.linelist("CO"))
        with pytest.raises(CacheBusyError, match="busy"):
            TransitionCache(small_cache).import_linelist(shared.linelist("CO"))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert len(TransitionCache(small_cache).linelist("CO")) == 8  # nothing lost


def test_errors_are_told_apart(small_cache, tmp_path):
    path = tmp_path / "x.sqlite"
    assert isinstance(
        _cache_error(
            path, sqlite3.OperationalError("attempt to write a readonly database"), "importing"
        ),
        CacheReadOnlyError,
    )
    assert isinstance(
        _cache_error(path, sqlite3.OperationalError("database is locked"), "opening it"),
        CacheBusyError,
    )
    assert isinstance(
        _cache_error(path, sqlite3.OperationalError("unable to open database file"), "opening it"),
        CacheAccessError,
    )
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not an sqlite file" * 100)
    with pytest.raises(CacheCorruptError, match="delete"):
        TransitionCache(garbage)
    assert "delete" not in str(
        _cache_error(path, sqlite3.OperationalError("database is locked"), "importing")
    )
