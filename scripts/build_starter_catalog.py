"""Build the offline starter catalog shipped in spectuner_nb/data/catalog.

Sources (PyPI data only; provenance and sha256 go into manifest.json). Build-time
requirements: ``pip install spectuner_nb[build-catalog]``.

- ``linecat``: the CDMS entries c032504 (CH3OH, vt=0-2) and c044505 (SiO, v=0-10);
- ``casadata``: CASA's Splatalogue SQLite snapshot, line lists CDMS, JPL and SLAIM;
- ``spectralradex``: LAMDA files (HCN, HNC, HCO+, CS, CO …), read as data only;
- ``astroquery``: the CDMS ``partfunc.cat``/``catdir.cat`` and JPL
  ``catdir.cat`` partition-function tables.

Precedence when a species exists in several sources (``--precedence``,
default ``linecat,CDMS,JPL,LAMDA,SLAIM``): the first source with lines in the
band wins. ``--source NAME=SOURCE`` forces one species' source. The partition
function comes from the CDMS/JPL table of the same catalog, chosen and if needed
rescaled by :func:`spectuner_nb.catalog.build.choose_partition` (level sum at
9.375–18.75 K, unless the A_ul carry the spin weights g_u lacks, as for CH3OCH3);
the result is recorded in the manifest and in docs/catalog_consistency.md. Tables
whose names do not resolve are named by tag in ``build.PARTITION_TAGS``. Existing
``.npz`` files whose arrays are unchanged are kept as they are, so their sha256
stays the same across rebuilds.

Usage::

    python scripts/build_starter_catalog.py [--eup-max 2000] [--fmin 30000 --fmax 950000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from spectuner_nb.catalog import build as catalog_build
from spectuner_nb.catalog.consistency import TOLERANCE, check_partition
from spectuner_nb.catalog.linelist import LineList
from spectuner_nb.catalog.names import resolve
from spectuner_nb.catalog.partfunc import (
    PartitionEntry,
    astroquery_data_files,
    entries_for,
)
from spectuner_nb.catalog.spcat import read_spcat
from spectuner_nb.catalog.spcat import to_linelist as spcat_linelist
from spectuner_nb.catalog.splatalogue import (
    SplatRows,
    drop_redundant_hfs,
    read_splatalogue_db,
    splatalogue_db_path,
)
from spectuner_nb.catalog.splatalogue import to_linelist as splat_linelist
from spectuner_nb.catalog.starter import (
    MANIFEST,
    save_species,
    sha256_file,
    species_arrays,
    starter_dir,
)

ROOT = Path(__file__).resolve().parent.parent
STARTER_VERSION = "1"

LINECAT_FILES = {"CH3OH": "CH3OH/c032504-5Q.cat", "SiO": "SiO/c044505.cat"}
"""Species → file under linecat/data/molecules (CDMS entries)."""

LAMDA_FILES = {
    "HCN": "hcn.dat",
    "HNC": "hnc.dat",
    "HCO+": "hco+.dat",
    "CS": "cs@lique.dat",
    "CO": "co.dat",
    "SiO": "sio.dat",
    "HC3N": "hc3n.dat",
}
"""Species → LAMDA file under spectralradex/radex/data. Used before SLAIM: the SLAIM A_ul
of HCN (and H13CN) are 3 times too small (checked against LAMDA and CDMS c028501)."""

LEFT_OUT: dict[str, str] = {
    "H13CN": "its SLAIM A_ul differ from CDMS c028501 by a factor 3",
    "HN13C": "its SLAIM A_ul differ from CDMS c028515 by a factor 0.78, and the snapshot's "
    "JPL rows start at 783 GHz",
}
"""Species of the first training runs that the starter catalog leaves out, with the reason."""
SPECIES: dict[str, tuple[str, ...]] = {
    # name: Splatalogue names to read (merged when several, e.g. both ethanol conformers)
    "CH3OH": ("CH3OH vt=0",),
    "CH3OCHO": ("CH3OCHO v=0",),
    "CH3OCH3": ("CH3OCH3",),
    "C2H5CN": ("CH3CH2CN v=0",),
    "C2H3CN": ("CH2CHCN v=0",),
    "CH3CN": ("CH3CN v=0",),
    "H2CO": ("H2CO",),
    "HC3N": ("HC3N v=0",),
    "OCS": ("OCS v=0",),
    "SO2": ("SO2 v=0",),
    "HNCO": ("HNCO v=0",),
    "NH2CHO": ("NH2CHO",),
    "CH3CHO": ("CH3CHO vt=0",),
    "C2H5OH": ("t-CH3CH2OH", "g-CH3CH2OH"),
    "HCOOH": ("t-HCOOH",),
    "CH2CO": ("H2CCO",),
    "CH3CCH": ("CH3CCH v=0",),
    "CO": ("CO v=0",),
    "13CO": ("(13)CO v=0",),
    "C18O": ("C(18)O",),
    "C17O": ("C(17)O",),
    "HCN": ("HCN v=0",),
    "HNC": ("HNC v=0",),
    "HCO+": ("HCO+ v=0",),
    "CS": ("CS v=0",),
    "SO": ("SO 3Sigma v=0",),
    "SiO": ("SiO v=0",),
    "H2S": ("H2S",),
    "13CH3OH": ("(13)CH3OH vt=0",),
    "13CH3CN": ("(13)CH3CN",),
    # H13CN and HN13C: LEFT_OUT
    "H13CO+": ("H(13)CO+",),
    "C34S": ("C(34)S v=0",),
    "13CS": ("(13)CS v=0",),
    "34SO2": ("(34)SO2 v=0",),
    # more hot-core species (ism_hotcore in the snapshot); skipped ones: docs/catalog.md
    "c-C3H2": ("c-HCCCH v=0",),
    "HCOCH2OH": ("cis-CH2OHCHO v=0",),
    "CH3SH": ("CH3SH v=0",),
    "NH2CN": ("NH2CN",),
    "CH2NH": ("CH2NH",),
    "CH3NC": ("CH3NC",),
    "CH3C15N": ("CH3C(15)N",),
    "HDCO": ("HDCO",),
    "H213CO": ("H2(13)CO",),
    "HOCN": ("HOCN",),
    "HNCS a-type": ("HNCS a-type",),
    "HCCNC": ("HCCNC v=0",),
    "HC7N": ("HC7N v=0",),
    "H13CCCN": ("H(13)CCCN",),
    "HC13CCN": ("HC(13)CCN",),
    "HCC13CN": ("HCC(13)CN",),
    "HDO": ("HDO",),
    "PN": ("PN v=0",),
    "NS": ("NS, v=0",),
    "33SO2": ("(33)SO2",),
    "33SO": ("(33)SO",),
    "34SO": ("(34)SO",),
    "CCH": ("CCH v=0",),
    "CN": ("CN v=0",),
    "O13CS": ("O(13)CS",),
    "OC34S": ("OC(34)S",),
    "HCS+": ("HCS+",),
    "SO+": ("SO+",),
    "HC15N": ("HC(15)N v=0",),
    "DNC": ("DNC",),
    # complex organics whose CDMS partfunc.cat names the resolver cannot read: PARTITION_TAGS
    "c-C2H4O": ("c-H2COCH2",),
    "aGg'-(CH2OH)2": ("gGa-(CH2OH)2",),
    "s-H2CCHOH": ("s-H2CCHOH",),
    "a-H2CCHOH": ("a-H2CCHOH",),
    "H2NCH2COOH": ("H2NCH2COOH - I v=0",),  # glycine, conformer I (the lowest)
    # more training species: rings, chains, radicals and isotopologues (docs/catalog.md)
    "c-H2C3O": ("c-H2C3O",),  # cyclopropenone
    "c-HCCCD": ("c-HCCCD",),
    "CH2DCCH": ("CH2DCCH",),
    "D2CO": ("D2CO",),
    "CH3C5N": ("CH3C5N",),
    "CH3C6H": ("CH3C6H",),
    "HSCN a-type": ("HSCN a-type",),
    "H2CN": ("H2CN",),
    "HNO": ("HNO",),
    "HCO": ("HCO",),
    "NO": ("NO",),
    "N34S": ("N(34)S",),
    "D2O": ("D2O",),
    "DNCO": ("DNCO",),
    "HN13CO": ("HN(13)CO",),
    "HNC18O": ("HNC(18)O",),
    "Si13CC": ("Si(13)CC",),
    "c-C3H": ("c-C3H",),
}


@dataclass
class Built:
    """One species ready to ship."""

    linelist: LineList
    record: dict


def partition_tables(name: str) -> list[PartitionEntry]:
    """CDMS/JPL partition tables of ``name`` (:func:`spectuner_nb.catalog.build.partition_tables`,
    with its explicit tags for tables whose names do not resolve)."""
    return catalog_build.partition_tables(resolve(name))


def merge_rows(parts: list[SplatRows], name: str) -> SplatRows:
    """Concatenate row sets (e.g. two conformers) sorted by frequency."""
    freq = np.concatenate([p.freq for p in parts])
    order = np.argsort(freq, kind="stable")

    def cat(attr: str) -> np.ndarray:
        return np.concatenate([getattr(p, attr) for p in parts])[order]

    return SplatRows(
        name,
        freq[order],
        cat("log10_aij"),
        cat("elo_cm"),
        cat("g_up"),
        cat("catalog"),
        cat("qn"),
        " + ".join(p.source for p in parts),
    )


def choose_partition(
    full: LineList, tables: list[PartitionEntry], catalog: str, q300_lgint: float | None = None
) -> dict:
    """The table for ``full`` (:func:`spectuner_nb.catalog.build.choose_partition`), with the
    Q-table/level-sum ratios before and after, for the manifest and the consistency page."""
    if not tables:
        raise SystemExit(f"no CDMS/JPL partition function for {full.species}")
    choice = catalog_build.choose_partition(full, tables, catalog, q300_lgint)
    before = check_partition(full, choice.entry.partition)
    after = check_partition(full, choice.partition)
    flags = [f for f in choice.flags if f != "q_extrapolated_above_300K"]
    verdict = "ok"
    if choice.scale != 1.0:
        verdict = f"fixed: table / {1.0 / choice.scale:.4g}"
    if "a_ul_carries_weights" in flags:
        verdict = "kept: A_ul carry the spin weights g_u lacks (table Q is right)"
    elif not after.ok():
        verdict += f"; flag: differs > {TOLERANCE:.0%} (levels or states absent from the list)"
    return {
        "partition": choice.partition,
        "entry": choice.entry,
        "factor": 1.0 / choice.scale,
        "before": before,
        "after": after,
        "verdict": verdict,
        "flags": flags,
        "choice": choice,
    }


def band_cut(ll: LineList, fmin: float, fmax: float, eup_max: float) -> LineList:
    """Lines in [fmin, fmax] MHz with E_up ≤ eup_max K."""
    f, e = np.asarray(ll.freq), np.asarray(ll.E_up)
    return ll.subset((f >= fmin) & (f <= fmax) & (e <= eup_max))


def from_linecat(name: str) -> tuple[LineList, dict]:
    """Full CDMS line list of ``name`` from linecat, with the tag's table."""
    import linecat

    path = Path(linecat.__file__).parent / "data" / "molecules" / LINECAT_FILES[name]
    table = read_spcat(path)
    entry = next(e for e in entries_for(name) if e.tag == table.main_tag)
    ll = spcat_linelist(table, entry.partition, species=resolve(entry.name), catalog="CDMS")
    src = {
        "source": f"linecat {metadata.version('linecat')}: "
        f"linecat/data/molecules/{LINECAT_FILES[name]}",
        "file_sha256": sha256_file(path),
        "original_name": entry.name,
        "version": entry.version,
        "date": entry.date,
    }
    return ll, src


