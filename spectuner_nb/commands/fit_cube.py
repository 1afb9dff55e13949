"""``spectuner-nb fit-cube``: fit species pixel by pixel in one or more cubes (resumable)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import (
    add_dask_arguments,
    add_fit_arguments,
    add_v_lsr_argument,
    connect_scheduler,
    count,
    fit_options,
)


def register(subparsers) -> None:
    """Add the ``fit-cube`` subcommand."""
    from ..fit_settings import CUBE_DEFAULTS, CUBE_INITS

    p = subparsers.add_parser(
        "fit-cube",
        help="fit species pixel by pixel in cubes (Dask, resumable), write FITS maps",
        description="Fit LTE models of SPECIES to every selected pixel of the cubes (one FITS "
        "file or CASA image per spectral window) and write parameter, uncertainty and "
        "quality maps as FITS. Rerunning the same command resumes an interrupted run.",
    )
    p.add_argument("cubes", nargs="+", metavar="CUBE", help="one cube per spectral window")
    p.add_argument("--species", nargs="+", required=True, help="species names, e.g. CH3OH H2CO")
    p.add_argument("--out", required=True, type=Path, help="output directory for the maps")
    p.add_argument(
        "--continuum",
        nargs="+",
        metavar="IMAGE",
        help="continuum image per window (Jy/beam or K), same pixel grid",
    )
    add_v_lsr_argument(p)
    add_fit_arguments(p, inits=CUBE_INITS, defaults=CUBE_DEFAULTS)
    p.add_argument(
        "--chunk-size",
        type=count(1),
        default=CUBE_DEFAULTS.chunk_size,
        help=f"pixels per Dask task (default {CUBE_DEFAULTS.chunk_size})",
    )
    add_dask_arguments(p)
    p.add_argument(
        "--workdir", type=Path, default=None, help="chunk files for resuming (default OUT/work)"
    )
    p.add_argument("--restart", action="store_true", help="discard finished chunks, start afresh")
    p.add_argument(
        "--no-select", action="store_true", help="fit every pixel (skip the peak-count selection)"
    )
    p.add_argument(
        "--n-cut", type=float, default=3.0, help="selection: minimum mean peaks per window (3)"
    )
    p.add_argument(
        "--tie",
        action="store_true",
        help="tie step in every pixel (χ² only): T_ex and η the pixel leaves unconstrained "
        "come from the species it constrains",
    )
    p.add_argument("--plot", action="store_true", help="also write maps.html (Bokeh)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the fit and write the maps; returns the exit code (1 when no pixel was fitted)."""
    from ..cube import PreprocessConfig, fit_cube

    client: Any = None  # a local cluster (None), no Dask (False) or a dask Client
    if args.no_dask:
        client = False
    elif args.scheduler:
        client = connect_scheduler(args.scheduler)
    try:
        result = fit_cube(
            args.cubes,
            args.species,
            continuum=args.continuum,
            v_lsr=args.v_lsr,
            **fit_options(args),
            client=client,
            workdir=args.workdir or args.out / "work",
            resume=not args.restart,
            chunk_size=args.chunk_size,
            n_workers=args.workers,
            select=False if args.no_select else PreprocessConfig(n_cut=args.n_cut),
            progress=not args.quiet,
            tie=args.tie,
        )
    finally:
        if client:
            client.close()
    paths = result.write(args.out)
    if args.plot:
        from bokeh.embed import file_html
        from bokeh.resources import INLINE

        html = file_html(result.plot(), INLINE, "fit-cube maps")
        (args.out / "maps.html").write_text(html)
    if result.preprocessed is not None:
        (args.out / "selection_report.txt").write_text(result.preprocessed.report() + "\n")
    print(result)
    print(result.summary())
    print(f"wrote {len(paths)} files to {args.out}")
    if result.n_fitted == 0:
        print(
            "spectuner-nb fit-cube: error: no pixel was fitted (reasons above and in "
            f"{args.out / 'status.fits'})",
            file=sys.stderr,
        )
        return 1
    return 0


__all__ = ["register", "run"]
