"""Cube benchmark: speed, Dask scaling and parameter recovery; W3(H2O) maps.

Part ``synthetic``: a synthetic cube like the paper's G327 cube (docs/method.md §8):
``--size`` × ``--size`` pixels, the three G327 windows with 8740 channels,
CH3OH plus blended species (CH3OCHO, H2CO, OCS, HNCO), spatially varying known
parameters, noise and continuum. CH3OH is fitted on random subsets of the
selected pixels (``--subset`` for χ², ``--subset-pm`` for peak matching; chunks of
``--chunk-size`` pixels, as ``fit_cube`` splits a full map):

* ms/pixel on 2 Dask workers for χ² and for peak matching, policy init (random
  init when no policy checkpoint is shipped; the JSON says which was used),
  against the paper's 29 and 105 ms/pixel (16 cores + a GPU);
* the speed-up from 1 to 2 Dask workers (χ²; goal ≥ 1.7), with the serial
  in-process run as the peer;
* recovery for pixels with peak S/N > 10: median |Δ log10 N_tot| (goal < 0.1 dex)
  and median |ΔT_ex|/T_ex (goal < 15 %).

Part ``full``: every selected pixel of the same cube fitted with χ² on
``--workers`` Dask workers, timed as the paper times its map (4.9 min for
100 × 100 pixels, i.e. 29 ms per cube pixel), with recovery over the whole map.

Part ``w3``: CH3OH, H2CO, HC3N and OCS maps of the real W3(H2O) NOEMA cube
(χ², policy init, one species at a time), written as FITS under ``--out`` and as
docs/images/cube_w3h2o_maps.png.

Usage: python benchmarks/bench_cube.py [synthetic|full|w3|all] [--size 100] [--subset 1024]
       [--subset-pm 128] [--chunk-size 32]
Results: benchmarks/results/bench_cube.json (merged per part).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bench_cube.json"
PAPER_MS = {"chi2": 29.0, "pm": 105.0}
SPECIES = ["CH3OH", "CH3OCHO", "H2CO", "OCS", "HNCO"]
W3_SPECIES = ["CH3OH", "H2CO", "HC3N", "OCS"]


def _client(n: int):
    """A LocalCluster client with n single-threaded workers, set up as fit_cube's own."""
    from spectuner_nb.cube.scheduling import make_client

    return make_client(None, n)[0]


def _close(client) -> None:
    from spectuner_nb.cube.scheduling import close_client

    close_client(client)


def _timed_fit(cubes, mask, client, workdir, **kw):
    from spectuner_nb.cube import fit_cube

    t0 = time.perf_counter()
    res = fit_cube(
        cubes,
        "CH3OH",
        client=client,
        workdir=workdir,
        resume=False,
        mask=mask,
        progress=False,
        **kw,
    )
    return res, time.perf_counter() - t0


def _recovery(res, synth, pixels_mask) -> dict:
    ok = pixels_mask & (res.flags & 3 == 0) & (synth.peak_snr > 10)
    true_n = synth.truth[..., 0, 2]
    true_t = synth.truth[..., 0, 1]
    dlog = np.abs(np.log10(res.map("CH3OH", "N_tot")) - np.log10(true_n))[ok]
    dt = (np.abs(res.map("CH3OH", "T_ex") - true_t) / true_t)[ok]
    return {
        "n_pixels": int(ok.sum()),
        "median_abs_dlogN_dex": float(np.median(dlog)),
        "median_abs_dTex_rel": float(np.median(dt)),
        "frac_dlogN_below_0.1": float(np.mean(dlog < 0.1)),
        "goal_met": bool(np.median(dlog) < 0.1 and np.median(dt) < 0.15),
    }


N_CHAN = [2902, 2902, 2936]
"""Channels per G327 window: 8740 in all, ≈ 0.59 MHz each."""