def from_splatalogue(
    name: str, catalog: str, db: Path, fmin: float, fmax: float
) -> tuple[LineList, dict] | None:
    """Full line list of ``name`` from one line list of casadata's Splatalogue (None if
    that line list has nothing between ``fmin`` and ``fmax`` MHz)."""
    parts = [read_splatalogue_db(n, db) for n in SPECIES[name]]
    rows = merge_rows(parts, parts[0].name) if len(parts) > 1 else parts[0]
    sel = drop_redundant_hfs(rows.select(rows.catalog == catalog))
    if not np.any((sel.freq >= fmin) & (sel.freq <= fmax)):
        return None
    tables = partition_tables(name)
    if not tables:
        raise SystemExit(f"no CDMS/JPL partition function for {name}")
    ll = splat_linelist(sel, tables[0].partition, species=resolve(name), catalog=catalog)
    sids = [int(p.source.rsplit("=", 1)[1]) for p in parts]
    raw = [
        r for sp in catalog_build.read_snapshot(db, sids).values() for r in sp.rows.get(catalog, [])
    ]
    flags: list[str] = []
    checks: dict = {}
    if catalog in ("CDMS", "JPL"):
        ll = catalog_build.restore_g_u(ll, flags, checks)
    a_ul, lgint = catalog_build.repair_a_ul(ll, raw, flags, checks)
    ll = LineList(
        ll.species,
        ll.freq,
        a_ul,
        ll.E_low,
        ll.E_up,
        ll.g_u,
        ll.partition,
        ll.qn,
        None,
        catalog,
        ll.source,
    )  # g_u as restored
    return ll, {
        "lgint": lgint,
        "flags": flags,
        "checks": checks,
        "source": f"casadata {metadata.version('casadata')}: splatalogue.db, "
        f"species {', '.join(p.name for p in parts)}, line list {catalog}",
        "original_name": " + ".join(p.name for p in parts),
        "version": f"Splatalogue snapshot in casadata {metadata.version('casadata')}",
        "date": "",
    }


