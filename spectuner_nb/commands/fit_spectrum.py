"""``spectuner-nb fit-spectrum``: fit species to one spectrum and save the result.

FILE is a 1-D FITS spectrum, a FITS/CASA cube (one pixel, ``--pixel X Y``;
default the central pixel) or a two-column text file (frequency in MHz,
intensity; give ``--beam`` and ``--unit``). The result table is printed;
``--out PREFIX`` writes PREFIX.json (the full result), PREFIX.html (Bokeh
plot), PREFIX.png and PREFIX.molfit (XCLASS); PREFIX is used as given (dots
included: ``--out run/w3.px0`` writes ``run/w3.px0.json``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import add_fit_arguments, add_v_lsr_argument, count, fit_options, open_cache

OUTPUT_SUFFIXES: tuple[str, ...] = (".json", ".molfit", ".html", ".png")


def register(subparsers) -> None:
    """Add the ``fit-spectrum`` subcommand."""
    p = subparsers.add_parser(
        "fit-spectrum",
        help="fit LTE models of species to one spectrum",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", help="FITS spectrum or cube, CASA image, or two-column text file")
    p.add_argument("--species", nargs="+", required=True, help="species names (e.g. CH3OH HC3N)")
    p.add_argument(
        "--pixel",
        nargs=2,
        type=int,
        metavar=("X", "Y"),
        default=None,
        help="pixel of a cube (column, row); default: the central pixel",
    )
    add_observation_arguments(p)
    add_fit_arguments(p)
    p.add_argument(
        "--n-components", type=count(1), default=1, help="velocity components per species"
    )
    p.add_argument("--shared", nargs="*", default=(), help="parameters shared by all species")
    p.add_argument(
        "--cache",
        default=None,
        help="existing transition cache file, read only (default: the user cache)",
    )
    p.add_argument("--out", default=None, help="output prefix (default: FILE's name + _fit)")
    p.set_defaults(func=run)


def add_observation_arguments(p) -> None:
    """The options that describe the spectrum read from FILE (shared with ``identify``)."""
    add_v_lsr_argument(p)
    p.add_argument(
        "--beam",
        nargs=2,
        type=float,
        metavar=("BMAJ", "BMIN"),
        default=None,
        help="beam FWHM in arcsec (default: from the file)",
    )
    p.add_argument("--dish", type=float, default=None, help="single-dish diameter in m")
    p.add_argument("--unit", default="K", help="intensity unit of a text file (K, Jy/beam, …)")
    p.add_argument("--rms", type=float, default=None, help="noise in K (default: estimated)")
    p.add_argument("--t-bg", type=float, default=0.0, help="continuum temperature, K")


def load_observation(args):
    """The Observation described by the command-line arguments (:meth:`Observation.read`)."""
    from ..observation import Observation
    from ..readers import identify_format

    fmt = identify_format(args.file)
    options = {
        "beam": args.dish if args.dish is not None else (tuple(args.beam) if args.beam else None),
        "rms": args.rms,
        "T_bg": args.t_bg,
        "v_lsr": args.v_lsr,
    }
    if fmt == "text":
        options["unit"] = args.unit
    region = getattr(args, "region", None)  # identify's --region
    if region is not None:
        x0, x1, y0, y1 = region
        options["region"] = ((x0, x1), (y0, y1))
    if args.pixel is not None:
        options["pixel"] = tuple(args.pixel)
    return Observation.read(args.file, format=fmt, **options)


__all__ = ["register", "load_observation", "run"]


def run(args) -> int:
    """Fit, print the table, write JSON/HTML/PNG/molfit."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    from ..fit import fit_spectrum

    obs = load_observation(args)
    catalog = open_cache(args.cache)
    result = fit_spectrum(
        obs,
        args.species,
        catalog=catalog,
        **fit_options(args),
        n_components=args.n_components,
        shared=args.shared,
    )
    print(obs)
    print(result)
    result.to_table().pprint(max_width=200, max_lines=-1)
    paths = output_paths(args.out or Path(args.file).stem + "_fit")
    paths[".json"].parent.mkdir(parents=True, exist_ok=True)
    result.to_json(paths[".json"])
    result.to_molfit(paths[".molfit"])
    paths[".html"].write_text(file_html(result.plot(), INLINE, f"fit {obs.name}"))
    result.save_png(paths[".png"])
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def output_paths(prefix: str | Path) -> dict[str, Path]:
    """The output files of ``--out PREFIX``: PREFIX plus each suffix, PREFIX kept whole
    (``w3.px0`` → ``w3.px0.json``, never ``w3.json``)."""
    prefix = Path(prefix)
    return {suffix: prefix.with_name(prefix.name + suffix) for suffix in OUTPUT_SUFFIXES}
