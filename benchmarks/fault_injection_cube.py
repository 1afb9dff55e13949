"""Fault injection: kill -9 ``spectuner-nb fit-cube`` at random moments, resume, compare.

A small synthetic cube is fitted once without interruption (the reference). Then, in
cycles, the same command is started on a fresh output folder and killed with SIGKILL
(its whole process group, Dask workers included) after a random delay, again and
again, resuming each time, until a run is let finish; cycles repeat until ``--kills``
kills have landed. Every fourth run uses a local Dask cluster, the others fit in
process. After every kill the output folder is read with :meth:`CubeFitResult.read`:
it must either refuse (no complete result yet, or a write was interrupted) or return
maps bit-identical to the reference. Each cycle's final maps must be bit-identical
to the reference.

Usage::

    python benchmarks/fault_injection_cube.py --kills 24 --seed 1

Writes ``benchmarks/results/fault_injection_cube.json`` (counts, timings, command).
Exit status 0 only if no read returned other maps and every final map set is identical.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from spectuner_nb.cube import CubeFitResult, make_synthetic_cube
from spectuner_nb.errors import ResultsError

COMPARED = ("x", "x_err", "x_spread", "loss", "chi2", "nfev", "flags", "status", "reasons")
RESULT = Path(__file__).parent / "results" / "fault_injection_cube.json"
MAX_KILLS_PER_CYCLE = 4
"""Kills in one cycle before its next run is let finish."""


def fit_command(cube: Path, out: Path, dask: bool) -> list[str]:
    """The fit-cube command line of every run (resumes by default)."""
    cmd = [
        sys.executable,
        "-m",
        "spectuner_nb.cli",
        "fit-cube",
        str(cube),
        "--species",
        "CH3OH",
        "--out",
        str(out),
        "--init",
        "random",
        "--n-init",
        "8",
        "--loss",
        "chi2",
        "--chunk-size",
        "1",
        "--n-cut",
        "1",
        "--quiet",
    ]
    return cmd + (["--workers", "2"] if dask else ["--no-dask"])


def identical(a: CubeFitResult, b: CubeFitResult) -> bool:
    """True when every map of ``a`` and ``b`` is bit-identical (NaNs at the same places)."""
    return all(
        np.array_equal(getattr(a, k), getattr(b, k), equal_nan=getattr(a, k).dtype.kind == "f")
        for k in COMPARED
    )


def kill_and_resume(
    start: Callable[[int], subprocess.Popen],
    delay: Callable[[int], float],
    after_kill: Callable[[], None],
    counts: dict,
) -> int:
    """One cycle: start runs (``start(run_index)``, each in its own session) and SIGKILL
    the whole process group of each after ``delay(run_index)`` s, calling ``after_kill()``
    after every kill, until a run ends by itself; returns its exit code. After
    :data:`MAX_KILLS_PER_CYCLE` kills the next run is let finish (on a machine slower than
    when the reference was timed every run could otherwise be killed). Updates
    ``counts["runs"]`` and ``counts["kills"]``."""
    for n_killed in range(MAX_KILLS_PER_CYCLE + 1):
        index = counts["runs"]
        counts["runs"] += 1
        proc = start(index)
        wait = delay(index) if n_killed < MAX_KILLS_PER_CYCLE else None
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        counts["kills"] += 1
        after_kill()
        print(
            f"cycle {counts['cycles']}, run {counts['runs']}: kill {counts['kills']} "
            f"after {wait:.1f} s",
            flush=True,
        )
    raise AssertionError("unreachable: the last run of a cycle is never killed")


def check_read(read: Callable[[], object], same: Callable[[object], bool], counts: dict) -> None:
    """Read a killed run's output: count a refusal (:class:`ResultsError`), an identical
    result or a different one (``read_refused``/``read_identical``/``read_different``)."""
    try:
        got = read()
    except ResultsError:
        counts["read_refused"] += 1
    else:
        counts["read_identical" if same(got) else "read_different"] += 1


def run(kills: int, seed: int, folder: Path) -> dict:
    """Run the experiment in ``folder``; returns the counts."""
    rng = np.random.default_rng(seed)
    env = dict(os.environ, SPECTUNER_NB_CACHE_DIR=str(folder / "cache"))
    synth = make_synthetic_cube(["CH3OH"], shape=(4, 4), n_channels=200, v_lsr=-5.0, seed=3)
    cube = synth.write(folder / "data")["cubes"][0]

    # a first run fills the caches (catalog, compiled kernels); the timed one is the reference
    subprocess.run(
        fit_command(cube, folder / "warm-up", False), env=env, check=True, capture_output=True
    )
    t0 = time.perf_counter()
    subprocess.run(
        fit_command(cube, folder / "reference", False), env=env, check=True, capture_output=True
    )
    t_ref = time.perf_counter() - t0
    reference = CubeFitResult.read(folder / "reference")
    # most of a run is start-up (imports, loading, selection); two kills in three are aimed
    # at the pixel fits and the writing of the maps, the rest anywhere in the run
    t_fit = float(reference.meta["wall_s_fit"])
    late = (max(0.3, t_ref - t_fit - 2.0), t_ref + 1.0)

    counts = {
        "kills": 0,
        "runs": 0,
        "dask_runs": 0,
        "cycles": 0,
        "cycles_identical": 0,
        "read_refused": 0,
        "read_identical": 0,
        "read_different": 0,
        "kills_with_chunks_done": [],
        "kills_during_map_write": 0,
        "final_exit_codes": [],
    }
    while counts["kills"] < kills:
        counts["cycles"] += 1
        out = folder / f"cycle{counts['cycles']:02d}"

        def start(index: int, out: Path = out) -> subprocess.Popen:
            dask = index % 4 == 3
            counts["dask_runs"] += dask
            return subprocess.Popen(
                fit_command(cube, out, dask),
                env=env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        def delay(index: int) -> float:
            lo, hi = late if rng.random() < 2 / 3 else (0.3, t_ref)
            return rng.uniform(lo, hi * (1.5 if index % 4 == 3 else 1.0))

        def after_kill(out: Path = out) -> None:
            chunks = out / "work" / "chunks"
            counts["kills_with_chunks_done"].append(
                len(list(chunks.glob("c*.npz"))) if chunks.exists() else 0
            )
            counts["kills_during_map_write"] += bool(list(out.glob(".partial-*")))
            check_read(
                lambda: CubeFitResult.read(out), lambda got: identical(got, reference), counts
            )

        counts["final_exit_codes"].append(kill_and_resume(start, delay, after_kill, counts))
        same = counts["final_exit_codes"][-1] == 0 and identical(CubeFitResult.read(out), reference)
        counts["cycles_identical"] += same
        print(f"cycle {counts['cycles']} finished, identical: {same}", flush=True)
    done = np.array(counts["kills_with_chunks_done"])
    counts["n_chunks"] = len(list((folder / "reference" / "work" / "chunks").glob("c*.npz")))
    counts["kills_before_first_chunk"] = int(np.sum(done == 0))
    counts["kills_during_pixel_fits"] = int(np.sum((done > 0) & (done < counts["n_chunks"])))
    counts["kills_after_last_chunk"] = int(np.sum(done == counts["n_chunks"]))
    counts["reference_wall_s"] = round(t_ref, 2)
    counts["reference_fit_s"] = round(t_fit, 2)
    return counts


def arguments(doc: str) -> argparse.ArgumentParser:
    """The command-line options of a fault-injection script (``doc``: its docstring)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=24, help="kills to land (default 24)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill delays")
    parser.add_argument("--keep", type=Path, default=None, help="run in this folder (kept)")
    return parser


def run_and_save(args, run: Callable[[int, int, Path], dict], result: Path, script: str) -> dict:
    """Run the experiment (in ``args.keep`` or a temporary folder), write ``result``."""
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        counts = run(args.kills, args.seed, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="fault_") as tmp:
            counts = run(args.kills, args.seed, Path(tmp))
    counts["command"] = f"python benchmarks/{script} --kills {args.kills} --seed {args.seed}"
    result.parent.mkdir(parents=True, exist_ok=True)
    result.write_text(json.dumps(counts, indent=1) + "\n")
    print(json.dumps(counts, indent=1))
    return counts


def main() -> int:
    counts = run_and_save(arguments(__doc__).parse_args(), run, RESULT, Path(__file__).name)
    ok = counts["read_different"] == 0 and counts["cycles_identical"] == counts["cycles"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
