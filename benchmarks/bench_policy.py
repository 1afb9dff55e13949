"""The shipped policy's figures: proposal cost and fit quality against PSO ×3.

``cost``: 50 samples per pixel, batched over 100 pixels, on CPU (goal ≤ 20 ms
per pixel). Peer measured in the same run: scoring the same 50 samples with
our LTE model + peak-matching loss (the work every policy-initialised fit
does next). Real W3(H2O) pixels (shared data) or mocks when those are absent.

``fits``: the fitting helper's harness (benchmarks/fit_quality.py) with
PSO ×3 (reference), random-init SLSQP and policy-init SLSQP (n_init = 50) on
four groups of cases: W3(H2O) pixels and mock spectra, each for training
species and for held-out species never trained on. Cases are interleaved
across groups and the run stops adding cases after ``--budget-min``.

    python benchmarks/bench_policy.py cost [--pixels 100] [--samples 50] [--threads 1]
    nice -n 10 python benchmarks/bench_policy.py fits [--budget-min 30] [--w3-per-bin 16]
                                                    [--mock-spectra 60] [--checkpoint DIR]
                                                    [--tag NAME] [--reference FILE]

``--reference FILE`` (a previous ``fits`` result with the same seed and case counts, e.g.
of the shipped checkpoint) takes PSO ×3 and random-init SLSQP from that file instead of
running them again (they do not depend on the checkpoint: same cases, same seeds) and
computes ε of the policy methods against its PSO ×3 losses: a candidate checkpoint costs
about a quarter of a full run. SLSQP's end points follow last-digit differences of BLAS
products, so compare runs made with the same BLAS thread count (recorded as
``blas_threads``; the shipped results use numpy's default, i.e. OMP_NUM_THREADS unset).

Diagnostics beyond the issue's groups: ``--w3-train-species A,B,...`` fits other training
species in the W3(H2O) training group (e.g. training species the cube barely shows, as a
control for the held-out group), ``--groups`` runs only the named groups, ``--n-init N``
gives random-init and policy-init SLSQP N start points instead of docs/method.md's 50 (PSO ×3
still reused from ``--reference``, the other methods run again), ``--w3-pixels even`` fits
the W3(H2O) pixels with even x + y, which the policy trained on, instead of the odd ones.

``compare A.json B.json``: paired per-case differences of ε(policy + SLSQP), B − A, per
group (mean ± standard error; cases matched by group, case and species): two checkpoints
on the same cases.

    python benchmarks/bench_policy.py compare benchmarks/results/bench_policy_fits_big.json \
                                              benchmarks/results/bench_policy_fits_big_candidate.json

``convention``: sensitivity of the policy's proposals to the catalog's degeneracy
convention. For W3(H2O) held-out pixels of one species (the cases of a ``fits`` result),
the best of 50 policy draws (ℓ_PM, K) with g_u and Q(T) of the line list both × k: the
LTE spectra are the same for every k, so an invariant policy gives the same losses.

    python benchmarks/bench_policy.py convention --species CH3OCH3 --factors 1,18,0.05 \
        [--checkpoint DIR] [--pixels 12]

``brightness``: how bright the policy's proposals are on W3(H2O) pixels. Per case
of a ``fits`` result (its PSO ×3 optimum), the median over 50 policy draws of the model
brightness at the channel where the PSO ×3 model peaks (± 2 channels), divided by that
peak: 1 is right, above 1 too bright. Median of the ratios per species (default: the
held-out species; training species of the cases, e.g. ``--species CH3OH,OCS``, for contrast).

    python benchmarks/bench_policy.py brightness [--species NH2CHO,C2H5OH] [--checkpoint DIR]

``coverage PIXELS.json RUN_DIR``: how many of a training run's replay entries (pixel,
species, augmentation) were ever drawn, per kind of pixel (real W3(H2O), W3-like mock,
standard mock), from the run's saved state (e.g. a recipe stage's ``train_pixels.json``
and ``run/``).

    python benchmarks/bench_policy.py coverage W/run14G/train_pixels.json W/run14G/run --tag run14G

``strata A.json [B.json ...]``: where ε comes from. Per group of each ``fits`` result, the
cases split by the PSO ×3 reference loss ℓ_ref (K) into strong (ℓ_ref < −3), moderate
(−3 ≤ ℓ_ref < −1) and faint (ℓ_ref ≥ −1) contributions of the species to the pixel:
count, share of the summed ε(policy + SLSQP), and mean ε of policy + SLSQP and of
random-init SLSQP. With ℓ_ref near 0 the relative loss (paper Eq. 16) is near ±1 for
any miss, so faint cases weigh most.

    python benchmarks/bench_policy.py strata benchmarks/results/bench_policy_fits_big.json

Results: benchmarks/results/bench_policy.json (cost), bench_policy_fits.json (the standard
159 cases) with docs/images/policy_fit_quality.png, and bench_policy_fits_big.json (438 cases,
``--w3-per-bin 40 --mock-spectra 150 --tag big``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch

from spectuner_nb.catalog import default_cache
from spectuner_nb.losses import PeakMatchingLoss
from spectuner_nb.model import LTEModel
from spectuner_nb.observation import Observation
from spectuner_nb.policy import Policy
from spectuner_nb.policy.training.dataset import W3H2O_VLSR_KMS, w3h2o_cube
from spectuner_nb.settings import shared_data_dir

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
GOAL_MS = 20.0
W3_HELDOUT = ("C2H5CN", "C2H3CN", "CH3OCH3", "NH2CHO", "C2H5OH")
"""Held-out species with lines in the W3(H2O) window."""
FIT_METHODS = ("pso_x3", "random_slsqp", "policy_slsqp", "policy_only")
GROUPS = ("w3h2o/train", "w3h2o/heldout", "mock/train", "mock/heldout")
"""The issue's four groups of cases: dataset / training or held-out species."""
CHECKPOINT_FREE_METHODS = ("pso_x3", "random_slsqp")
"""Methods whose results do not depend on the policy (reusable with ``--reference``)."""


