"""``spectuner-nb catalog``: inspect and fill the transition cache.

Subcommands: ``list``, ``show SPECIES``, ``lines SPECIES --fmin --fmax``,
``import FILE``, ``fetch SPECIES``. The user cache (with the shipped starter
catalog) is used unless ``--cache PATH`` names another database.
"""

from __future__ import annotations

import argparse

import numpy as np

from . import open_cache

__all__ = ["SHOW_TEMPERATURES_K", "register", "format_table"]

SHOW_TEMPERATURES_K = (9.375, 18.75, 37.5, 75.0, 150.0, 225.0, 300.0, 500.0, 1000.0)


def register(subparsers) -> None:
    """Add the ``catalog`` subcommand and its own subcommands."""
    p = subparsers.add_parser(
        "catalog",
        help="list, show, import or fetch spectroscopic data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--cache",
        default=None,
        help="SQLite cache file (default: the user cache); must exist, except for "
        "import and fetch, which create it",
    )
    sub = p.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)

    s = sub.add_parser("list", help="species in the cache, filtered, with counts")
    s.add_argument("--catalog", default=None, help="only this catalog (CDMS, JPL, SLAIM, …)")
    s.add_argument(
        "--formula",
        default=None,
        help="only this formula (any spelling, any state), e.g. CH3OH or 13CO",
    )
    s.add_argument(
        "--parent",
        default=None,
        help="only the family of this species: its isotopologues and states",
    )
    s.add_argument("--tag", type=int, default=None, help="only this CDMS/JPL tag")
    kind = s.add_mutually_exclusive_group()
    kind.add_argument("--states", action="store_true", help="only vibrationally excited states")
    kind.add_argument("--isotopologues", action="store_true", help="only isotopologues")
    kind.add_argument(
        "--main", action="store_true", help="only main isotopologues in their ground state"
    )
    s.add_argument(
        "--ism",
        action="store_true",
        help="only species the Splatalogue snapshot marks as detected in space",
    )
    s.add_argument("--flag", default=None, help="only entries carrying this quality flag")
    s.add_argument("--counts", action="store_true", help="print only the counts")
    s.add_argument(
        "--left-out",
        action="store_true",
        help="list the snapshot species the full catalog left out, with the reason",
    )
    s.set_defaults(func=_list)

    s = sub.add_parser("show", help="directory data, Q(T) and provenance of one species")
    s.add_argument("species")
    s.add_argument("--catalog", default=None)
    s.set_defaults(func=_show)

    s = sub.add_parser("lines", help="transitions of one species between two frequencies")
    s.add_argument("species")
    s.add_argument("--fmin", type=float, required=True, help="MHz")
    s.add_argument("--fmax", type=float, required=True, help="MHz")
    s.add_argument(
        "--pad-kms",
        type=float,
        default=0.0,
        help="widen the range by this velocity on each side, km/s (default 0)",
    )
    s.add_argument("--eup-max", type=float, default=None, help="only lines with E_up ≤ this, K")
    s.add_argument("--catalog", default=None)
    s.set_defaults(func=_lines)

    s = sub.add_parser("import", help="import a .cat, LAMDA .dat, Splatalogue .csv or .db file")
    s.add_argument("file")
    s.add_argument("--species", default=None, help="species name (needed for a .db file)")
    s.add_argument(
        "--format",
        default="auto",
        choices=["auto", "spcat", "lamda", "splatalogue_csv", "splatalogue_db"],
    )
    s.add_argument(
        "--intensity",
        default="auto",
        choices=["auto", "lgint", "log10_aij"],
        help="what the third column of a SPCAT file holds (default: guess)",
    )
    s.set_defaults(func=_import)

    s = sub.add_parser("fetch", help="download a species from CDMS or JPL (needs network)")
    s.add_argument("species")
    s.add_argument("--catalog", default="CDMS", choices=["CDMS", "JPL"])
    s.set_defaults(func=_fetch)