def _synthetic(size: int, seed: int):
    from spectuner_nb.cube import make_synthetic_cube
    from spectuner_nb.cube.synthetic import G327_WINDOWS_MHZ

    return make_synthetic_cube(
        SPECIES,
        windows_mhz=G327_WINDOWS_MHZ,
        n_channels=N_CHAN,
        shape=(size, size),
        pixel_arcsec=0.3 * 16 / size,
        seed=seed,
    )


def bench_synthetic(
    size: int, subset: int, subset_pm: int, chunk_size: int, n_init: int, seed: int, workroot: Path
) -> dict:
    from spectuner_nb.cube import PreprocessConfig, preprocess
    from spectuner_nb.policy.loader import policy_available

    t0 = time.perf_counter()
    synth = _synthetic(size, seed)
    t_make = time.perf_counter() - t0
    t0 = time.perf_counter()
    pre = preprocess(synth.cubes, PreprocessConfig(), cache=False)
    t_pre = time.perf_counter() - t0
    print(pre.report())
    rng = np.random.default_rng(seed)
    kept = np.flatnonzero(pre.keep.ravel())
    pick = rng.choice(kept, size=min(max(subset, subset_pm), kept.size), replace=False)
    masks = {}
    for loss, n in (("chi2", subset), ("pm", subset_pm)):
        m = np.zeros(size * size, bool)
        m[pick[:n]] = True
        masks[loss] = m.reshape(size, size)
    mask = masks["chi2"]
    init = "policy"
    init_used = "policy" if policy_available() else "random (no policy checkpoint shipped)"
    out = {
        "cube": {
            "shape": [size, size],
            "channels": int(sum(N_CHAN)),
            "species": SPECIES,
            "fitted": "CH3OH",
            "make_s": t_make,
            "preprocess_s": t_pre,
            "kept_pixels": int(pre.keep.sum()),
            "subset_pixels": {k: int(m.sum()) for k, m in masks.items()},
            "subset_snr_gt_10": {
                k: int((m & (synth.peak_snr > 10)).sum()) for k, m in masks.items()
            },
        },
        "init": init_used,
        "n_init": n_init,
        "runs": {},
    }
    common = {"init": init, "n_init": n_init, "seed": seed, "chunk_size": chunk_size}
    clients = {n: _client(n) for n in (2, 1)}
    try:
        warm = np.zeros_like(mask)
        warm[np.unravel_index(pick[:4], mask.shape)] = True
        for client in clients.values():  # every worker imports, loads kernels and the policy
            for loss in ("chi2", "pm"):
                _timed_fit(
                    synth.cubes,
                    warm,
                    client,
                    workroot / "warm",
                    loss=loss,
                    **{**common, "chunk_size": 1},
                )
        # interleaved repeats; the best of each is kept (the 2 cores are shared with other jobs)
        plan = [("chi2", 2), ("chi2", 1), ("pm", 2), ("chi2", 2), ("chi2", 1)]
        for loss, n in plan:
            load = os.getloadavg()[0]
            res, wall = _timed_fit(
                synth.cubes, masks[loss], clients[n], workroot / f"{loss}_{n}", loss=loss, **common
            )
            key = f"{loss}_{n}workers"
            fitted = masks[loss] & (res.flags & 3 == 0)
            run = {
                "wall_s": wall,
                "ms_per_pixel": 1e3 * wall / masks[loss].sum(),
                "pixels": int(masks[loss].sum()),
                "load_avg_1min_before": load,
                "engine_ms_per_pixel_median": 1e3 * res.meta["pixel_s_median"],
                "median_nfev": float(np.median(res.nfev[fitted])) if fitted.any() else None,
                "failed_pixels": int((masks[loss] & (res.flags & 2 > 0)).sum()),
                "recovery": _recovery(res, synth, masks[loss]),
            }
            print(key, json.dumps(run))
            if key not in out["runs"] or wall < out["runs"][key]["wall_s"]:
                out["runs"][key] = run
    finally:
        for client in clients.values():
            _close(client)
    res, wall = _timed_fit(synth.cubes, mask, False, workroot / "serial", loss="chi2", **common)
    out["runs"]["chi2_serial"] = {
        "wall_s": wall,
        "ms_per_pixel": 1e3 * wall / mask.sum(),
        "engine_ms_per_pixel_median": 1e3 * res.meta["pixel_s_median"],
    }
    r = out["runs"]
    out["ratios"] = {
        "chi2_ms_per_pixel_vs_paper": r["chi2_2workers"]["ms_per_pixel"] / PAPER_MS["chi2"],
        "pm_ms_per_pixel_vs_paper": r["pm_2workers"]["ms_per_pixel"] / PAPER_MS["pm"],
        "speedup_1_to_2_workers": r["chi2_1workers"]["wall_s"] / r["chi2_2workers"]["wall_s"],
        "speedup_serial_to_2_workers": r["chi2_serial"]["wall_s"] / r["chi2_2workers"]["wall_s"],
    }
    out["goals"] = {
        "chi2_ms_per_pixel": 29.0,
        "pm_ms_per_pixel": 105.0,
        "speedup": 1.7,
        "median_abs_dlogN_dex": 0.1,
        "median_abs_dTex_rel": 0.15,
    }
    return out