def pixels(n: int) -> tuple[list[Observation], str]:
    """``n`` observations: W3(H2O) cube pixels (cycled) or mocks."""
    if shared_data_dir(required=False) is not None:
        cube = w3h2o_cube()
        coords = [(x, y) for y in range(cube.shape[1]) for x in range(cube.shape[2])][:n]
        return [
            Observation.from_cube_pixel(cube, x, y, v_lsr=W3H2O_VLSR_KMS) for x, y in coords
        ], "W3(H2O) pixels"
    from spectuner_nb.mock import mock_spectrum

    return [mock_spectrum(["CH3OH"], seed=i).obs for i in range(n)], "mock pixels"


def proposal_cost(args) -> dict:
    """Time features + sampling for ``args.pixels`` pixels × ``args.samples`` samples."""
    torch.set_num_threads(args.threads)
    catalog = default_cache()
    obs, source = pixels(args.pixels)
    policy = Policy.load(args.checkpoint)
    lines = [[catalog.lines(args.species, o.windows)] for o in obs]
    policy.sample(obs[:2], lines[0][0], 4, seed=0)  # warm-up

    t0 = time.perf_counter()
    inputs = policy.inputs(obs, lines, seed=0)
    t1 = time.perf_counter()
    x, _ = policy.sample_inputs(inputs, args.samples, seed=0)
    t2 = time.perf_counter()
    t_feat, t_net = t1 - t0, t2 - t1

    t3 = time.perf_counter()
    for o, ll, xi in zip(obs, lines, x, strict=True):
        model = LTEModel(o.rest_freqs, ll, beam=o.beam, T_bg=o.T_bg)
        PeakMatchingLoss(o.rest_freqs, o.intensities, o.rms)(model.from_fit(xi[:, None, :]))
    t_peer = time.perf_counter() - t3

    n = len(obs)
    per_pixel_ms = 1e3 * (t_feat + t_net) / n
    result = {
        "source": source,
        "species": args.species,
        "pixels": n,
        "samples": args.samples,
        "threads": args.threads,
        "checkpoint": str(args.checkpoint or "shipped"),
        "features_ms_per_pixel": 1e3 * t_feat / n,
        "network_ms_per_pixel": 1e3 * t_net / n,
        "proposal_ms_per_pixel": per_pixel_ms,
        "peer_score_50_samples_ms_per_pixel": 1e3 * t_peer / n,
        "ratio_proposal_to_peer": per_pixel_ms / (1e3 * t_peer / n),
        "goal_ms_per_pixel": GOAL_MS,
        "goal_met": bool(per_pixel_ms <= GOAL_MS),
        "finite": bool(np.all(np.isfinite(x))),
    }
    _write_result("bench_policy", "", result)
    print(json.dumps(result, indent=1))
    return result