def lamda_dir() -> Path:
    """spectralradex's LAMDA folder, found without importing spectralradex (a compiled module)."""
    import importlib.util

    spec = importlib.util.find_spec("spectralradex")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("spectralradex is not installed: pip install spectuner_nb[build-catalog]")
    return Path(spec.submodule_search_locations[0]) / "radex" / "data"


def from_lamda(name: str) -> tuple[LineList, dict]:
    """Full line list of ``name`` from a LAMDA file shipped by spectralradex."""
    from spectuner_nb.catalog.lamda import read_lamda
    from spectuner_nb.catalog.lamda import to_linelist as lamda_linelist

    path = lamda_dir() / LAMDA_FILES[name]
    ll = lamda_linelist(read_lamda(path), species=resolve(name))
    src = f"spectralradex {metadata.version('spectralradex')}: radex/data/{LAMDA_FILES[name]}"
    return ll, {
        "source": src,
        "file_sha256": sha256_file(path),
        "original_name": name,
        "version": "LAMDA (Schöier et al. 2005) as shipped by spectralradex",
        "date": "",
    }


def build(args: argparse.Namespace) -> list[Built]:
    """Build every species of :data:`SPECIES`."""
    db = splatalogue_db_path()
    marks = catalog_build.ism_marks(db)
    forced = dict(s.split("=", 1) for s in args.source)
    out = []
    for name in SPECIES:
        order = [forced[name]] if name in forced else args.precedence
        got = None
        for src in order:
            if src == "linecat":
                if name in LINECAT_FILES:
                    got = from_linecat(name)
                    catalog = "CDMS"
            elif src == "LAMDA":
                if name in LAMDA_FILES:
                    got = from_lamda(name)
                    catalog = "LAMDA"
            else:
                got = from_splatalogue(name, src, db, args.fmin, args.fmax)
                catalog = src
            if got:
                break
        if not got:
            print(f"  {name}: no source in band, skipped", file=sys.stderr)
            continue
        full, src = got
        lgint = src.get("lgint", np.full(len(full), np.nan))
        choice = choose_partition(
            full, partition_tables(name), catalog, catalog_build.implied_q300(full, lgint)
        )
        flags = src.get("flags", []) + choice["flags"]
        checks = {**src.get("checks", {})}
        q300 = catalog_build.implied_q300(full, lgint)
        a_ul = (
            full.A_ul
            if q300 is None
            else catalog_build.a_ul_from_lgint(
                full,
                lgint,
                catalog_build.lgint_reference_q300(choice["choice"], q300),
                flags,
                checks,
            )
        )
        full = LineList(
            full.species,
            full.freq,
            a_ul,
            full.E_low,
            full.E_up,
            full.g_u,
            choice["partition"],
            full.qn,
            choice["entry"].tag,
            catalog,
            full.source,
        )
        ll = band_cut(full, args.fmin, args.fmax, args.eup_max)
        entry = choice["entry"]
        before, after = choice["before"], choice["after"]
        record = {
            "name": ll.species,
            "query": name,
            "catalog": catalog,
            "tag": entry.tag,
            "original_name": src["original_name"],
            "version": src["version"] or entry.version,
            "date": src["date"] or entry.date,
            "source": src["source"],
            "n_lines": len(ll),
            "provenance": {
                "lines": src["source"],
                "partition_function": f"{entry.catalog} {entry.tag} '{entry.name}' "
                f"(astroquery {metadata.version('astroquery')})",
                "partition_scale": 1.0 / choice["factor"],
                "consistency_T_K": before.temperatures.tolist(),
                "ratio_table_over_levels": np.round(before.ratio, 4).tolist(),
                "ratio_after_fix": np.round(after.ratio, 4).tolist(),
                "estimated_level_share": np.round(after.estimated_share, 4).tolist(),
                "verdict": choice["verdict"],
                "flags": flags,
                "checks": checks,
                "ism": marks.get(ll.species, {}),
                "cuts": {"fmin_MHz": args.fmin, "fmax_MHz": args.fmax, "eup_max_K": args.eup_max},
            },
        }
        print(
            f"  {name:8s} {catalog:6s} {len(full):6d} → {len(ll):6d} lines; "
            f"Q {entry.catalog} {entry.tag}; ratio@20K {before.ratio[0]:.3f}; "
            f"{choice['verdict']}"
        )
        out.append(Built(ll, record))
    return out


