"""Fault injection: kill -9 a line identification at random moments, resume, compare.

The identification of a small mock mixture (:func:`spectuner_nb.mock.mixture_case`) is
run once without interruption (the reference). Then, in cycles, the same run is started
on a fresh output folder and killed with SIGKILL after a random delay, again and again,
resuming from its work directory each time, until a run is let finish; cycles repeat
until ``--kills`` kills have landed (the kill/resume loop is that of
``fault_injection_cube.py``). After every kill, every individual fit stored in the work
directory must be bit-identical to the reference's fit of that species (no partial or
foreign file adopted), and the result folder is read with
:meth:`IdentificationResult.read`: it must refuse or return the reference. Each cycle's
final result (species, joint parameters, species table, line table, scores) must be
identical to the reference.

Usage::

    python benchmarks/fault_injection_identify.py --kills 24 --seed 1

Writes ``benchmarks/results/fault_injection_identify.json`` (counts, timings, command).
Exit status 0 only if no stored fit or read differed and every final result is identical.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from fault_injection_cube import arguments, check_read, kill_and_resume, run_and_save

from spectuner_nb.identification import IdentificationResult
from spectuner_nb.identification.store import FITS_DIR
from spectuner_nb.observation import Observation

RESULT = Path(__file__).parent / "results" / "fault_injection_identify.json"
CASE = {"i": 3, "n_species": 4, "n_decoys": 2, "seed": 7}
N_INIT = 20


def child(folder: Path, out: Path) -> None:
    """One identification run (resumes from ``out/work``), result written to ``out/result``."""
    from spectuner_nb.identification import identify

    case = json.loads((folder / "case.json").read_text())
    obs = Observation.from_dict(case["observation"])
    result = identify(
        obs,
        case["candidates"],
        workdir=out / "work",
        init="random",
        n_init=N_INIT,
        seed=0,
        progress=False,
    )
    result.write(out / "result")


def _same_table(a, b) -> bool:
    """True when two astropy tables have the same columns, bit-identical (NaNs alike)."""
    if a.colnames != b.colnames or len(a) != len(b):
        return False
    for name in a.colnames:
        x, y = np.asarray(a[name]), np.asarray(b[name])
        if not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
            return False
    return True


def identical(a: IdentificationResult, b: IdentificationResult) -> bool:
    """Same species, joint parameters, species and line tables, and scores."""
    if a.species != b.species or (a.fit is None) != (b.fit is None):
        return False
    same_fit = a.fit is None or np.array_equal(a.fit.x, b.fit.x)
    return (
        same_fit
        and a.scores == b.scores
        and _same_table(a.table(), b.table())
        and _same_table(a.lines, b.lines)
    )


def stored_fits(workdir: Path) -> dict[str, dict]:
    """Species → arrays of every readable fit file in a work directory."""
    out = {}
    for path in sorted((workdir / FITS_DIR).glob("*.npz")):
        with np.load(path, allow_pickle=False) as z:
            out[str(z["species"])] = {k: z[k] for k in z.files}
    return out


def run(kills: int, seed: int, folder: Path) -> dict:
    """Run the experiment in ``folder``; returns the counts."""
    from spectuner_nb.mock import mixture_case

    rng = np.random.default_rng(seed)
    env = dict(os.environ, SPECTUNER_NB_CACHE_DIR=str(folder / "cache"))
    mix = mixture_case(
        CASE["i"], seed=CASE["seed"], n_species=CASE["n_species"], n_decoys=CASE["n_decoys"]
    )
    (folder / "case.json").write_text(
        json.dumps({"observation": mix.mock.obs.to_dict(), "candidates": mix.candidates})
    )

    def command(out: Path) -> list[str]:
        return [sys.executable, __file__, "--child", str(folder), str(out)]

    # a first run fills the caches (catalog, compiled kernels); the timed one is the reference
    subprocess.run(command(folder / "warm-up"), env=env, check=True, capture_output=True)
    t0 = time.perf_counter()
    subprocess.run(command(folder / "reference"), env=env, check=True, capture_output=True)
    t_ref = time.perf_counter() - t0
    reference = IdentificationResult.read(folder / "reference" / "result")
    ref_fits = stored_fits(folder / "reference" / "work")
    # start-up (imports, candidates) is much of a run: two kills in three are aimed at its
    # second half (individual fits, combination, writing), the rest anywhere
    late = (0.5 * t_ref, t_ref + 0.5)

    counts = {
        "kills": 0,
        "runs": 0,
        "cycles": 0,
        "cycles_identical": 0,
        "read_refused": 0,
        "read_identical": 0,
        "read_different": 0,
        "stored_fits_checked": 0,
        "stored_fits_different": 0,
        "kills_with_fits_done": [],
        "final_exit_codes": [],
    }
    while counts["kills"] < kills:
        counts["cycles"] += 1
        out = folder / f"cycle{counts['cycles']:02d}"

        def start(index: int, out: Path = out) -> subprocess.Popen:
            return subprocess.Popen(
                command(out),
                env=env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        def delay(index: int) -> float:
            lo, hi = late if rng.random() < 2 / 3 else (0.3, t_ref)
            return rng.uniform(lo, hi)

        def after_kill(out: Path = out) -> None:
            fits = stored_fits(out / "work") if (out / "work" / FITS_DIR).exists() else {}
            counts["kills_with_fits_done"].append(len(fits))
            for name, arrays in fits.items():
                counts["stored_fits_checked"] += 1
                ref = ref_fits.get(name)
                counts["stored_fits_different"] += ref is None or any(
                    not np.array_equal(arrays[k], ref[k]) for k in ("x", "loss", "nfev")
                )
            check_read(
                lambda: IdentificationResult.read(out / "result"),
                lambda got: identical(got, reference),
                counts,
            )

        counts["final_exit_codes"].append(kill_and_resume(start, delay, after_kill, counts))
        same = counts["final_exit_codes"][-1] == 0 and identical(
            IdentificationResult.read(out / "result"), reference
        )
        counts["cycles_identical"] += same
        print(f"cycle {counts['cycles']} finished, identical: {same}", flush=True)
    done = np.array(counts["kills_with_fits_done"])
    n_fits = len(ref_fits)
    counts["case"] = CASE
    counts["species"] = list(mix.mock.species)
    counts["candidates"] = list(mix.candidates)
    counts["identified"] = list(reference.species)
    counts["n_fits"] = n_fits
    counts["kills_before_first_fit"] = int(np.sum(done == 0))
    counts["kills_during_individual_fits"] = int(np.sum((done > 0) & (done < n_fits)))
    counts["kills_after_last_fit"] = int(np.sum(done == n_fits))
    counts["reference_wall_s"] = round(t_ref, 2)
    return counts


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument(
        "--child", nargs=2, type=Path, metavar=("FOLDER", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    counts = run_and_save(args, run, RESULT, Path(__file__).name)
    ok = (
        counts["read_different"] == 0
        and counts["stored_fits_different"] == 0
        and counts["cycles_identical"] == counts["cycles"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