def _fit_quality_module():
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "fit_quality", ROOT / "benchmarks" / "fit_quality.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["fit_quality"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _pixel_xy(name: str) -> tuple[int, int]:
    """(x, y) of a W3(H2O) case named "pixel (x,y)"."""
    x, y = (int(v) for v in name.split("(")[1].rstrip(")").split(","))
    return x, y


def _w3h2o_observation(cube, name: str) -> Observation:
    """The observation of the W3(H2O) case named "pixel (x,y)"."""
    x, y = _pixel_xy(name)
    return Observation.from_cube_pixel(cube, x, y, v_lsr=W3H2O_VLSR_KMS)


def _write_result(stem: str, tag: str, out: dict) -> Path:
    """Write ``out`` to benchmarks/results/<stem>[_<tag>].json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{stem}{f'_{tag}' if tag else ''}.json"
    path.write_text(json.dumps(out, indent=1, default=float))
    return path


W3_PIXEL_PARITY = {"odd": 1, "even": 0}
"""W3(H2O) pixels by parity of x + y: the policy trained on the even ones only."""


def _pixels_of_parity(cases: list, parity: str = "odd") -> list:
    """Cases on W3(H2O) pixels whose x + y is odd (held out) or even (trained on)."""
    return [case for case in cases if sum(_pixel_xy(case.name)) % 2 == W3_PIXEL_PARITY[parity]]


def fit_groups(
    fq,
    catalog,
    seed: int,
    w3_per_bin: int,
    mock_spectra: int,
    w3_train_species: tuple[str, ...] | None = None,
    w3_pixels: str = "odd",
) -> dict[str, list]:
    """Cases of the four groups, relabelled ``<dataset>/<train|heldout>``.

    ``w3_train_species`` replaces the W3(H2O) training-species group's species (default
    fit_quality's ``W3_SPECIES``, the species W3(H2O) is known to show). ``w3_pixels``:
    "odd" (x + y odd, never trained on) or "even" (the training pixels, a diagnostic).
    """
    from spectuner_nb.catalog import resolve
    from spectuner_nb.policy.training.dataset import HELDOUT_SPECIES

    held = {resolve(s) for s in HELDOUT_SPECIES}
    groups: dict[str, list] = {name: [] for name in GROUPS}
    if shared_data_dir(required=False) is not None:
        groups["w3h2o/train"] = _pixels_of_parity(
            fq.w3h2o_cases(
                catalog,
                n_per_bin=w3_per_bin,
                max_species=1,
                seed=seed,
                species=w3_train_species or fq.W3_SPECIES,
            ),
            w3_pixels,
        )
        groups["w3h2o/heldout"] = _pixels_of_parity(  # same pixel/peak selection
            fq.w3h2o_cases(
                catalog, n_per_bin=w3_per_bin, max_species=1, seed=seed + 1, species=W3_HELDOUT
            ),
            w3_pixels,
        )
    for case in fq.mock_cases(
        catalog, n_spectra=mock_spectra, n_channels=400, max_species=2, seed=seed
    ):
        key = "mock/heldout" if resolve(case.species) in held else "mock/train"
        groups[key].append(case)
    for name, cases in groups.items():
        for case in cases:
            case.dataset = name
    return groups


def blas_threads() -> int:
    """Threads of the BLAS numpy uses (OMP_NUM_THREADS and friends set it at start-up).

    SLSQP's trajectories follow last-digit differences of the BLAS products in its
    gradients, so runs to be compared case by case need the same count.
    """
    from threadpoolctl import threadpool_info

    return max(
        (int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"), default=1
    )


def _reference_records(path: str, args, n_init: int) -> dict[tuple, dict]:
    """Checkpoint-free records of a previous run, keyed by (dataset, case, species, method);
    the run must have used ``n_init`` start points (docs/method.md's)."""
    ref = json.loads(Path(path).read_text())
    if ref.get("blas_threads", blas_threads()) != blas_threads():
        raise SystemExit(
            f"--reference {path}: made with {ref['blas_threads']} BLAS threads, "
            f"this run has {blas_threads()} (set OMP_NUM_THREADS to match)"
        )
    older = {"w3_pixels": "odd"}  # what files from before an option was added used
    for key in ("seed", "w3_per_bin", "mock_spectra", "w3_train_species", "w3_pixels"):
        value = ref.get(key, older.get(key))
        if value != getattr(args, key):
            raise SystemExit(
                f"--reference {path}: {key} is {value!r}, this run has "
                f"{getattr(args, key)!r}; the cases would differ"
            )
    if ref.get("n_init", n_init) != n_init:
        raise SystemExit(
            f"--reference {path}: made with --n-init {ref['n_init']}; use a run "
            f"with the default {n_init}"
        )
    return {
        (r["dataset"], r["case"], r["species"], r["method"]): r
        for r in ref["records"]
        if r["method"] in CHECKPOINT_FREE_METHODS and "failed" not in r
    }


def _run_case(
    fq,
    case,
    seed: int,
    reuse: dict[tuple, dict] | None,
    reused_methods: tuple[str, ...] = CHECKPOINT_FREE_METHODS,
) -> list[dict]:
    """Records of one case: every method, or all but ``reused_methods`` with ``reuse``
    (ε against the reused PSO ×3 loss; [] when the reference lacks the case)."""
    from spectuner_nb.losses import relative_loss

    if reuse is None:
        return fq.run_cases([case], list(FIT_METHODS), seed)
    old = [reuse.get((case.dataset, case.name, case.species, m)) for m in reused_methods]
    if any(r is None for r in old):
        print(f"{case.dataset} {case.name} {case.species}: not in the reference, skipped")
        return []
    new = fq.run_cases([case], [m for m in FIT_METHODS if m not in reused_methods], seed)
    ref_loss = old[0]["loss"]
    for r in new:
        if "loss" in r:
            r["ref_loss"], r["eps"] = ref_loss, float(relative_loss(r["loss"], ref_loss))
    return old + new


def fit_comparison(args) -> dict:
    """PSO ×3 vs random-init and policy-init SLSQP on the four groups, within a time budget."""
    import os

    import numba

    from spectuner_nb.catalog import default_cache
    from spectuner_nb.policy.loader import CHECKPOINT_ENV

    wanted = set(args.groups.split(",")) if args.groups else set(GROUPS)
    unknown = wanted - set(GROUPS)
    if unknown:
        raise SystemExit(f"--groups: unknown {sorted(unknown)}; choose from {list(GROUPS)}")
    if args.checkpoint:
        os.environ[CHECKPOINT_ENV] = str(Path(args.checkpoint).resolve())
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    fq = _fit_quality_module()
    n_init = args.n_init or fq.N_INIT
    fq.register_defaults(with_policy=True, n_init=n_init)
    # another n_init (a diagnostic beyond docs/method.md §7) changes random-init SLSQP too
    reused = CHECKPOINT_FREE_METHODS if n_init == fq.N_INIT else (fq.REFERENCE,)
    catalog = default_cache()
    w3_train = tuple(args.w3_train_species.split(",")) if args.w3_train_species else None
    groups = fit_groups(
        fq, catalog, args.seed, args.w3_per_bin, args.mock_spectra, w3_train, args.w3_pixels
    )
    groups = {k: v for k, v in groups.items() if k in wanted}
    print({k: len(v) for k, v in groups.items()})
    reuse = _reference_records(args.reference, args, fq.N_INIT) if args.reference else None
    order = [c for batch in itertools.zip_longest(*groups.values()) for c in batch if c is not None]
    t0 = time.monotonic()
    records = []
    for i, case in enumerate(order):
        if time.monotonic() - t0 > 60.0 * args.budget_min:
            print(f"time budget reached after {i} cases")
            break
        records += _run_case(fq, case, args.seed + i, reuse, reused)
    rows = fq.summarize(records)
    fq.print_table(rows)
    checks = {}
    for ds in sorted({r["dataset"] for r in rows}):
        by = {r["method"]: r for r in rows if r["dataset"] == ds}
        if {"policy_slsqp", "random_slsqp"} <= set(by):
            checks[ds] = {
                "eps_policy_slsqp": by["policy_slsqp"]["eps_mean"],
                "nfev_fraction_of_pso": by["policy_slsqp"]["nfev_ratio_to_pso_x3"],
                "eps_random_minus_policy": by["random_slsqp"]["eps_mean"]
                - by["policy_slsqp"]["eps_mean"],
                "goal_eps_le_0.02": bool(by["policy_slsqp"]["eps_mean"] <= 0.02),
                "goal_nfev_le_15pct": bool(by["policy_slsqp"]["nfev_ratio_to_pso_x3"] <= 0.15),
                "goal_gain_ge_0.1": bool(
                    by["random_slsqp"]["eps_mean"] - by["policy_slsqp"]["eps_mean"] >= 0.1
                ),
            }
    out = {
        "seed": args.seed,
        "budget_min": args.budget_min,
        "w3_per_bin": args.w3_per_bin,
        "checkpoint": str(args.checkpoint or "shipped"),
        "reference": args.reference,
        "mock_spectra": args.mock_spectra,
        "w3_train_species": args.w3_train_species,
        "w3_pixels": args.w3_pixels,
        "n_init": n_init,
        "blas_threads": blas_threads(),
        "wall_time_s": time.monotonic() - t0,
        "cases_available": {k: len(v) for k, v in groups.items()},
        "summary": rows,
        "checks": checks,
        "records": records,
    }
    _write_result("bench_policy_fits", args.tag, out)
    if not args.tag:
        fq.plot(rows, ROOT / "docs" / "images" / "policy_fit_quality.png")
    print(json.dumps(checks, indent=1))
    return out


def _fits_cases(path: str) -> dict[tuple, dict[str, dict]]:
    """Records of a ``fits`` result by (group, case, species), then by method."""
    cases: dict[tuple, dict[str, dict]] = {}
    for r in json.loads(Path(path).read_text())["records"]:
        cases.setdefault((r["dataset"], r["case"], r["species"]), {})[r["method"]] = r
    return cases


def compare(args) -> dict:
    """Paired differences of ε(policy + SLSQP) between two ``fits`` results, per group."""
    a, b = (
        {
            k: c["policy_slsqp"]["eps"]
            for k, c in _fits_cases(f).items()
            if "eps" in c.get("policy_slsqp", {})
        }
        for f in args.files
    )
    out = {}
    for group in sorted({k[0] for k in a.keys() & b.keys()}):
        diff = np.array([b[k] - a[k] for k in a.keys() & b.keys() if k[0] == group])
        se = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else float("nan")
        out[group] = {
            "n": int(diff.size),
            "mean_diff": float(diff.mean()),
            "std_error": se,
            "better": int(np.sum(diff < -1e-3)),
            "worse": int(np.sum(diff > 1e-3)),
        }
        print(
            f"{group:15s} n={diff.size:3d}  ε(B) − ε(A) = {diff.mean():+.3f} ± {se:.3f}  "
            f"better {out[group]['better']}, worse {out[group]['worse']}"
        )
    return out


STRATA_K = (("strong", -np.inf, -3.0), ("moderate", -3.0, -1.0), ("faint", -1.0, np.inf))
"""Bands of the PSO ×3 reference loss ℓ_ref (K): name, lower bound, upper bound."""


def strata(args) -> dict:
    """Mean ε per group and reference-loss band (:data:`STRATA_K`) of ``fits`` results."""
    out = {}
    for name in args.files:
        cases = _fits_cases(name)
        out[name] = {}
        print(name)
        for group in sorted({k[0] for k in cases}):
            rows = [
                c
                for k, c in cases.items()
                if k[0] == group and {"pso_x3", "policy_slsqp", "random_slsqp"} <= c.keys()
            ]
            ref = np.array([c["pso_x3"]["loss"] for c in rows])
            pol = np.array([c["policy_slsqp"]["eps"] for c in rows])
            rnd = np.array([c["random_slsqp"]["eps"] for c in rows])
            out[name][group] = {}
            for band, lo, hi in STRATA_K:
                m = (ref >= lo) & (ref < hi)
                row = {
                    "n": int(m.sum()),
                    "share_of_eps_sum": float(pol[m].sum() / pol.sum()) if pol.sum() else 0.0,
                    "eps_policy_slsqp": float(pol[m].mean()) if m.any() else float("nan"),
                    "eps_random_slsqp": float(rnd[m].mean()) if m.any() else float("nan"),
                }
                out[name][group][band] = row
                print(
                    f"  {group:15s} {band:8s} n={row['n']:3d}"
                    f"  share {row['share_of_eps_sum']:5.2f}"
                    f"  ε policy+SLSQP {row['eps_policy_slsqp']:+.3f}"
                    f"  random+SLSQP {row['eps_random_slsqp']:+.3f}"
                )
    return out


def convention(args) -> dict:
    """Median best-of-50 ℓ_PM of the policy alone with g_u and Q scaled by each factor."""
    import os
    from dataclasses import replace

    from spectuner_nb.catalog.partition import PartitionFunction
    from spectuner_nb.fit import fit_spectrum
    from spectuner_nb.policy.loader import CHECKPOINT_ENV

    if args.checkpoint:
        os.environ[CHECKPOINT_ENV] = str(Path(args.checkpoint).resolve())
    torch.set_num_threads(args.threads)
    factors = [float(k) for k in args.factors.split(",")]
    source = json.loads(Path(args.cases_from).read_text())
    names = sorted(
        {
            r["case"]
            for r in source["records"]
            if r["dataset"] == "w3h2o/heldout" and r["species"].split(";")[0] == args.species
        }
    )[: args.pixels]
    if not names:
        raise SystemExit(f"no W3(H2O) held-out case of {args.species} in {args.cases_from}")
    cube = w3h2o_cube()
    catalog = default_cache()
    losses: dict[float, list[float]] = {k: [] for k in factors}
    for name in names:
        obs = _w3h2o_observation(cube, name)
        lines = catalog.lines(args.species, obs.windows)
        t = lines.partition.temperature
        for k in factors:
            scaled = replace(
                lines,
                g_u=lines.g_u * k,
                partition=PartitionFunction.from_table(t, lines.partition.q * k),
            )
            fit = fit_spectrum(
                obs, args.species, lines=[scaled], init="policy", optimizer="none", seed=0
            )
            losses[k].append(fit.loss)
    out = {
        "species": args.species,
        "pixels": names,
        "checkpoint": str(args.checkpoint or "shipped"),
        "median_best_of_50_loss_K": {str(k): float(np.median(v)) for k, v in losses.items()},
    }
    print(json.dumps(out["median_best_of_50_loss_K"]))
    _write_result("bench_policy_convention", args.tag, out)
    return out


def brightness(args) -> dict:
    """Median ratio of the proposals' brightness to the PSO ×3 fit's, per species."""
    torch.set_num_threads(args.threads)
    policy = Policy.load(args.checkpoint)
    species = args.species.split(",") if args.species else list(W3_HELDOUT)
    source = json.loads(Path(args.cases_from).read_text())
    cube = w3h2o_cube()
    catalog = default_cache()
    out: dict = {
        "checkpoint": str(args.checkpoint or "shipped"),
        "cases_from": args.cases_from,
        "median_ratio": {},
        "n_cases": {},
    }
    for sp in species:
        ratios = []
        for r in source["records"]:
            if (
                not r["dataset"].startswith("w3h2o/")
                or r["method"] != "pso_x3"
                or r["species"].split(";")[0] != sp
            ):
                continue
            obs = _w3h2o_observation(cube, r["case"])
            model = LTEModel(
                obs.rest_freqs, [catalog.lines(sp, obs.windows)], beam=obs.beam, T_bg=obs.T_bg
            )
            draws = np.asarray(policy.sample(obs, sp, args.samples, catalog=catalog, seed=0))
            best = model.from_fit(np.asarray(r["x"])[None])[0]
            j = int(np.argmax(best))
            spectra = model.from_fit(draws[:, None, :])[0]
            near = spectra[:, max(j - 2, 0) : j + 3].max(axis=1)
            ratios.append(float(np.median(near) / best[j]))
        out["median_ratio"][sp] = float(np.median(ratios)) if ratios else float("nan")
        out["n_cases"][sp] = len(ratios)
        print(
            f"{sp:10s} n={len(ratios):3d}  median brightness ratio draws / PSO ×3: "
            f"{out['median_ratio'][sp]:.2f}"
        )
    _write_result("bench_policy_brightness", args.tag, out)
    return out


def _pixel_kind(name: str) -> str:
    """Kind of a training pixel from its name: real W3(H2O), W3-like mock or standard mock."""
    from spectuner_nb.policy.training.dataset import W3H2O_PIXEL_PREFIX, W3LIKE_PIXEL_PREFIX

    if name.startswith(f"{W3H2O_PIXEL_PREFIX}:"):
        return W3H2O_PIXEL_PREFIX
    return W3LIKE_PIXEL_PREFIX if name.startswith(W3LIKE_PIXEL_PREFIX) else "mock"


def coverage(args) -> dict:
    """Share of a run's replay entries (pixel, species, augmentation) ever drawn, by pixel kind.

    An entry enters the buffer the first time it is drawn fresh; the replay refreshes then
    revisit only entries already there. Reads the run's pixels and its saved state.
    """
    from spectuner_nb.policy.training.dataset import load_pixels
    from spectuner_nb.policy.training.train import read_saved_state

    pixels_file, run_dir = Path(args.files[0]), Path(args.files[1])
    pixels = load_pixels(pixels_file)
    cfg, buffer = read_saved_state(run_dir)
    n_aug = int(cfg["train_config"]["n_aug"])
    rows: dict[str, dict] = {}
    for p in pixels:
        row = rows.setdefault(
            _pixel_kind(p.name), {"pixels": 0, "targets": 0, "entries": 0, "in_buffer": 0}
        )
        row["pixels"] += 1
        row["targets"] += len(p.species)
        row["entries"] += n_aug * len(p.species)
    for key in buffer.keys():
        rows[_pixel_kind(pixels[int(key.split("|")[0])].name)]["in_buffer"] += 1
    print(f"{run_dir} (step {cfg['step']}, {len(buffer)} entries in the buffer)")
    for kind, row in rows.items():
        row["fraction"] = row["in_buffer"] / row["entries"]
        print(
            f"{kind:8s} pixels {row['pixels']:6d}  targets {row['targets']:6d}  entries "
            f"{row['entries']:6d}  drawn {row['in_buffer']:6d} ({100 * row['fraction']:.1f} %)"
        )
    out = {"pixels": str(pixels_file), "run": str(run_dir), "step": cfg["step"], "kinds": rows}
    _write_result("bench_policy_coverage", args.tag, out)
    return out


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "what",
        choices=("cost", "fits", "compare", "convention", "brightness", "strata", "coverage"),
    )
    ap.add_argument(
        "files",
        nargs="*",
        help="compare: two fits result files A B; strata: fits result files; "
        "coverage: a run's train_pixels.json and its run folder",
    )
    ap.add_argument("--pixels", type=int, default=100)
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument(
        "--species",
        default=None,
        help="cost: species (CH3OH); convention: one species (required); "
        "brightness: comma-separated (all W3(H2O) held-out species)",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--seed", type=int, default=2027)
    ap.add_argument("--budget-min", type=float, default=30.0)
    ap.add_argument(
        "--w3-per-bin",
        type=int,
        default=16,
        help="W3(H2O) pixels drawn per peak bin (odd x + y kept)",
    )
    ap.add_argument("--mock-spectra", type=int, default=60)
    ap.add_argument(
        "--w3-train-species",
        default=None,
        help="fits: comma-separated training species of the W3(H2O) training "
        "group (default: the species W3(H2O) shows, fit_quality.W3_SPECIES)",
    )
    ap.add_argument(
        "--w3-pixels",
        choices=tuple(W3_PIXEL_PARITY),
        default="odd",
        help="fits: W3(H2O) pixels with odd x + y (held out, default) or even "
        "(the policy's training pixels, a diagnostic)",
    )
    ap.add_argument(
        "--n-init",
        type=int,
        default=None,
        help="fits: start points of random-init and policy-init SLSQP (docs/method.md "
        "§7: 50; other values are a diagnostic, PSO ×3 reused with --reference)",
    )
    ap.add_argument(
        "--groups",
        default=None,
        help="fits: comma-separated groups to run (default: all four; a case's "
        "seed is its position in the run, so it differs from a full run's)",
    )
    ap.add_argument(
        "--tag",
        default="",
        help="fits: suffix of the result file; no figure (candidate checkpoints)",
    )
    ap.add_argument(
        "--reference",
        default=None,
        help="fits: reuse PSO ×3 and random-init SLSQP from this earlier result",
    )
    ap.add_argument(
        "--factors", default="1,18,0.05", help="convention: factors k applied to g_u and Q"
    )
    ap.add_argument(
        "--cases-from",
        default=str(RESULTS / "bench_policy_fits_big.json"),
        help="convention, brightness: fits result whose W3(H2O) held-out cases are used",
    )
    args = ap.parse_args()
    if args.what == "compare":
        if len(args.files) != 2:
            ap.error("compare needs two result files")
        return compare(args)
    if args.what == "strata":
        if not args.files:
            ap.error("strata needs fits result files")
        return strata(args)
    if args.what == "coverage":
        if len(args.files) != 2:
            ap.error("coverage needs a pixels file and a run folder")
        return coverage(args)
    if args.what == "convention":
        if not args.species:
            ap.error("convention needs --species")
        return convention(args)
    if args.what == "brightness":
        return brightness(args)
    if args.what == "cost":
        args.species = args.species or "CH3OH"
        return proposal_cost(args)
    return fit_comparison(args)


if __name__ == "__main__":
    main()
