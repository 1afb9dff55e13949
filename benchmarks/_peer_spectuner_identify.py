"""Run spectuner 2.0's line identification on one mock (executed by the peer venv).

Usage: <peer-python> _peer_spectuner_identify.py CASE.json OUT.json

CASE.json (written by bench_identify.py) holds the spectral windows (MHz, K),
the rms and continuum per window, the beam ((B_maj, B_min) in arcsec, or a dish
diameter in m), the candidate names, the path of a spectroscopic database in
the XCLASS SQLite layout written from spectuner_nb's catalog (so both codes see
the same transitions and partition functions), the bounds in spectuner's
parametrisation, the process count and a result folder. OUT.json receives the
identified species and the wall time of ``run_line_identification``. Only
spectuner's public API is called (Config, run_line_identification,
ResultManager); nothing is copied from it.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def main(case_path: str, out_path: str) -> None:
    import spectuner

    case = json.loads(open(case_path).read())
    config = spectuner.load_default_config()
    config.set_fname_db(case["db"])
    beam = case["beam"]
    beam_info = float(beam) if np.ndim(beam) == 0 else tuple(b / 3600.0 for b in beam)
    for freq, spec, rms, t_bg in zip(
        case["freqs"], case["intensities"], case["rms"], case["T_bg"], strict=True
    ):
        config.append_spectral_window(
            spec=np.column_stack([freq, spec]),
            beam_info=beam_info,
            noise=float(rms),
            T_bg=float(t_bg),
            need_cmb=True,
        )
    config.set_peak_manager(noise_factor=4.0, rel_height=0.25)
    config.set_ident_species(species=case["candidates"], collect_iso=False)
    for name, (is_log, lo, hi, special) in case["param_info"].items():
        config.set_param_info(name, is_log=is_log, bound=(lo, hi), special=special)
    config.set_optimizer(method="pso", n_trial=int(case.get("n_trial", 1)))
    config.set_n_process(int(case["n_process"]))
    t0 = time.perf_counter()
    spectuner.run_line_identification(config, case["result_dir"])
    wall = time.perf_counter() - t0
    identified: list[str] = []
    try:
        res = spectuner.ResultManager(case["result_dir"]).load_ident_result("combine", "combine")
        if not res.is_empty():
            identified = sorted(set(res.derive_df_mol()["name"]))
    except (KeyError, OSError, FileNotFoundError) as exc:  # no combined result: nothing found
        print(f"no combined result: {exc!r}", file=sys.stderr)
    with open(out_path, "w") as fh:
        json.dump({"identified": identified, "wall_s": wall}, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
