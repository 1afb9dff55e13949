"""``spectuner-nb example``: the main job end to end on a built-in example.

A small synthetic cube is made from the shipped starter catalog (no network):
five species (CH3OH, CH3OCHO, H2CO, HC3N and C2H5CN) in two 1 mm windows (the
CH3OH 4(2)–3(1) line at 218.44 GHz and the J=5–4 series near 241.8 GHz) seen with
an ALMA-like beam, with spatially varying known parameters, noise and continuum.
It is written as FITS and read back like any user cube. The species of its
brightest pixel are then identified (docs/method.md §9) among the candidates —
by default every catalog species with lines near the observed peaks, except
C2H5CN, whose lines are therefore left as unknown lines. The identified species
are mapped pixel by pixel as one joint model (χ², policy proposals + SLSQP, on
Dask). The identification (tables, joint model, molfit, plot), the FITS
parameter maps and a PNG comparing them with the truth are written.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from . import count

EXAMPLE_SPECIES: tuple[str, ...] = ("CH3OH", "CH3OCHO", "H2CO", "HC3N", "C2H5CN")
EXAMPLE_INTERLOPER: str = "C2H5CN"
"""In the cube but left out of the candidates: its lines should stay unknown."""
EXAMPLE_WINDOWS_MHZ: tuple[tuple[float, float], ...] = ((218150.0, 218550.0), (241650.0, 241950.0))
EXAMPLE_CHANNELS: tuple[int, ...] = (400, 300)
EXAMPLE_LOG_N_PEAK: dict[str, float] = {
    "CH3OH": 17.5,
    "CH3OCHO": 17.3,
    "H2CO": 15.5,
    "HC3N": 15.0,
    "C2H5CN": 16.5,
}


def register(subparsers) -> None:
    """Add the ``example`` subcommand."""
    p = subparsers.add_parser(
        "example",
        help="identify the species of the built-in example cube and map them jointly",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out", default="spectuner_nb_example", help="output folder (default: %(default)s)"
    )
    p.add_argument(
        "--size", type=count(1), default=8, help="map size in pixels per side (default: 8)"
    )
    p.add_argument(
        "--candidates",
        nargs="+",
        default=None,
        help="species to consider (default: the whole catalog); C2H5CN is always left out",
    )
    p.add_argument(
        "--init",
        default="policy",
        choices=["policy", "random"],
        help="initial guesses of the maps: the shipped policy or random draws (default: policy)",
    )
    p.add_argument(
        "--workers", type=count(1), default=None, help="Dask workers (default: all cores)"
    )
    p.add_argument("--seed", type=count(0), default=0, help="random seed (default: 0)")
    p.add_argument(
        "--restart",
        action="store_true",
        help="discard the finished fits in OUT/identify/work and OUT/work, start afresh",
    )
    p.set_defaults(func=run)


def _plot_png(
    result, truth: np.ndarray, truth_species: list[str], species: list[str], path: Path
) -> None:
    """Fitted and true T_ex / log10 N_tot maps side by side, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("T_ex", 1, "T_ex (K)", False), ("N_tot", 2, "log10 N_tot (cm$^{-2}$)", True)]
    fig, axes = plt.subplots(len(species), 4, figsize=(13, 3.2 * len(species)), squeeze=False)
    for row, name in enumerate(species):
        for col, (par, index, label, log) in enumerate(panels):
            fitted = result.map(name, par)
            true = truth[:, :, truth_species.index(name), index]
            if log:
                fitted, true = np.log10(fitted), np.log10(true)
            lo, hi = np.nanmin(true), np.nanmax(true)
            for k, (data, what) in enumerate(((true, "truth"), (fitted, "fit"))):
                ax = axes[row, 2 * col + k]
                im = ax.imshow(data, origin="lower", vmin=lo, vmax=hi, cmap="viridis")
                ax.set_title(f"{name.split(';')[0]} {label}: {what}", fontsize=9)
                ax.set_xticks([])
                ax.set_yticks([])
                fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    """Make the cube, identify its species, map them, write everything; print a summary."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    from ..catalog import default_cache
    from ..cube import load_cubes
    from ..cube.synthetic import make_synthetic_cube
    from ..identification import identify
    from ..observation import Observation

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = default_cache()
    windows = list(EXAMPLE_WINDOWS_MHZ)
    span = ", ".join(f"{lo:.0f}–{hi:.0f}" for lo, hi in windows)
    in_cube = [cache.entry(name).name for name in EXAMPLE_SPECIES]
    for name in in_cube:
        lines = cache.lines(name, windows=windows, pad_kms=0.0)
        print(f"catalog: {name}: {len(lines)} lines in {span} MHz ({lines.catalog} {lines.tag})")

    t0 = time.perf_counter()
    synth = make_synthetic_cube(
        in_cube,
        windows_mhz=windows,
        n_channels=list(EXAMPLE_CHANNELS),
        shape=(args.size, args.size),
        log_n_peak={cache.entry(k).name: v for k, v in EXAMPLE_LOG_N_PEAK.items()},
        seed=args.seed,
    )
    files = synth.write(out / "input")
    print(
        f"example cube: {args.size}x{args.size} pixels, {sum(EXAMPLE_CHANNELS)} channels in "
        f"{len(windows)} windows, species {', '.join(in_cube)}; written to {out / 'input'}"
    )

    cubes = load_cubes(files["cubes"], continuum=files["continuum"])
    x, y = cubes.peak_pixel()
    obs = Observation.from_cube_pixel(
        [str(f) for f in files["cubes"]], x, y, T_bg=cubes.t_background(y, x)[0], v_lsr=cubes.v_lsr
    )
    ident = identify(
        obs,
        args.candidates,
        catalog=cache,
        exclude=[EXAMPLE_INTERLOPER],
        workdir=out / "identify" / "work",
        resume=not args.restart,
        seed=args.seed,
    )
    ident.write(out / "identify")
    (out / "identify" / "identify.html").write_text(
        file_html(ident.plot(), INLINE, f"identify {obs.name}")
    )
    print(ident)
    ident.table().pprint(max_width=160, max_lines=-1)
    print(
        f"unknown lines ({len(ident.unknown)} of {ident.n_peaks} peaks; the cube holds "
        f"{EXAMPLE_INTERLOPER}, left out of the candidates):"
    )
    ident.unknown["freq", "T_peak"].pprint(max_lines=-1)
    species = list(ident.species)
    print(f"identified: {', '.join(species) or 'nothing'}; in the cube: {', '.join(in_cube)}")
    if not species:
        return 0

    result = ident.fit_cube(
        cubes,
        init=args.init,
        optimizer="slsqp",
        n_workers=args.workers,
        workdir=out / "work",
        resume=not args.restart,
        seed=args.seed,
    )
    maps = result.write(out / "maps")
    mapped = [s for s in species if s in in_cube]
    png = out / "example_maps.png"
    _plot_png(result, synth.truth, in_cube, mapped, png)
    elapsed = time.perf_counter() - t0

    print(result.summary())
    fitted = np.isfinite(result.map(species[0], "T_ex"))
    for name in mapped:
        s = in_cube.index(name)
        d_logn = np.log10(result.map(name, "N_tot")) - np.log10(synth.truth[:, :, s, 2])
        d_t = result.map(name, "T_ex") / synth.truth[:, :, s, 1] - 1.0
        print(
            f"recovery {name.split(';')[0]}: median |Δlog10 N_tot| = "
            f"{np.nanmedian(np.abs(d_logn[fitted])):.3f} dex, median |ΔT_ex|/T_ex = "
            f"{np.nanmedian(np.abs(d_t[fitted])):.1%}"
        )
    print(
        f"identification of pixel ({x}, {y}) in {out / 'identify'}; joint-model maps "
        f"({ident.settings['preset']} bounds, init {result.meta.get('init')}): {len(maps)} FITS "
        f"files in {out / 'maps'}; plot {png}; total {elapsed:.1f} s"
    )
    return 0


__all__ = [
    "EXAMPLE_SPECIES",
    "EXAMPLE_WINDOWS_MHZ",
    "EXAMPLE_CHANNELS",
    "EXAMPLE_LOG_N_PEAK",
    "register",
    "run",
]
