"""Benchmark the LTE model against spectuner 2.0 and pyspeckit, measured in the same run.

Setup (paper, G327): three windows 215565–217273, 217572–219271 and
229611–231319 MHz with 8740 channels in all; the real CH3OH lines inside them
(CDMS 032504, 59 lines) and a 300-line set (real CH3OH transition strengths
placed at random frequencies inside the windows). 1000 parameter sets drawn
uniformly from Table 1 in fit space (seeded).

Timings, wall clock per spectrum: ours one spectrum per call; ours batched (1000
sets in one call, all cores: 2 on the CI machine); spectuner one call per
spectrum (it has no batch mode; single process). Ours and spectuner are timed in
``--repeats`` alternating runs (ours, then spectuner, on the same cores; the load
average is recorded before each run) and the ratios of each run and their medians
are reported. CPU times are kept beside them. pyspeckit
``lte_molecule.generate_model`` is timed once, one call per window and species.

Agreement: max |ours − peer| / max |peer| per spectrum over the peer's sets.
spectuner and we share η, the CMB term and channel averaging; pyspeckit samples
channel centres with η = 1, so it is compared with a huge source, and both on
all sets and on resolved lines (Δv ≥ 5 km/s). Accuracy: both codes against an
independent brute-force numpy evaluation (256 points per channel, no
truncation), which tells whose numerics cause a disagreement.

Usage (after ``bash benchmarks/setup_peers.sh``)::

    python benchmarks/bench_model.py [--n-peer 100] [--n-pyspeckit 20] [--repeats 3]

Prints a ratio table and writes benchmarks/results/bench_model.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

from spectuner_nb.catalog import LineList
from spectuner_nb.model import LTEModel
from spectuner_nb.parameters import TABLE1_BOUNDS

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PEER_PYTHON = HERE.parent / ".venv-peers" / "bin" / "python"

G327_WINDOWS = [(215565.0, 217273.0), (217572.0, 219271.0), (229611.0, 231319.0)]
G327_CHANNELS = [2918, 2904, 2918]  # 8740 channels, ≈ 0.585 MHz spacing
BEAM = (0.4, 0.3)  # arcsec (B_maj, B_min)
N_SETS = 1000
SEED = 20261121
T_CMB = 2.726


def g327_windows() -> list[np.ndarray]:
    """Channel-centre frequencies (MHz) of the three G327 windows."""
    return [np.linspace(lo, hi, n) for (lo, hi), n in zip(G327_WINDOWS, G327_CHANNELS, strict=True)]


def ch3oh_full() -> LineList:
    """All CH3OH lines of CDMS 032504 (vt=0-2), read from the shared c032504.cat at run time.

    The shared file is the complete entry (59 lines in the G327 windows, as in the
    paper); the transition cache is the fallback when the shared data are absent.
    """
    from spectuner_nb.catalog import default_cache, partition_for_tag, read_spcat
    from spectuner_nb.catalog.spcat import to_linelist
    from spectuner_nb.settings import shared_data_dir

    shared = shared_data_dir(required=False)
    path = None if shared is None else shared / "catalogs" / "cdms_jpl" / "c032504.cat"
    if path is None or not path.exists():
        print("(shared c032504.cat not found: using the transition cache)", file=sys.stderr)
        return default_cache().lines("CH3OH")
    return to_linelist(read_spcat(path), partition_for_tag(32504).partition, species="CH3OH")


def ch3oh_in_windows(full: LineList) -> LineList:
    """CH3OH lines inside the G327 windows (no padding: the reference's line selection)."""
    return full.in_windows(G327_WINDOWS, pad_kms=0.0)


def lines_300(full: LineList, seed: int = SEED) -> LineList:
    """300 real CH3OH transitions (A_ul, E_low, g_u) at random frequencies inside the windows."""
    rng = np.random.default_rng(seed)
    pool = full.subset((np.asarray(full.freq) > 200e3) & (np.asarray(full.freq) < 260e3))
    idx = rng.choice(len(pool), 300, replace=False)
    widths = np.array([hi - lo for lo, hi in G327_WINDOWS])
    win = rng.choice(3, 300, p=widths / widths.sum())
    lo = np.array([G327_WINDOWS[w][0] for w in win])
    freq = lo + rng.uniform(0.0, 1.0, 300) * widths[win]
    return LineList.from_mapping(
        "CH3OH-300",
        {
            "freq": freq,
            "A_ul": np.asarray(pool.A_ul)[idx],
            "E_low": np.asarray(pool.E_low)[idx],
            "g_u": np.asarray(pool.g_u)[idx],
            "Q_T": (pool.partition.temperature, pool.partition.q),
        },
    )


def random_fit_params(n: int, n_species: int = 1, seed: int = SEED) -> np.ndarray:
    """Fit-space parameter sets (n, n_species, 5) uniform within Table 1."""
    rng = np.random.default_rng(seed)
    lo, hi = TABLE1_BOUNDS[:, 0], TABLE1_BOUNDS[:, 1]
    return lo + (hi - lo) * rng.uniform(size=(n, n_species, 5))


def write_case(
    path: Path,
    windows,
    lines: list[LineList],
    params,
    *,
    n_time: int,
    beam=BEAM,
    t_bg: float = 0.0,
    extra: dict | None = None,
) -> None:
    """Save a benchmark case for a peer script (dense Q(T) so both interpolate alike)."""
    data = {
        "n_win": len(windows),
        "n_species": len(lines),
        "params": params,
        "n_time": n_time,
        "beam_arcsec": np.asarray(beam, float),
        "T_bg": t_bg,
        "cmb": True,
        "T_cmb": T_CMB,
    }
    for w, f in enumerate(windows):
        data[f"freq_{w}"] = f
    for s, ll in enumerate(lines):
        x_t = np.geomspace(1.0, 1000.0, 20000)
        data.update(
            {
                f"sp{s}_freq": np.asarray(ll.freq),
                f"sp{s}_A_ul": np.asarray(ll.A_ul),
                f"sp{s}_E_low": np.asarray(ll.E_low),
                f"sp{s}_E_up": np.asarray(ll.E_up),
                f"sp{s}_g_u": np.asarray(ll.g_u, float),
                f"sp{s}_xT": x_t,
                f"sp{s}_QT": ll.partition(x_t),
            }
        )
    data.update(extra or {})
    np.savez(path, **data)


def run_peer(script: str, case: Path) -> dict | None:
    """Run a peer script with the peer venv; None (and a hint) when it is missing or fails."""
    if not PEER_PYTHON.exists():
        print(f"peer venv missing: run bash benchmarks/setup_peers.sh ({script} skipped)")
        return None
    out = case.with_name(case.stem + "_" + script.replace(".py", "") + ".npz")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}  # peers use their own
    proc = subprocess.run(
        [str(PEER_PYTHON), str(HERE / script), str(case), str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        print(f"{script} failed:\n{proc.stderr[-2000:]}")
        return None
    with np.load(out, allow_pickle=False) as res:
        return {k: res[k] for k in res.files}


def timed(fn, n: int = 1) -> tuple[float, float]:
    """(wall, CPU) seconds per call of ``fn`` over ``n`` calls; CPU counts every thread.

    The benchmark machine is shared, so wall times carry other jobs' load; CPU
    times (and CPU divided by the cores in use) are the robust comparison.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n, (time.process_time() - c0) / n


def brute_force(windows, lines: LineList, p: np.ndarray, beam=BEAM, n_sub: int = 256):
    """Independent numpy reference: J on ``n_sub`` points per channel, averaged; no truncation
    below 40 σ. ``p`` is one physical parameter row [θ, T_ex, N, Δv, v_off]; T_bg = 0, CMB on."""
    c_kms, hk = 299792.458, 6.62607015e-34 * 1e6 / 1.380649e-23
    theta, t_ex, n_tot, dv, v_off = p
    nu_t = np.asarray(lines.freq)
    tau_hat = (
        (c_kms * 1e3) ** 2
        / (8 * np.pi)
        * 1e-14
        * n_tot
        * np.asarray(lines.A_ul)
        * np.asarray(lines.g_u)
        / (float(lines.partition(t_ex)) * nu_t**2)
        * np.exp(-np.asarray(lines.E_low) / t_ex)
        * -np.expm1(-hk * nu_t / t_ex)
    )
    cen = nu_t * (1 - v_off / c_kms)
    sig = cen * dv / (c_kms * 2 * np.sqrt(2 * np.log(2)))
    eta = theta**2 / (theta**2 + beam[0] * beam[1])
    out = []
    for f in windows:
        mid = 0.5 * (f[1:] + f[:-1])
        lo = np.concatenate([[2 * f[0] - mid[0]], mid])
        hi = np.concatenate([mid, [2 * f[-1] - mid[-1]]])
        x = (lo[:, None] + (hi - lo)[:, None] * (np.arange(n_sub) + 0.5) / n_sub).ravel()
        tau = np.zeros_like(x)
        for t, c, s in zip(tau_hat, cen, sig, strict=True):
            i0, i1 = np.searchsorted(x, [c - 40 * s, c + 40 * s])
            tau[i0:i1] += t / (np.sqrt(2 * np.pi) * s) * np.exp(-0.5 * ((x[i0:i1] - c) / s) ** 2)
        s_ex, s_cmb = (hk * x / np.expm1(hk * x / t) for t in (t_ex, T_CMB))
        j = eta * (s_ex - s_cmb) * -np.expm1(-tau)
        out.append(j.reshape(f.size, n_sub).mean(axis=1))
    return np.concatenate(out)


def agreement(ours: np.ndarray, peer: np.ndarray, mask=None) -> dict:
    """Max and median over spectra of max|ours − peer| / max|peer| (spectra with a peak only)."""
    peak = np.max(np.abs(peer), axis=1)
    ok = peak > 1e-6 if mask is None else (peak > 1e-6) & mask
    frac = np.max(np.abs(ours - peer), axis=1)[ok] / peak[ok]
    if frac.size == 0:
        return {"n": 0}
    return {"n": int(frac.size), "max": float(frac.max()), "median": float(np.median(frac))}


def time_ours(model: LTEModel, params: np.ndarray, n_single: int) -> dict:
    """Our wall and CPU ms per spectrum: one spectrum per call (``n_single`` calls) and the
    whole batch in one call (median of three calls)."""
    it = iter(range(10**9))
    wall_1, cpu_1 = timed(lambda: model(params[next(it) % len(params)]), n_single)
    batch = [timed(lambda: model(params)) for _ in range(3)]
    wall_b, cpu_b = (float(np.median([b[i] for b in batch])) / len(params) for i in (0, 1))
    return {
        "ours_single_ms": 1e3 * wall_1,
        "ours_single_cpu_ms": 1e3 * cpu_1,
        "ours_batch_ms": 1e3 * wall_b,
        "ours_batch_cpu_ms": 1e3 * cpu_b,
    }


def alternating_runs(model: LTEModel, params: np.ndarray, case: Path, repeats: int) -> list[dict]:
    """``repeats`` runs, each timing ours and then spectuner (same machine state, same cores);
    every run records the 1-minute load average before it starts."""
    runs = []
    for _ in range(repeats):
        run = {"load_1min": os.getloadavg()[0], **time_ours(model, params, n_single=300)}
        peer = run_peer("_peer_spectuner.py", case)
        if peer is not None:
            run["spectuner_ms"] = 1e3 * float(peer["t_model"])
            run["spectuner_cpu_ms"] = 1e3 * float(peer["cpu_model"])
            run["speedup_single_wall"] = run["spectuner_ms"] / run["ours_single_ms"]
            run["speedup_batch_wall"] = run["spectuner_ms"] / run["ours_batch_ms"]
            run["speedup_single_cpu"] = run["spectuner_cpu_ms"] / run["ours_single_cpu_ms"]
            run["spectra"] = peer["spectra"]
        runs.append(run)
    return runs


def bench_case(name: str, lines: LineList, args, tmp: Path) -> dict:
    windows = g327_windows()
    model = LTEModel(windows, [lines], beam=BEAM)
    x = random_fit_params(N_SETS)
    params = model.to_physical(x)
    t0 = time.perf_counter()
    model(params[0])
    model(params[:16])
    first_call = time.perf_counter() - t0
    ours = np.concatenate(model(params[: args.n_peer]), axis=1)
    row = {
        "case": name,
        "n_lines": len(lines),
        "n_channels": int(sum(f.size for f in windows)),
        "threads": numba.get_num_threads(),
        "first_call_s": first_call,
    }

    case = tmp / f"{name}.npz"
    write_case(case, windows, [lines], params[: args.n_peer], n_time=args.n_peer)
    runs = alternating_runs(model, params, case, args.repeats)
    spec = runs[-1].pop("spectra", None)
    for run in runs:
        run.pop("spectra", None)
    row["runs"] = runs
    for key in runs[0]:  # medians over the alternating runs
        row[key] = float(np.median([r[key] for r in runs]))

    # Independent brute-force reference on the first spectra (thin/thick, narrow/wide alike).
    n_truth = min(args.n_truth, args.n_peer)
    truth = np.array([brute_force(windows, lines, params[i, 0]) for i in range(n_truth)])
    row["accuracy_ours"] = agreement(ours[:n_truth], truth)
    if spec is not None:
        thin = np.concatenate(model.opacity(params[: args.n_peer]), axis=-1).max(axis=(1, 2)) < 1
        resolved = params[: args.n_peer, 0, 3] >= 1.0
        row["agreement_spectuner"] = agreement(ours, spec)
        row["agreement_spectuner_thin_resolved"] = agreement(ours, spec, mask=thin & resolved)
        row["accuracy_spectuner"] = agreement(spec[:n_truth], truth)

    # pyspeckit: η = 1 (huge source), channel-centre sampling.
    huge = params[: args.n_pyspeckit].copy()
    huge[..., 0] = 1e5
    case = tmp / f"{name}_pyspeckit.npz"
    write_case(case, windows, [lines], huge, n_time=args.n_pyspeckit)
    peer = run_peer("_peer_pyspeckit.py", case)
    if peer is not None:
        ours_h = np.concatenate(model(huge), axis=1)
        row["pyspeckit_ms"] = 1e3 * float(peer["t_model"])
        row["pyspeckit_cpu_ms"] = 1e3 * float(peer["cpu_model"])
        row["speedup_vs_pyspeckit_cpu"] = row["pyspeckit_cpu_ms"] / row["ours_single_cpu_ms"]
        row["agreement_pyspeckit"] = agreement(ours_h, peer["spectra"])
        row["agreement_pyspeckit_resolved"] = agreement(
            ours_h, peer["spectra"], mask=huge[:, 0, 3] >= 5.0
        )
    return row


def _fmt(row: dict, key: str, spec: str = ".2f") -> str:
    return format(row[key], spec) if key in row else "-"


def print_table(rows: list[dict]) -> None:
    print(
        f"\nLTE model, G327 windows (8740 channels), {N_SETS} parameter sets; ms per spectrum,"
        " wall (CPU)"
    )
    head = ("case", "run", "load", "ours 1", "ours batch", "spectuner", "x single", "x batch")
    print("{:<10}{:>7}{:>6}{:>17}{:>17}{:>17}{:>10}{:>9}".format(*head))
    for r in rows:
        for i, run in enumerate(r["runs"] + [r]):
            label = "median" if i == len(r["runs"]) else str(i + 1)
            load = "" if label == "median" else f"{run['load_1min']:.1f}"
            print(
                "{:<10}{:>7}{:>6}{:>17}{:>17}{:>17}{:>10}{:>9}".format(
                    r["case"],
                    label,
                    load,
                    f"{run['ours_single_ms']:.3f} ({run['ours_single_cpu_ms']:.3f})",
                    f"{run['ours_batch_ms']:.3f} ({run['ours_batch_cpu_ms']:.3f})",
                    f"{_fmt(run, 'spectuner_ms')} ({_fmt(run, 'spectuner_cpu_ms')})",
                    _fmt(run, "speedup_single_wall", ".1f"),
                    _fmt(run, "speedup_batch_wall", ".1f"),
                )
            )
    print(
        "(x = spectuner wall / ours wall per spectrum, each run timing ours then spectuner;"
        " load = 1-min load average before the run)"
    )
    for r in rows:
        if "pyspeckit_cpu_ms" in r:
            print(
                f"  {r['case']:<10}pyspeckit {r['pyspeckit_cpu_ms']:.2f} ms CPU per spectrum "
                f"(x{r['speedup_vs_pyspeckit_cpu']:.1f} vs ours single)"
            )
    print("\nagreement: max |a − b| / max |b| per spectrum (max, median over spectra)")
    keys = (
        "accuracy_ours",
        "accuracy_spectuner",
        "agreement_spectuner",
        "agreement_spectuner_thin_resolved",
        "agreement_pyspeckit",
        "agreement_pyspeckit_resolved",
    )
    for r in rows:
        for key in keys:
            if key in r and r[key].get("n"):
                a = r[key]
                print(
                    f"  {r['case']:<10}{key:<36} max {a['max']:.2e}  median {a['median']:.2e}"
                    f"  (n={a['n']})"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-peer", type=int, default=100, help="parameter sets run by spectuner")
    parser.add_argument("--n-pyspeckit", type=int, default=20, help="sets run by pyspeckit")
    parser.add_argument(
        "--n-truth",
        type=int,
        default=20,
        help="spectra also computed by the brute-force numpy reference",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="alternating runs (ours, then spectuner); medians are reported",
    )
    args = parser.parse_args()
    full = ch3oh_full()
    cases = [("CH3OH", ch3oh_in_windows(full)), ("300lines", lines_300(full))]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench_case(name, ll, args, Path(tmp)) for name, ll in cases]
    print_table(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_model.json"
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "command": "python benchmarks/bench_model.py " + " ".join(sys.argv[1:]),
        "numba_threads": numba.get_num_threads(),
        "n_sets": N_SETS,
        "beam_arcsec": BEAM,
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\nsaved {out}")


if __name__ == "__main__":
    main()
