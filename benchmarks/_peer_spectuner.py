"""Run spectuner 2.0 on a benchmark case (executed by the peer venv, see setup_peers.sh).

Usage: <peer-python> _peer_spectuner.py CASE.npz OUT.npz

CASE.npz (written by bench_model.py / bench_losses.py) holds the windows, the
line lists (with a dense Q(T) table so both codes see the same partition
function), physical parameters and timing counts; OUT.npz receives the peer's
spectra, per-spectrum times and, when asked, peak-matching losses. Only
spectuner's public building blocks are called; nothing is copied from it.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def main(case_path: str, out_path: str) -> None:
    from spectuner.peaks import PeakManager
    from spectuner.sl_model.sl_model import (
        compute_effective_spectra,
        create_spectral_line_model_state,
    )

    case = np.load(case_path, allow_pickle=False)
    n_win = int(case["n_win"])
    freqs = [case[f"freq_{w}"] for w in range(n_win)]
    beam_deg = tuple(float(b) / 3600.0 for b in case["beam_arcsec"])
    obs_info = [
        {"beam_info": beam_deg, "T_bg": float(case["T_bg"]), "need_cmb": bool(case["cmb"])}
        for _ in range(n_win)
    ]
    sl_data = []
    for s in range(int(case["n_species"])):
        f = case[f"sp{s}_freq"]
        seg = np.full(f.size, -1)
        for w, fw in enumerate(freqs):
            seg[(f >= fw.min()) & (f <= fw.max())] = w
        keep = seg >= 0  # spectuner keeps only lines inside a window
        sl_data.append(
            {
                "freq": f[keep],
                "A_ul": case[f"sp{s}_A_ul"][keep],
                "E_low": case[f"sp{s}_E_low"][keep],
                "g_u": case[f"sp{s}_g_u"][keep],
                "segment": seg[keep],
                "x_T": case[f"sp{s}_xT"],
                "Q_T": case[f"sp{s}_QT"],
            }
        )
    state = create_spectral_line_model_state(sl_data, freqs, obs_info)
    params = case["params"]
    out = {}
    n_time = int(case["n_time"])
    if n_time > 0:
        compute_effective_spectra(state, params[0], need_individual=False)  # JIT warm-up
        spectra = np.empty((n_time, sum(f.size for f in freqs)))
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(n_time):
            spec = compute_effective_spectra(state, params[i], need_individual=False)
            spectra[i] = np.concatenate(spec)
        out["t_model"] = (time.perf_counter() - t0) / n_time
        out["cpu_model"] = (time.process_time() - c0) / n_time
        out["spectra"] = spectra
    if "pm_pred" in case:
        obs = [np.column_stack([fw, case[f"obs_{w}"]]) for w, fw in enumerate(freqs)]
        rms = case["rms"]
        mgr = PeakManager(obs, prominence=[4.0 * float(r) for r in rms], rel_height=0.25)
        bounds = np.cumsum([0] + [f.size for f in freqs])
        preds = case["pm_pred"]
        split = [[p[bounds[w] : bounds[w + 1]] for w in range(n_win)] for p in preds]
        mgr(split[0])  # warm-up
        loss = np.empty(len(split))
        term = np.empty(len(split))
        t0, c0 = time.perf_counter(), time.process_time()
        for i, p in enumerate(split):
            loss[i], term[i] = mgr(p)
        out["t_pm"] = (time.perf_counter() - t0) / len(split)
        out["cpu_pm"] = (time.process_time() - c0) / len(split)
        out["pm_loss"] = loss
        out["pm_peak"] = term
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
