"""Run pyspeckit's lte_molecule.generate_model on a benchmark case (peer venv).

Usage: <peer-python> _peer_pyspeckit.py CASE.npz OUT.npz

pyspeckit samples the model at channel centres (no channel averaging), has no
beam filling factor (η = 1) and uses σ (not FWHM) for the width; the case
passes a huge source so η = 1 in spectuner_nb too, and T_bg = T_cmb.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def main(case_path: str, out_path: str) -> None:
    import astropy.units as u
    from pyspeckit.spectrum.models.lte_molecule import generate_model

    case = np.load(case_path, allow_pickle=False)
    n_win = int(case["n_win"])
    xarr = [case[f"freq_{w}"] * 1e6 * u.Hz for w in range(n_win)]
    k_b = 1.380649e-16  # erg/K
    fwhm_to_sigma = 1.0 / np.sqrt(8.0 * np.log(2.0))
    params = case["params"]
    n_time = int(case["n_time"])
    species = []
    for s in range(int(case["n_species"])):
        x_t, q_t = case[f"sp{s}_xT"], case[f"sp{s}_QT"]
        species.append(
            dict(
                freqs=case[f"sp{s}_freq"] * 1e6 * u.Hz,
                aij=np.log10(case[f"sp{s}_A_ul"]),
                deg=case[f"sp{s}_g_u"],
                EU=case[f"sp{s}_E_up"] * k_b,
                partfunc=lambda t, x_t=x_t, q_t=q_t: np.interp(t, x_t, q_t),
            )
        )

    def spectrum(p):
        parts = []
        for xa in xarr:
            total = np.zeros(xa.size)
            for (_, t_ex, n_tot, dv, v_off), sp in zip(p, species, strict=True):
                total += generate_model(
                    xa, v_off, dv * fwhm_to_sigma, t_ex, n_tot, tbg=float(case["T_cmb"]), **sp
                )
            parts.append(total)
        return np.concatenate(parts)

    spectrum(params[0])  # warm-up
    spectra = np.empty((n_time, sum(x.size for x in xarr)))
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n_time):
        spectra[i] = spectrum(params[i])
    np.savez(
        out_path,
        spectra=spectra,
        t_model=(time.perf_counter() - t0) / n_time,
        cpu_model=(time.process_time() - c0) / n_time,
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