def bench_full_map(
    size: int, chunk_size: int, n_init: int, seed: int, workers: int, workroot: Path
) -> dict:
    """χ² fit of every selected pixel of the synthetic cube, as the paper times its map."""

    synth = _synthetic(size, seed)
    client = _client(workers)
    try:
        warm = np.zeros(synth.cubes.shape, bool)
        c = size // 2
        warm[c : c + 2, c : c + 2] = True  # imports, kernels and the policy on every worker
        _timed_fit(
            synth.cubes,
            warm,
            client,
            workroot / "warm",
            loss="chi2",
            init="policy",
            n_init=n_init,
            seed=seed,
            chunk_size=1,
        )
        load = os.getloadavg()[0]
        res, wall = _timed_fit(
            synth.cubes,
            None,
            client,
            workroot / "full",
            loss="chi2",
            init="policy",
            n_init=n_init,
            seed=seed,
            chunk_size=chunk_size,
        )
    finally:
        _close(client)
    fitted = int(res.meta["n_pixels"])
    every = np.ones(synth.cubes.shape, bool)
    return {
        "cube_pixels": size * size,
        "fitted_pixels": fitted,
        "workers": workers,
        "load_avg_1min_before": load,
        "wall_s": wall,
        "ms_per_fitted_pixel": 1e3 * wall / fitted,
        "ms_per_cube_pixel": 1e3 * wall / (size * size),
        "paper_ms_per_cube_pixel": PAPER_MS["chi2"],
        "note": "wall time of the whole fit_cube call (selection included); the paper's "
        "29 ms/pixel is 4.9 min over its 100 x 100 map",
        "recovery": _recovery(res, synth, every),
    }


def bench_w3(out_dir: Path, n_init: int, workers: int) -> dict:
    from spectuner_nb.cube import fit_cube, load_cubes
    from spectuner_nb.settings import shared_data_dir

    path = shared_data_dir() / "spectra/noema_core_wideX/W3H2O_WideX_ABD_center.fits"
    cubes = load_cubes(path, v_lsr=-48.5)  # VELO-LSR of the file header
    cubes.header["OBJECT"] = "W3(H2O)"
    client = _client(workers)
    info: dict = {"cube": str(path.name), "species": {}, "loss": "chi2", "n_init": n_init}
    results = {}
    try:
        for sp in W3_SPECIES:
            t0 = time.perf_counter()
            res = fit_cube(
                cubes,
                sp,
                loss="chi2",
                init="policy",
                n_init=n_init,
                client=client,
                workdir=out_dir / "work" / sp,
                resume=False,
                progress=False,
                chunk_size=16,
            )
            wall = time.perf_counter() - t0
            info["init"] = res.meta["init"]
            res.write(out_dir / "maps" / sp)
            fitted = res.flags & 3 == 0
            info["species"][sp] = {
                "wall_s": wall,
                "pixels": int(fitted.sum()),
                "median_log10_N": float(np.nanmedian(np.log10(res.map(sp, "N_tot")[fitted]))),
                "median_T_ex": float(np.nanmedian(res.map(sp, "T_ex")[fitted])),
                "median_v_off": float(np.nanmedian(res.map(sp, "v_off")[fitted])),
            }
            results[sp] = res
            print(sp, json.dumps(info["species"][sp]))
    finally:
        _close(client)
    png = ROOT / "docs" / "images" / "cube_w3h2o_maps.png"
    _w3_png(results, png, info.get("init", ""))
    info["png"] = str(png.relative_to(ROOT))
    info["fits_dir"] = str(out_dir / "maps")
    return info