def safe_filename(name: str, catalog: str) -> str:
    """File name for a species: canonical name with unsafe characters replaced."""
    return re.sub(r"[^A-Za-z0-9+\-]+", "_", name).strip("_") + f"_{catalog}.npz"


def same_content(path: Path, linelist: LineList) -> bool:
    """True if the starter file ``path`` exists and holds exactly ``linelist`` (all arrays
    equal). Such files are kept as they are, so a rebuild changes the bytes (and sha256)
    only of species whose data changed (``np.savez_compressed`` stamps the time)."""
    if not path.exists():
        return False
    new = species_arrays(linelist)
    with np.load(path, allow_pickle=False) as z:
        return set(z.files) == set(new) and all(np.array_equal(z[k], v) for k, v in new.items())


def write(built: list[Built], args: argparse.Namespace) -> dict:
    """Write the .npz files and manifest.json; return the manifest."""
    folder = starter_dir()
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for b in built:
        fname = safe_filename(b.record["name"], b.record["catalog"])
        if not same_content(folder / fname, b.linelist):
            save_species(folder / fname, b.linelist)
        records.append({**b.record, "file": fname, "sha256": sha256_file(folder / fname)})
    kept = {r["file"] for r in records}
    for old in folder.glob("*.npz"):
        if old.name not in kept:
            old.unlink()
    files = astroquery_data_files()
    manifest = {
        "starter_catalog_version": STARTER_VERSION,
        "built_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "builder": "scripts/build_starter_catalog.py",
        "options": {
            "fmin_MHz": args.fmin,
            "fmax_MHz": args.fmax,
            "eup_max_K": args.eup_max,
            "precedence": args.precedence,
            "forced_sources": args.source,
        },
        "sources": {
            "casadata": {
                "version": metadata.version("casadata"),
                "file": "casadata/__data__/ephemerides/splatalogue.db",
                "sha256": sha256_file(splatalogue_db_path()),
                "licence": "LGPL (NRAO)",
            },
            "linecat": {"version": metadata.version("linecat"), "licence": "MIT; data CDMS"},
            "spectralradex": {
                "version": metadata.version("spectralradex"),
                "licence": "package MIT; data LAMDA (Schöier et al. 2005)",
            },
            "astroquery": {
                "version": metadata.version("astroquery"),
                "licence": "BSD-3; data CDMS/JPL",
                **{k: sha256_file(v) for k, v in files.items()},
            },
        },
        "citation": "CDMS: Müller et al. 2001, 2005; Endres et al. 2016. JPL: Pickett et al. 1998. "
        "SLAIM: F. J. Lovas (Splatalogue). Splatalogue: Remijan et al. 2007. "
        "LAMDA: Schöier et al. 2005, A&A 432, 369.",
        "species": records,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return manifest


def write_consistency_doc(manifest: dict) -> None:
    """docs/catalog_consistency.md: the Q-table vs level-sum table."""
    rows = []
    for r in manifest["species"]:
        p = r["provenance"]
        fmt = " / ".join(f"{v:.3f}" for v in p["ratio_table_over_levels"])
        fmt2 = " / ".join(f"{v:.3f}" for v in p["ratio_after_fix"])
        share = max(p["estimated_level_share"])
        rows.append(
            f"| {r['name']} | {r['catalog']} | {p['partition_function']} | {fmt} | "
            f"{fmt2} | {share:.2f} | {p['verdict']} |"
        )
    temps = ", ".join(f"{t:g}" for t in manifest["species"][0]["provenance"]["consistency_T_K"])
    text = (
        f"""# Starter catalog: partition function vs. catalogued levels

Generated by `python scripts/build_starter_catalog.py` (starter catalog version
{manifest["starter_catalog_version"]}, built {manifest["built_utc"]}); do not edit by hand.

For every shipped species, Q(T) from the CDMS/JPL table is compared with the sum over
the levels its own line list implies (all frequencies of the source, before the band
and E_up cuts), Q_lev(T) = Σ g exp(−E/T), at T = {temps} K
(`spectuner_nb.catalog.consistency.check_partition`). Ratios are Q_table/Q_lev.

- A ratio already off at 20 K means the table and the g_u of the lines follow different
  conventions (nuclear-spin weights, hyperfine or K degeneracy). The build then divides
  the table by that ratio (rounded to a whole factor or its inverse when within 5 %):
  "fixed" below, and `partition_scale` in the manifest.
- A ratio that is fine at 20 K but grows with T means the table counts levels the list
  lacks (vibrational/torsional states, high-J levels beyond the source's line list); the
  table is then physically right and is kept, with a flag.
- "est. share" is the largest fraction of Q_lev carried by levels seen only as lower
  levels, whose g had to be estimated; where it is large the low-T ratio is less certain.

| species | lines | Q table | ratio before | ratio after | est. share | verdict |
| --- | --- | --- | --- | --- | --- | --- |
"""
        + "\n".join(rows)
        + "\n"
    )
    (ROOT / "docs" / "catalog_consistency.md").write_text(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--fmin", type=float, default=catalog_build.FMIN_MHZ, help="lowest frequency kept, MHz"
    )
    p.add_argument("--fmax", type=float, default=950_000.0, help="highest frequency kept, MHz")
    p.add_argument("--eup-max", type=float, default=2000.0, help="highest E_up kept, K")
    p.add_argument(
        "--precedence",
        type=lambda s: s.split(","),
        default=["linecat", "CDMS", "JPL", "LAMDA", "SLAIM"],
        help="source order, comma separated (default linecat,CDMS,JPL,LAMDA,SLAIM)",
    )
    p.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME=SOURCE",
        help="force the source of one species (repeatable), e.g. CO=SLAIM",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    built = build(args)
    manifest = write(built, args)
    write_consistency_doc(manifest)
    size = sum(f.stat().st_size for f in starter_dir().iterdir())
    print(f"wrote {len(built)} species, {size / 1e6:.2f} MB, to {starter_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
