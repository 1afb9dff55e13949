"""Benchmark the peak-matching loss (and χ²) against spectuner 2.0's PeakManager, same run.

Setup: the G327 windows (8740 channels) of bench_model.py; the observation is
our CH3OH model (59 lines) at fixed parameters plus Gaussian noise (0.1 K);
the model spectra are our spectra for 1000 Table-1 parameter sets. Both codes
get identical arrays; spectuner is called once per spectrum (it has no batch
mode), ours once per spectrum and once for the whole batch.

Agreement: the loss values differ by design where spectuner drops the last
channel inside a span from its trapezoid (docs/method.md §3); the table reports the
spread of |ours − spectuner| and how many values agree to 1e-9.

Usage (after ``bash benchmarks/setup_peers.sh``)::

    python benchmarks/bench_losses.py [--n-peer 200]

Prints a ratio table and writes benchmarks/results/bench_losses.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_model import (  # noqa: E402
    BEAM,
    N_SETS,
    RESULTS,
    ch3oh_full,
    ch3oh_in_windows,
    g327_windows,
    random_fit_params,
    run_peer,
    timed,
    write_case,
)

from spectuner_nb.losses import PeakMatchingLoss, chi2  # noqa: E402
from spectuner_nb.model import LTEModel  # noqa: E402

RMS = 0.1  # K
TRUE_FIT = np.array([[-0.5, 150.0, 17.5, 0.6, 0.5]])  # log10 η, T_ex, log10 N, log10 Δv, v_off


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-peer", type=int, default=200, help="spectra scored by spectuner")
    args = parser.parse_args()
    windows = g327_windows()
    lines = ch3oh_in_windows(ch3oh_full())
    model = LTEModel(windows, [lines], beam=BEAM)
    rng = np.random.default_rng(5)
    obs = [s + rng.normal(0.0, RMS, s.size) for s in model.from_fit(TRUE_FIT)]
    pred = model.from_fit(random_fit_params(N_SETS))
    loss = PeakMatchingLoss(windows, obs, [RMS] * 3)
    res = loss(pred)  # compile / load
    singles = [[p[i] for p in pred] for i in range(N_SETS)]
    it = iter(range(10**9))
    wall_1, cpu_1 = timed(lambda: loss(singles[next(it) % N_SETS]), 300)
    wall_b, cpu_b = (t / N_SETS for t in timed(lambda: loss(pred)))
    wall_c, cpu_c = (t / N_SETS for t in timed(lambda: chi2(obs, pred, RMS)))
    n_threads = numba.get_num_threads()
    row = {
        "n_spectra": N_SETS,
        "n_channels": int(sum(f.size for f in windows)),
        "threads": n_threads,
        "obs_peaks": int(sum(len(s) for s in loss.obs_spans)),
        "model_with_peaks": int(res.has_peak.sum()),
        "ours_pm_single_ms": 1e3 * wall_1,
        "ours_pm_single_cpu_ms": 1e3 * cpu_1,
        "ours_pm_batch_ms": 1e3 * wall_b,
        "ours_pm_batch_cpu_ms": 1e3 * cpu_b,
        "ours_pm_batch_per_core_ms": 1e3 * cpu_b / n_threads,
        "ours_chi2_batch_ms": 1e3 * wall_c,
    }

    n = min(args.n_peer, N_SETS)
    stacked = np.concatenate(pred, axis=1)[:n]
    with tempfile.TemporaryDirectory() as tmp:
        case = Path(tmp) / "pm.npz"
        extra = {f"obs_{w}": o for w, o in enumerate(obs)}
        extra.update(rms=np.full(3, RMS), pm_pred=stacked)
        write_case(case, windows, [lines], model.to_physical(TRUE_FIT)[None], n_time=0, extra=extra)
        peer = run_peer("_peer_spectuner.py", case)
    if peer is not None:
        row["spectuner_pm_ms"] = 1e3 * float(peer["t_pm"])
        row["spectuner_pm_cpu_ms"] = 1e3 * float(peer["cpu_pm"])
        row["speedup_single_cpu"] = row["spectuner_pm_cpu_ms"] / row["ours_pm_single_cpu_ms"]
        row["speedup_batch_cpu"] = row["spectuner_pm_cpu_ms"] / row["ours_pm_batch_per_core_ms"]
        diff = np.abs(res.loss[:n] - peer["pm_loss"])
        scale = np.maximum(1.0, np.abs(peer["pm_loss"]))
        row["agreement"] = {
            "n": n,
            "max_abs_K": float(diff.max()),
            "median_abs_K": float(np.median(diff)),
            "n_equal_1e-9": int(np.sum(diff <= 1e-9 * scale)),
            "max_abs_peak_term_K": float(np.max(np.abs(res.peak_term[:n] - peer["pm_peak"]))),
            "mae_part_max_abs_K": float(
                np.max(np.abs((res.loss - res.peak_term)[:n] - (peer["pm_loss"] - peer["pm_peak"])))
            ),
        }

    print(
        f"\nPeak-matching loss, G327 windows (8740 channels), {N_SETS} model spectra;"
        " ms per spectrum, CPU / wall"
    )
    print(
        f"  observed peaks: {row['obs_peaks']}; model spectra with a peak: "
        f"{row['model_with_peaks']}"
    )
    print(f"  ours single      {cpu_1 * 1e3:8.3f} / {wall_1 * 1e3:8.3f}")
    print(
        f"  ours batch/core  {cpu_b * 1e3 / n_threads:8.3f} / {wall_b * 1e3:8.3f}"
        f"  ({n_threads} threads)"
    )
    print(f"  ours chi2 batch  {cpu_c * 1e3:8.4f} / {wall_c * 1e3:8.4f}")
    if "spectuner_pm_ms" in row:
        cpu_p, wall_p = row["spectuner_pm_cpu_ms"], row["spectuner_pm_ms"]
        print(f"  spectuner        {cpu_p:8.3f} / {wall_p:8.3f}")
        print(
            f"  speed-up (CPU): single x{row['speedup_single_cpu']:.1f}, "
            f"batch per core x{row['speedup_batch_cpu']:.1f}"
        )
        a = row["agreement"]
        print(
            f"  agreement over {a['n']} spectra: {a['n_equal_1e-9']} equal to 1e-9; "
            f"max |Δloss| {a['max_abs_K']:.3g} K (median {a['median_abs_K']:.2g}); "
            f"MAE part max |Δ| {a['mae_part_max_abs_K']:.2g} K"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_losses.json"
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "command": "python benchmarks/bench_losses.py " + " ".join(sys.argv[1:]),
        "rms_K": RMS,
        "true_fit_params": TRUE_FIT.tolist(),
    }
    out.write_text(json.dumps({"meta": meta, "row": row}, indent=2))
    print(f"\nsaved {out}")


if __name__ == "__main__":
    main()