def _w3_png(results: dict, path: Path, init: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pars = [
        ("N_tot", "log10 N_tot (cm$^{-2}$)", True),
        ("T_ex", "T_ex (K)", False),
        ("v_off", "v_off (km/s)", False),
    ]
    fig, axes = plt.subplots(
        len(results), len(pars), figsize=(10, 3.0 * len(results)), constrained_layout=True
    )
    for i, (sp, res) in enumerate(results.items()):
        for j, (par, label, log) in enumerate(pars):
            data = res.map(sp, par)
            data = np.log10(data) if log else data
            lo, hi = np.nanpercentile(data, [2, 98])
            im = axes[i, j].imshow(data, origin="lower", vmin=lo, vmax=hi, cmap="viridis")
            axes[i, j].set_title(f"{sp}: {label}", fontsize=9)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            fig.colorbar(im, ax=axes[i, j], shrink=0.8)
    fig.suptitle(f"W3(H2O), NOEMA WideX 218.2–219.0 GHz, spectuner_nb fit_cube (χ², {init} init)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("part", nargs="?", default="all", choices=("synthetic", "full", "w3", "all"))
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--subset", type=int, default=1024, help="pixels fitted with χ²")
    ap.add_argument("--subset-pm", type=int, default=128, help="pixels fitted with peak matching")
    ap.add_argument("--chunk-size", type=int, default=32)
    ap.add_argument("--n-init", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--out",
        type=Path,
        default=ROOT / "work_cube",
        help="work and FITS output (default: the git-ignored work_cube/)",
    )
    args = ap.parse_args()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    saved["machine"] = {"cpu_count": os.cpu_count(), "note": "2 cores shared with other jobs"}
    if args.part in ("synthetic", "all"):
        saved["synthetic"] = bench_synthetic(
            args.size,
            args.subset,
            args.subset_pm,
            args.chunk_size,
            args.n_init,
            args.seed,
            args.out / "bench",
        )
        saved["synthetic"]["command"] = (
            f"python benchmarks/bench_cube.py synthetic --size {args.size} --subset "
            f"{args.subset} --subset-pm {args.subset_pm} --chunk-size {args.chunk_size}"
        )
        print(json.dumps(saved["synthetic"]["ratios"], indent=1))
    if args.part in ("full", "all"):
        saved["synthetic_full_map"] = bench_full_map(
            args.size, args.chunk_size, args.n_init, args.seed, args.workers, args.out / "full"
        )
        saved["synthetic_full_map"]["command"] = (
            f"python benchmarks/bench_cube.py full --size {args.size} --chunk-size "
            f"{args.chunk_size}"
        )
        print(json.dumps(saved["synthetic_full_map"], indent=1))
    if args.part in ("w3", "all"):
        saved["w3h2o"] = bench_w3(args.out / "w3h2o", args.n_init, args.workers)
        saved["w3h2o"]["command"] = "python benchmarks/bench_cube.py w3"
    RESULTS.write_text(json.dumps(saved, indent=1))
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
