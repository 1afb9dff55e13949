"""``spectuner-nb identify``: which species are in a spectrum or a cube (docs/method.md §9).

FILE is read as by ``fit-spectrum``: a 1-D FITS spectrum, a FITS/CASA cube or a
two-column text file (MHz, intensity; give ``--beam`` or ``--dish`` and ``--unit``).
From a cube, one pixel (``--pixel X Y``, default the central pixel) or the mean
spectrum of a region (``--region X0 X1 Y0 Y1``, inclusive) is identified. The
identified species and the unknown lines are printed; ``--out DIR`` receives the
result (tables, joint model, molfit) and a Bokeh plot. With ``--map`` the cube is
then fitted pixel by pixel with the identified species as one joint model (χ²,
same bound preset, the tie step in every pixel) and the maps go to DIR/maps.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import add_dask_arguments, add_fit_arguments, connect_scheduler, fit_options, open_cache
from .fit_spectrum import add_observation_arguments, load_observation

__all__ = ["register", "run"]


def register(subparsers) -> None:
    """Add the ``identify`` subcommand."""
    from ..parameters import AUTO_PRESET, PRESET_CHOICES

    p = subparsers.add_parser(
        "identify",
        help="identify the species of a spectrum or cube",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", help="FITS spectrum or cube, CASA image, or two-column text file")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--pixel",
        nargs=2,
        type=int,
        metavar=("X", "Y"),
        default=None,
        help="pixel of a cube (column, row); default: the central pixel",
    )
    where.add_argument(
        "--region",
        nargs=4,
        type=int,
        metavar=("X0", "X1", "Y0", "Y1"),
        default=None,
        help="identify the mean spectrum of these pixels",
    )
    p.add_argument(
        "--candidates",
        nargs="+",
        default=None,
        help="species to consider (default: every catalog species with lines "
        "near the observed peaks)",
    )
    p.add_argument("--include", nargs="+", default=(), help="species always considered")
    p.add_argument("--exclude", nargs="+", default=(), help="species never considered")
    p.add_argument(
        "--preset",
        default=AUTO_PRESET,
        choices=PRESET_CHOICES,
        help="parameter bounds (default: chosen from the observed line widths)",
    )
    add_observation_arguments(p)
    add_fit_arguments(p, optimizer=False)
    p.add_argument(
        "--cache",
        default=None,
        help="existing transition cache file, read only (default: the user cache)",
    )
    add_dask_arguments(p, cube_fit="--map: ")
    p.add_argument(
        "--map",
        action="store_true",
        help="then map the cube with the identified species as one joint model",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: FILE's name + _identify); resumable work in OUT/work",
    )
    p.add_argument(
        "--restart",
        action="store_true",
        help="discard the finished fits in OUT/work (and OUT/map_work), start afresh",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    """Identify, print species and unknown lines, write the result (and the maps)."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    from ..identification import identify
    from ..readers import identify_format

    if args.map and identify_format(args.file) != "cube":
        from ..errors import ObservationError

        raise ObservationError(f"--map needs a cube; {args.file} is not one")
    obs = load_observation(args)
    catalog = open_cache(args.cache)
    out = args.out or Path(Path(args.file).stem + "_identify")
    client = connect_scheduler(args.scheduler) if args.scheduler else None
    try:
        result = identify(
            obs,
            args.candidates,
            catalog=catalog,
            include=args.include,
            exclude=args.exclude,
            bounds=args.preset,
            **fit_options(args),
            client=client,
            workdir=out / "work",
            resume=not args.restart,
            progress=not args.quiet,
        )
        print(obs)
        print(result)
        result.table().pprint(max_width=200, max_lines=-1)
        print(f"unknown lines ({len(result.unknown)} of {result.n_peaks} peaks):")
        result.unknown.pprint(max_width=200, max_lines=-1)
        result.write(out)
        (out / "identify.html").write_text(file_html(result.plot(), INLINE, f"identify {obs.name}"))
        print(f"wrote {out}")
        if args.map and result.species:
            maps = result.fit_cube(
                args.file,
                v_lsr=args.v_lsr,
                n_init=args.n_init,
                seed=args.seed,
                client=False if args.no_dask else client,
                n_workers=args.workers,
                workdir=out / "map_work",
                resume=not args.restart,
                catalog=catalog,
                progress=not args.quiet,
            )
            maps.write(out / "maps")
            print(maps.summary())
            print(
                f"wrote the joint-model maps ({result.settings['preset']} bounds) to {out / 'maps'}"
            )
    finally:
        if client:
            client.close()
    return 0
