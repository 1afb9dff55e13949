"""Fit-quality harness: the paper's Figure 3 on our data (docs/method.md §3, §4, §7).

For a set of (spectrum, species) cases, every registered method fits the
species with the peak-matching loss; each fit's final loss is compared with
the reference PSO ×3 on the same case through the relative loss ε of paper
Eq. 16 (``spectuner_nb.losses.relative_loss``; lower is better, 0 = as good as
PSO ×3). Reported per dataset and method: mean ε, its standard deviation over
cases, its spread across sub-datasets (the standard deviation of the per-bin
means: peak-number bins for W3(H2O), band × regime for the mocks), mean nfev
and its ratio to PSO ×3's, and mean wall time.

Datasets
  w3h2o  pixels of the real W3(H2O) NOEMA cube in the shared data, binned by
         number of peaks (4 σ_global, 5 even bins, docs/method.md §8), with the
         species that have an observed peak within ±12 km/s of one of their lines.
  mock   spectra from :mod:`spectuner_nb.mock` (bands 3/6/7, line-rich and
         line-poor, noise, continuum, beams), fitting the species whose own
         lines reach 5 rms.

Methods are a registry (:func:`register_method`): PSO ×3 (reference),
random-init Nelder-Mead and SLSQP (best of n_init = 50), and — registered
automatically when a policy checkpoint loads — policy-init Nelder-Mead and
SLSQP and the policy alone. Another module can add methods before calling
:func:`main`.

A second section compares SLSQP's default gradients with 3-point finite
differences of the model from the same starting points (nfev, time, final
loss): the exact gradient for χ², differences of the Jacobian-linearised model
for peak matching (``--gradient-only`` runs just this section).

Usage::

    python benchmarks/fit_quality.py --quick          # CI smoke run (~1 min)
    nice -n 10 python benchmarks/fit_quality.py       # the full table

    python benchmarks/fit_quality.py --example        # W3(H2O) pixel fit figure

Results: benchmarks/results/fit_quality[_quick].json and .png (the full run
also writes docs/images/fit_quality.png; --example writes
docs/images/fit_w3h2o_pixel.png).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spectuner_nb.fit import fit_spectrum
from spectuner_nb.losses import find_peak_spans, relative_loss
from spectuner_nb.observation import Observation, jy_per_beam_to_k
from spectuner_nb.policy.loader import policy_available
from spectuner_nb.policy.training.dataset import W3H2O_FILE as W3_CUBE
from spectuner_nb.policy.training.dataset import W3H2O_VLSR_KMS as W3_VLSR_KMS
from spectuner_nb.policy.training.dataset import w3h2o_cube

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
W3_SPECIES = ("CH3OH", "H2CO", "HC3N", "OCS", "CH3OCHO")
N_CUT = 3
N_BINS = 5
V_WINDOW_KMS = 12.0
REFERENCE = "pso_x3"
N_INIT = 50
"""Start points of the random-init and policy-init methods (docs/method.md §7)."""


@dataclass
class Case:
    """One (spectrum, species) pair to fit."""

    dataset: str
    subset: str
    name: str
    obs: Observation
    species: str
    lines: object
    truth: list | None = None


@dataclass
class Outcome:
    """What one method produced on one case."""

    loss: float
    nfev: int
    time: float
    extra: dict = field(default_factory=dict)


Method = Callable[[Case, int], Outcome]
METHODS: dict[str, Method] = {}


def register_method(name: str, fn: Method) -> None:
    """Add a method ``fn(case, seed) -> Outcome`` under ``name`` (replaces an existing one)."""
    METHODS[name] = fn


def fit_method(**fit_kwargs) -> Method:
    """A method that calls ``fit_spectrum`` with the peak-matching loss and ``fit_kwargs``."""

    def run(case: Case, seed: int) -> Outcome:
        r = fit_spectrum(
            case.obs,
            [case.species],
            lines=[case.lines],
            loss="pm",
            seed=seed,
            errors=False,
            **fit_kwargs,
        )
        return Outcome(r.loss, r.nfev, r.timings["total"], {"x": r.x[0].tolist()})

    return run


def register_defaults(with_policy: bool | None = None, n_init: int = N_INIT) -> None:
    """PSO ×3, random-init Nelder-Mead and SLSQP, and the policy methods when available.

    ``n_init``: start points of the random-init and policy-init methods (docs/method.md §7: 50).
    """
    register_method(REFERENCE, fit_method(optimizer="pso", n_trial=3, init="random"))
    if with_policy is None:
        with_policy = policy_available()
    inits = ("random", "policy") if with_policy else ("random",)
    for init in inits:
        for optimizer in ("nelder-mead", "slsqp"):
            register_method(
                f"{init}_{optimizer}", fit_method(optimizer=optimizer, init=init, n_init=n_init)
            )
    if with_policy:
        register_method("policy_only", fit_method(optimizer="none", init="policy", n_init=n_init))


# ---------------------------------------------------------------------------- datasets
def w3h2o_cases(
    catalog, *, n_per_bin: int, max_species: int, seed: int, species: tuple[str, ...] = W3_SPECIES
) -> list[Case]:
    """Pixels of the W3(H2O) cube, binned by peak number, with those of ``species`` that
    have peaks."""
    import astropy.units as u
    from astropy.stats import sigma_clipped_stats

    cube = w3h2o_cube()
    freq = cube.spectral_axis.to_value(u.MHz)
    beam = (cube.beam.major.to_value(u.arcsec), cube.beam.minor.to_value(u.arcsec))
    data = np.asarray(cube.unmasked_data[:].value, dtype=float)
    if freq[1] < freq[0]:
        freq, data = freq[::-1], data[::-1]
    temp = data * jy_per_beam_to_k(freq, beam)[:, None, None]
    _, _, rms_global = sigma_clipped_stats(temp[np.isfinite(temp)], sigma=3.0, maxiters=20)
    ny, nx = temp.shape[1:]
    counts = np.array(
        [[len(find_peak_spans(temp[:, y, x], rms_global)) for x in range(nx)] for y in range(ny)]
    )
    keep = np.argwhere(counts >= N_CUT)
    edges = np.linspace(counts[counts >= N_CUT].min(), counts.max() + 1e-9, N_BINS + 1)
    rng = np.random.default_rng(seed)
    rest = freq / (1.0 - W3_VLSR_KMS / 299792.458)
    windows = [(float(rest[0]), float(rest[-1]))]
    species_lines = {s: catalog.lines(s, windows) for s in species}
    cases = []
    for b in range(N_BINS):
        in_bin = [tuple(p) for p in keep if edges[b] <= counts[p[0], p[1]] < edges[b + 1]]
        if not in_bin:
            continue
        picks = rng.choice(len(in_bin), size=min(n_per_bin, len(in_bin)), replace=False)
        for i in picks:
            y, x = in_bin[i]
            obs = Observation.from_cube_pixel(cube, int(x), int(y), v_lsr=W3_VLSR_KMS)
            spans = np.asarray(find_peak_spans(obs.intensities[0], rms_global), dtype=int)
            centres = (
                obs.rest_freqs[0][spans.mean(axis=1).astype(int)] if len(spans) else np.zeros(0)
            )
            found = [s for s, ll in species_lines.items() if _has_peak(ll, centres)]
            for s in rng.permutation(found)[:max_species]:  # spread the species over pixels
                cases.append(
                    Case(
                        "w3h2o",
                        f"bin{b + 1}",
                        f"pixel ({x},{y})",
                        obs,
                        species_lines[s].species,
                        species_lines[s],
                    )
                )
    return cases


def _has_peak(linelist, centres_mhz: np.ndarray) -> bool:
    """An observed peak lies within ±V_WINDOW_KMS of one of the lines."""
    if len(linelist) == 0 or centres_mhz.size == 0:
        return False
    f = np.asarray(linelist.freq)
    dv = (centres_mhz[:, None] - f[None, :]) / f[None, :] * 299792.458
    return bool(np.any(np.abs(dv) <= V_WINDOW_KMS))


def mock_cases(
    catalog, *, n_spectra: int, n_channels: int, max_species: int, seed: int
) -> list[Case]:
    """Mock spectra with known truth; the species whose own lines reach 5 rms."""
    from spectuner_nb.mock import mock_dataset
    from spectuner_nb.model import lte_spectra

    cases = []
    for m in mock_dataset(n_spectra, seed=seed, catalog=catalog, n_channels=n_channels):
        lines = {s: catalog.lines(s, m.obs.windows) for s in m.species}
        picked = 0
        for k, s in enumerate(m.species):
            alone = lte_spectra(
                m.obs.rest_freqs,
                [lines[s]],
                m.params[k : k + 1],
                beam=m.obs.beam,
                T_bg=list(m.obs.T_bg),
            )
            if max(float(np.max(np.abs(a))) for a in alone) < 5.0 * m.obs.rms[0]:
                continue
            cases.append(
                Case(
                    "mock",
                    f"band{m.band} {m.regime}",
                    m.obs.name,
                    m.obs,
                    s,
                    lines[s],
                    truth=m.params_fit[k].tolist(),
                )
            )
            picked += 1
            if picked >= max_species:
                break
    return cases


# ---------------------------------------------------------------------------- running
def run_cases(cases: list[Case], methods: list[str], seed: int, log=print) -> list[dict]:
    """Every method on every case; one record per (case, method) with ε against PSO ×3."""
    records = []
    for i, case in enumerate(cases):
        outcomes = {}
        for name in methods:
            try:
                outcomes[name] = METHODS[name](case, seed + i)
            except Exception as exc:  # a broken case must not stop the whole table
                log(f"  {name} failed on {case.name} {case.species}: {type(exc).__name__}: {exc}")
                records.append(
                    {
                        "dataset": case.dataset,
                        "subset": case.subset,
                        "case": case.name,
                        "species": case.species,
                        "method": name,
                        "failed": f"{type(exc).__name__}: {exc}",
                    }
                )
        ref = outcomes.get(REFERENCE)
        for name, out in outcomes.items():
            eps = float(relative_loss(out.loss, ref.loss)) if ref else float("nan")
            records.append(
                {
                    "dataset": case.dataset,
                    "subset": case.subset,
                    "case": case.name,
                    "species": case.species,
                    "method": name,
                    "loss": out.loss,
                    "ref_loss": ref.loss if ref else None,
                    "eps": eps,
                    "nfev": out.nfev,
                    "time": out.time,
                    **out.extra,
                }
            )
        log(
            f"[{i + 1}/{len(cases)}] {case.dataset} {case.subset} {case.name} {case.species}: "
            + ", ".join(f"{n}={o.loss:.3g} ({o.nfev})" for n, o in outcomes.items())
        )
    return records


def summarize(records: list[dict]) -> list[dict]:
    """Per dataset and method: mean ε, std over cases, spread over subsets, nfev, time."""
    failed = [r for r in records if "failed" in r]
    records = [r for r in records if "failed" not in r and np.isfinite(r["eps"])]
    rows = []
    keys = sorted({(r["dataset"], r["method"]) for r in records})
    for dataset, method in keys:
        sel = [r for r in records if r["dataset"] == dataset and r["method"] == method]
        ref_nfev = np.mean(
            [r["nfev"] for r in records if r["dataset"] == dataset and r["method"] == REFERENCE]
            or [np.nan]
        )
        eps = np.array([r["eps"] for r in sel])
        subsets = sorted({r["subset"] for r in sel})
        sub_means = [np.mean([r["eps"] for r in sel if r["subset"] == s]) for s in subsets]
        nfev = float(np.mean([r["nfev"] for r in sel]))
        rows.append(
            {
                "dataset": dataset,
                "method": method,
                "n_cases": len(sel),
                "n_failed": sum(f["dataset"] == dataset and f["method"] == method for f in failed),
                "eps_mean": float(np.mean(eps)),
                "eps_std": float(np.std(eps)),
                "eps_spread_subsets": float(np.std(sub_means)),
                "nfev_mean": nfev,
                "nfev_ratio_to_pso_x3": nfev / ref_nfev,
                "time_mean_s": float(np.mean([r["time"] for r in sel])),
            }
        )
    return rows


GRADIENT_PAIRS: dict[str, tuple[str, str]] = {
    "chi2": ("exact", "3-point"),
    "pm": ("jacobian", "3-point"),
}
"""Per loss: SLSQP's default gradient and the paper's finite differences it replaces."""


def gradient_comparison(cases: list[Case], seed: int, loss: str, n_init: int = 50) -> dict:
    """SLSQP from the same random starts with the loss's default gradient and with 3-point
    finite differences of the model (:data:`GRADIENT_PAIRS`): nfev, time, final loss."""
    fast, fd = GRADIENT_PAIRS[loss]
    rows = []
    for i, case in enumerate(cases):
        res = {
            g: fit_spectrum(
                case.obs,
                [case.species],
                lines=[case.lines],
                loss=loss,
                optimizer="slsqp",
                init="random",
                n_init=n_init,
                seed=seed + i,
                gradient=g,
                errors=False,
            )
            for g in (fast, fd)
        }
        rows.append(
            {
                "case": case.name,
                "species": case.species,
                **{
                    f"{g}_{k}": v
                    for g, r in res.items()
                    for k, v in (
                        ("nfev", r.nfev_local),
                        ("time_s", r.timings["local"]),
                        ("loss", r.loss),
                    )
                },
            }
        )
    out = {"loss": loss, "gradients": [fast, fd], "n_cases": len(rows), "rows": rows}
    for g in (fast, fd):
        out[f"{g}_nfev_mean"] = float(np.mean([r[f"{g}_nfev"] for r in rows]))
        out[f"{g}_time_mean_s"] = float(np.mean([r[f"{g}_time_s"] for r in rows]))
    out["nfev_ratio_fd_over_fast"] = out[f"{fd}_nfev_mean"] / out[f"{fast}_nfev_mean"]
    out["time_ratio_fd_over_fast"] = out[f"{fd}_time_mean_s"] / out[f"{fast}_time_mean_s"]
    eps = relative_loss([r[f"{fast}_loss"] for r in rows], [r[f"{fd}_loss"] for r in rows])
    out["eps_fast_vs_fd_mean"] = float(np.mean(eps))
    out["fast_better_or_equal"] = int(np.sum(eps <= 1e-6))
    return out


def print_gradient_comparison(grad: dict) -> None:
    fast, fd = grad["gradients"]
    print(
        f"\nSLSQP on {grad['loss']}, {grad['n_cases']} fits from the same starts: {fast} "
        f"gradient {grad[f'{fast}_nfev_mean']:.0f} nfev / {grad[f'{fast}_time_mean_s']:.3f} s, "
        f"{fd} {grad[f'{fd}_nfev_mean']:.0f} nfev / {grad[f'{fd}_time_mean_s']:.3f} s → "
        f"{fd} needs {grad['nfev_ratio_fd_over_fast']:.1f}× the evaluations and "
        f"{grad['time_ratio_fd_over_fast']:.1f}× the time; ε({fast} vs {fd}) mean "
        f"{grad['eps_fast_vs_fd_mean']:+.4f}, {fast} as good or better in "
        f"{grad['fast_better_or_equal']}/{grad['n_cases']}"
    )


# ---------------------------------------------------------------------------- output
def print_table(rows: list[dict]) -> None:
    print(
        f"\n{'dataset':8} {'method':20} {'n':>3} {'ε mean':>8} {'ε std':>7} {'spread':>7} "
        f"{'nfev':>8} {'nfev/PSO×3':>10} {'time s':>7}"
    )
    for r in rows:
        print(
            f"{r['dataset']:8} {r['method']:20} {r['n_cases']:3d} {r['eps_mean']:8.3f} "
            f"{r['eps_std']:7.3f} {r['eps_spread_subsets']:7.3f} {r['nfev_mean']:8.0f} "
            f"{r['nfev_ratio_to_pso_x3']:10.3f} {r['time_mean_s']:7.2f}"
        )


def plot(rows: list[dict], path: Path) -> None:
    """ε against mean nfev per method, one panel per dataset (like paper Figure 3)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in rows})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.2), squeeze=False)
    methods = sorted({r["method"] for r in rows})
    colours = {m: plt.cm.tab10(i % 10) for i, m in enumerate(methods)}
    for ax, ds in zip(axes[0], datasets, strict=True):
        for r in (r for r in rows if r["dataset"] == ds):
            ax.errorbar(
                r["nfev_mean"],
                r["eps_mean"],
                yerr=r["eps_spread_subsets"],
                fmt="o",
                color=colours[r["method"]],
                capsize=3,
                label=r["method"],
            )
        ax.axhline(0.0, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel("mean nfev (forward-model evaluations)")
        ax.set_ylabel("mean relative loss ε vs PSO ×3")
        n = max(r["n_cases"] for r in rows if r["dataset"] == ds)
        ax.set_title(f"{ds}: {n} cases per method; bars = spread over bins")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def w3h2o_example(catalog, *, x: int = 15, y: int = 15, seed: int = 0) -> dict:
    """Fit the W3(H2O) species at one pixel: PSO ×3 per species, then a joint SLSQP refinement.

    Writes docs/images/fit_w3h2o_pixel.png and benchmarks/results/fit_w3h2o_pixel.json.
    """
    from spectuner_nb.fit import FitProblem
    from spectuner_nb.settings import shared_data_dir

    obs = Observation.from_cube_pixel(shared_data_dir() / W3_CUBE, x, y, v_lsr=W3_VLSR_KMS)
    lines = [catalog.lines(s, obs.windows) for s in W3_SPECIES]
    singles = [
        fit_spectrum(
            obs,
            [ll.species],
            lines=[ll],
            loss="pm",
            optimizer="pso",
            init="random",
            n_trial=3,
            seed=seed,
        )
        for ll in lines
    ]
    start = np.concatenate([r.x for r in singles])
    joint = fit_spectrum(
        obs,
        [ll.species for ll in lines],
        lines=lines,
        loss="pm",
        optimizer="slsqp",
        init=start,
        seed=seed,
    )
    problem = FitProblem(obs, [ll.species for ll in lines], lines=lines, loss="pm")
    components = problem.component_spectra(joint.x)
    joint.save_png(ROOT / "docs" / "images" / "fit_w3h2o_pixel.png", components=components)
    joint.to_json(RESULTS / "fit_w3h2o_pixel.json")
    print(joint)
    joint.to_table().pprint(max_width=200)
    return {"nfev_pso_singles": sum(r.nfev for r in singles), "joint": joint}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for CI")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--methods", nargs="*", default=None, help="subset of methods")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="numba threads for the model (default 1: the machine is shared)",
    )
    parser.add_argument("--no-gradient", action="store_true", help="skip the gradient section")
    parser.add_argument(
        "--gradient-only",
        action="store_true",
        help="only the gradient section (results in fit_quality[_quick]_gradient)",
    )
    parser.add_argument(
        "--example",
        action="store_true",
        help="only the W3(H2O) pixel fit figure of docs/fitting.md",
    )
    args = parser.parse_args(argv)

    import numba

    from spectuner_nb.catalog import default_cache

    numba.set_num_threads(max(1, min(args.threads, numba.config.NUMBA_NUM_THREADS)))
    if not METHODS:
        register_defaults()
    methods = args.methods or list(METHODS)
    if REFERENCE not in methods:
        methods = [REFERENCE] + methods
    catalog = default_cache()
    t0 = time.perf_counter()
    if args.example:
        RESULTS.mkdir(parents=True, exist_ok=True)
        return w3h2o_example(catalog, seed=args.seed)
    if args.quick:
        cases = w3h2o_cases(catalog, n_per_bin=1, max_species=1, seed=args.seed)[:2] + mock_cases(
            catalog, n_spectra=2, n_channels=200, max_species=1, seed=args.seed
        )
    else:
        cases = w3h2o_cases(catalog, n_per_bin=4, max_species=2, seed=args.seed) + mock_cases(
            catalog, n_spectra=24, n_channels=400, max_species=2, seed=args.seed
        )
    print(
        f"{len(cases)} cases ({sum(c.dataset == 'w3h2o' for c in cases)} W3(H2O), "
        f"{sum(c.dataset == 'mock' for c in cases)} mock); methods: {', '.join(methods)}"
    )
    records, rows = [], []
    if not args.gradient_only:
        records = run_cases(cases, methods, args.seed)
        rows = summarize(records)
        print_table(rows)
    grad = None
    if not args.no_gradient:
        sub = cases[:: max(1, len(cases) // (4 if args.quick else 12))]
        grad = {loss: gradient_comparison(sub, args.seed, loss) for loss in GRADIENT_PAIRS}
        for g in grad.values():
            print_gradient_comparison(g)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "fit_quality_quick" if args.quick else "fit_quality"
    if args.gradient_only:
        stem += "_gradient"
    out = {
        "quick": args.quick,
        "seed": args.seed,
        "threads": args.threads,
        "wall_time_s": time.perf_counter() - t0,
        "methods": methods,
        "summary": rows,
        "gradient": grad,
        "records": records,
    }
    (RESULTS / f"{stem}.json").write_text(json.dumps(out, indent=1, default=float))
    if rows:
        plot(rows, RESULTS / f"{stem}.png")
    if rows and not args.quick:
        plot(rows, ROOT / "docs" / "images" / "fit_quality.png")
    print(
        f"\nwrote {RESULTS / stem}.json{' and .png' if rows else ''} ({out['wall_time_s']:.0f} s)"
    )
    return out


if __name__ == "__main__":
    main()