def _cache(args, *, write: bool = False):
    """The ``--cache`` database (read-only and existing unless ``write``), else the user
    cache."""
    from ..catalog import default_cache

    return open_cache(args.cache, write=write) or default_cache()


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with right-aligned numeric columns."""
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def fmt(cells: list[str]) -> str:
        out = []
        for c, w in zip(cells, widths, strict=True):
            numeric = c.replace(".", "", 1).replace("-", "", 1).replace("e", "", 1).isdigit()
            out.append(c.rjust(w) if numeric else c.ljust(w))
        return "  ".join(out).rstrip()

    lines = [fmt(headers), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in rows]
    return "\n".join(lines)


def _keep(e, args) -> bool:
    """Does entry ``e`` pass the ``list`` filters of ``args``?"""
    from ..catalog.names import family, parse

    fam = family(e.name)
    checks = [
        args.formula is None or parse(e.name).formula == parse(args.formula).formula,
        args.parent is None or fam.parent == family(args.parent).parent,
        args.tag is None or e.tag == args.tag,
        not args.states or fam.excited,
        not args.isotopologues or fam.isotopologue,
        not args.main or not (fam.excited or fam.isotopologue),
        not args.ism or bool(e.ism),
        args.flag is None or args.flag in e.flags,
    ]
    return all(checks)


def _counts(entries) -> list[str]:
    """Summary lines: entries per catalog and origin, states, isotopologues, ISM, flags."""
    from collections import Counter

    fams = [e.family for e in entries]
    flags = Counter(f for e in entries for f in e.flags)

    def line(label: str, counter: Counter) -> str:
        return f"{label}: " + ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))

    return [
        line("catalogs", Counter(e.catalog for e in entries)),
        line("origins", Counter(e.origin for e in entries)),
        f"excited states {sum(f.excited for f in fams)}, isotopologues "
        f"{sum(f.isotopologue for f in fams)}, detected in space (snapshot) "
        f"{sum(bool(e.ism) for e in entries)}, lines {sum(e.n_lines for e in entries)}",
        line("flags", flags) if flags else "flags: none",
    ]


def _list(args) -> int:
    from ..catalog import default_cache

    cache = open_cache(args.cache) or default_cache(full=True)
    if args.left_out:
        return _left_out(cache)
    entries = [e for e in cache.entries(catalog=args.catalog) if _keep(e, args)]
    if not args.counts:
        rows = [
            [
                e.name,
                e.catalog,
                str(e.tag or ""),
                str(e.n_lines),
                f"{(e.fmin or 0) / 1e3:.1f}",
                f"{(e.fmax or 0) / 1e3:.1f}",
                e.origin,
                ",".join(f for f in e.flags if f != "q_extrapolated_above_300K"),
            ]
            for e in entries
        ]
        print(
            format_table(
                ["species", "catalog", "tag", "lines", "fmin/GHz", "fmax/GHz", "origin", "flags"],
                rows,
            )
        )
        print()
    print("\n".join(_counts(entries)))
    print(f"{len(entries)} entries in {cache.path}")
    return 0


def _left_out(cache) -> int:
    """Print the snapshot species the last full-catalog build left out, with the reasons."""
    from collections import Counter

    from ..catalog.build import skipped_species

    skipped = skipped_species(cache)
    if skipped:
        print(format_table(["snapshot species", "reason"], sorted(map(list, skipped.items()))))
        print()

    def kind(reason: str) -> str:  # the reason with its numbers and names left out
        words = reason.split(":")[0].split(" (")[0].split()
        return " ".join("…" if w[0].isdigit() or ";" in w else w for w in words)

    kinds = Counter(kind(reason) for reason in skipped.values())
    for label, n in kinds.most_common():
        print(f"{n:4d}  {label}")
    print(f"{len(skipped)} snapshot species left out of {cache.path}")
    return 0


def _show(args) -> int:
    cache = _cache(args)
    e = cache.entry(args.species, catalog=args.catalog)
    ll = cache.linelist(args.species, catalog=args.catalog)
    print(
        f"{e.name}  ({e.catalog} {e.tag or ''}, {e.n_lines} lines, "
        f"{(e.fmin or 0) / 1e3:.3f}–{(e.fmax or 0) / 1e3:.3f} GHz)"
    )
    for key in ("original_name", "version", "date", "source", "origin"):
        print(f"  {key:14s} {getattr(e, key)}")
    for key, value in sorted(e.provenance.items()):
        print(f"  {key:14s} {value}")
    t = np.array(SHOW_TEMPERATURES_K)
    q = ll.partition(t)
    flag = ll.partition.is_extrapolated(t)
    rows = [
        [f"{ti:g}", f"{qi:.4g}", f"{np.log10(qi):.4f}", "extrapolated" if fi else ""]
        for ti, qi, fi in zip(t, q, flag, strict=True)
    ]
    print("\n" + format_table(["T/K", "Q", "log10 Q", ""], rows))
    return 0


def _lines(args) -> int:
    cache = _cache(args)
    ll = cache.lines(
        args.species, [(args.fmin, args.fmax)], pad_kms=args.pad_kms, catalog=args.catalog
    )
    if args.eup_max is not None:
        ll = ll.subset(np.asarray(ll.E_up) <= args.eup_max)
    qn = np.asarray(ll.qn)
    rows = [
        [f"{f:.4f}", f"{a:.3e}", f"{el:.2f}", f"{eu:.2f}", f"{g:g}", str(qn[i]) if qn.size else ""]
        for i, (f, a, el, eu, g) in enumerate(
            zip(ll.freq, ll.A_ul, ll.E_low, ll.E_up, ll.g_u, strict=True)
        )
    ]
    print(
        f"{ll.species} ({ll.catalog} {ll.tag or ''}): {len(ll)} lines, "
        f"{args.fmin:g}–{args.fmax:g} MHz"
    )
    print(format_table(["freq/MHz", "A_ul/s-1", "E_low/K", "E_up/K", "g_u", "QNs"], rows))
    return 0


def _import(args) -> int:
    cache = _cache(args, write=True)
    e = cache.import_file(
        args.file, species=args.species, fmt=args.format, intensity=args.intensity
    )
    print(f"imported {e.name} ({e.catalog} {e.tag or ''}): {e.n_lines} lines into {cache.path}")
    return 0


def _fetch(args) -> int:
    cache = _cache(args, write=True)
    e = cache.fetch(args.species, args.catalog)
    print(f"fetched {e.name} ({e.catalog} {e.tag}): {e.n_lines} lines into {cache.path}")
    return 0
