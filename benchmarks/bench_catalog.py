"""Query speed of the transition cache: 5 species over the three G327 windows (docs/method.md §8).

Measured in the same run:
- ``warm``: ``cache.lines(species, windows)`` on an open cache (line lists memoised);
- ``cold_open``: a freshly opened TransitionCache answering the same query (reads SQLite);
- ``sql_range``: plain SQL range queries on the same database, one per species and window,
  with no in-memory copy (the peer a bare SQLite store would give);
- ``parse_cat``: reading and converting the CDMS CH3OH .cat file (no cache at all, 1 species).

The cache is made as on a fresh machine: the starter catalog imported, then (unless
``--starter-only``) the full offline catalog built from casadata (time, species, size
recorded, with the counts of excited states, isotopologues, quality flags and species left out,
and the size of the shipped starter catalog). Target (issue 19): warm < 1 ms.
Writes benchmarks/results/bench_catalog.json.

    python benchmarks/bench_catalog.py [--repeat 200] [--starter-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from spectuner_nb.catalog import TransitionCache, ensure_full_catalog
from spectuner_nb.catalog.build import FLAGS, skipped_species
from spectuner_nb.catalog.linelist import default_pad_kms
from spectuner_nb.catalog.starter import import_starter, starter_dir
from spectuner_nb.constants import C_KM_S

SPECIES = ("CH3OH", "CH3OCHO", "C2H5CN", "C2H3CN", "CH3OCH3")
G327 = [(215565.0, 217273.0), (217572.0, 219271.0), (229611.0, 231319.0)]
TARGET_MS = 1.0


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median wall time of ``fn()`` in ms over ``repeat`` calls, and its last result."""
    out, times = None, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeat", type=int, default=200)
    p.add_argument(
        "--starter-only", action="store_true", help="skip building the full offline catalog"
    )
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench_catalog_"))
    try:
        path = tmp / "transitions.sqlite"
        cache = TransitionCache(path)
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        import_starter(cache)
        import_ms = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        built = 0 if args.starter_only else ensure_full_catalog(cache, progress=False)
        full_s = time.perf_counter() - t0
        ready_cpu_s = time.process_time() - cpu0

        def warm():
            return [cache.lines(s, G327) for s in SPECIES]

        warm()  # fill the memo
        warm_ms, lists = timed(warm, args.repeat)
        n_lines = {ll.species: len(ll) for ll in lists}

        def cold():
            c = TransitionCache(path)
            out = [c.lines(s, G327) for s in SPECIES]
            c.close()
            return out

        cold_ms, _ = timed(cold, max(args.repeat // 20, 3))

        ids = [cache.entry(s).id for s in SPECIES]
        pad = default_pad_kms() / C_KM_S
        con = cache._con

        def sql_range():
            rows = 0
            for sid in ids:
                for lo, hi in G327:
                    rows += len(
                        con.execute(
                            "SELECT freq, a_ul, e_low, e_up, g_u FROM lines WHERE species_id=? "
                            "AND freq BETWEEN ? AND ? ORDER BY freq",
                            (sid, lo * (1 - pad), hi * (1 + pad)),
                        ).fetchall()
                    )
            return rows

        sql_ms, sql_rows = timed(sql_range, args.repeat)
        parse_ms = None
        try:
            from spectuner_nb.catalog.partfunc import partition_for_tag
            from spectuner_nb.catalog.spcat import read_spcat, to_linelist
            from spectuner_nb.settings import shared_data_dir

            cat = shared_data_dir() / "catalogs" / "cdms_jpl" / "c032504.cat"

            def parse():
                return to_linelist(
                    read_spcat(cat), partition_for_tag(32504).partition, species="CH3OH"
                ).in_windows(G327)

            parse_ms, _ = timed(parse, 3)
        except Exception as exc:  # shared data absent: skip that peer
            print(f"parse_cat peer skipped: {exc}")
        entries = cache.entries()
        families = [e.family for e in entries]
        result = {
            "species": list(SPECIES),
            "windows_MHz": G327,
            "lines_per_species": n_lines,
            "starter_import_ms": round(import_ms, 1),
            "full_catalog_build_s": None if args.starter_only else round(full_s, 1),
            "species_offline": len(cache.entries()),
            "species_built_from_casadata": built,
            "ready_s": round(import_ms / 1e3 + (0.0 if args.starter_only else full_s), 1),
            "ready_cpu_s": round(ready_cpu_s, 1),
            "excited_states": sum(f.excited for f in families),
            "isotopologues": sum(f.isotopologue for f in families),
            "flags": {f: sum(f in e.flags for e in entries) for f in FLAGS},
            "species_left_out": len(skipped_species(cache)),
            "cache_size_MB": round(sum(f.stat().st_size for f in tmp.iterdir()) / 1e6, 1),
            "starter_shipped_MB": round(
                sum(f.stat().st_size for f in starter_dir().iterdir()) / 1e6, 1
            ),
            "warm_ms": round(warm_ms, 4),
            "cold_open_ms": round(cold_ms, 2),
            "sql_range_ms": round(sql_ms, 3),
            "sql_rows": sql_rows,
            "parse_cat_ch3oh_ms": None if parse_ms is None else round(parse_ms, 1),
            "ratio_cold_over_warm": round(cold_ms / warm_ms, 1),
            "ratio_sql_over_warm": round(sql_ms / warm_ms, 1),
            "target_ms": TARGET_MS,
            "meets_target": warm_ms < TARGET_MS,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
        }
        print(json.dumps(result, indent=1))
        print(
            f"warm: {warm_ms:.3f} ms for 5 species × 3 windows (target < {TARGET_MS:g} ms); "
            f"cold open ×{cold_ms / warm_ms:.0f}, plain SQL ×{sql_ms / warm_ms:.1f}"
        )
        out = Path(__file__).parent / "results" / "bench_catalog.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        cache.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
