"""Does ``spectuner_nb.policy.training.recipe`` rebuild the shipped policy checkpoint?

Checks the recipe's stages against the original training runs, recorded in
``benchmarks/results/policy_recipe_reference.json`` (their training data's SHA-256, their
first metrics rows, their exported weights' SHA-256 and the git commits holding their
starting and resulting checkpoints).

``data``: build every stage's training pixels and compare them with the original run's
(SHA-256 of the ``save_pixels`` JSON). Needs the shared data (W3(H2O) pixels).

``replay``: run the first ``--steps`` steps of a stage from the original run's starting
checkpoint (``git show`` of its commit, or the previous stage's export already in
``--workdir``) and compare every metrics row (losses, rewards, gradient norm, learning
rate; not timings) with the original run's first rows. With ``--steps`` = the whole
stage, also compare the exported weights with the original run's, byte for byte.

    python benchmarks/check_policy_recipe.py data
    NUMBA_NUM_THREADS=1 python benchmarks/check_policy_recipe.py replay --stage run14G \
        --steps 20 [--workdir DIR]

Results are printed and saved as ``benchmarks/results/check_policy_recipe_data.json`` and
``benchmarks/results/check_policy_recipe_replay.json`` (the last replay; its stage is in the file).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
REFERENCE = RESULTS / "policy_recipe_reference.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _save(result: dict, stem: str) -> Path:
    print(json.dumps(result, indent=1))
    path = RESULTS / f"{stem}.json"
    path.write_text(json.dumps(result, indent=1))
    return path


def check_data(reference: dict) -> dict:
    """Build every stage's pixels; compare their hashes with the original runs'."""
    from spectuner_nb.catalog import default_cache
    from spectuner_nb.policy.training.dataset import save_pixels
    from spectuner_nb.policy.training.recipe import SHIPPED_STAGES, stage_pixels

    catalog = default_cache()
    out = {}
    with tempfile.TemporaryDirectory(prefix="recipe_data_") as tmp:
        for stage in SHIPPED_STAGES:
            t0 = time.perf_counter()
            pixels = stage_pixels(stage, catalog)
            path = save_pixels(pixels, Path(tmp) / f"{stage.name}.json")
            ref = reference["stages"][stage.name]
            out[stage.name] = {
                "identical": _sha256(path) == ref["pixels_sha256"],
                "train_pixels": [len(pixels), ref["train_pixels"]],
                "train_entries": [sum(len(p.species) for p in pixels), ref["train_entries"]],
                "seconds": round(time.perf_counter() - t0, 1),
            }
            print(stage.name, out[stage.name], flush=True)
    return out


def _place_start(workdir: Path, previous: str, commit: str | None) -> None:
    """Make the stage's starting checkpoint ``previous``'s export in ``workdir``."""
    from spectuner_nb.policy.checkpoint import CONFIG_FILE, WEIGHTS_FILE
    from spectuner_nb.policy.training.recipe import stage_done, start_after

    if stage_done(workdir, previous):
        return
    if commit is None:
        sys.exit(
            f"the checkpoint after stage {previous} was never committed: run that stage "
            f"first with --workdir {workdir}"
        )
    with tempfile.TemporaryDirectory(prefix="recipe_start_") as tmp:
        for name in (WEIGHTS_FILE, CONFIG_FILE):
            blob = subprocess.run(
                ["git", "show", f"{commit}:spectuner_nb/data/policy/{name}"],
                cwd=ROOT,
                check=True,
                capture_output=True,
            ).stdout
            (Path(tmp) / name).write_bytes(blob)
        start_after(workdir, previous, tmp)


def check_replay(reference: dict, stage_name: str, steps: int | None, workdir: Path) -> dict:
    """Replay ``steps`` steps of a stage and compare them with the original run."""
    from spectuner_nb.catalog import default_cache
    from spectuner_nb.policy.checkpoint import WEIGHTS_FILE
    from spectuner_nb.policy.training.recipe import (
        PIXELS_FILE,
        SHIPPED_STAGES,
        run_stages,
        stage_history,
    )

    names = [s.name for s in SHIPPED_STAGES]
    index = names.index(stage_name)
    stage = SHIPPED_STAGES[index]
    ref = reference["stages"][stage_name]
    full = steps is None or steps >= stage.steps
    steps = stage.steps if full else steps
    run_dir = workdir if full else workdir / f"partial_{stage_name}_{steps}"
    if index:
        _place_start(run_dir, names[index - 1], ref["init_commit"])
    stages = (*SHIPPED_STAGES[:index], stage if full else replace(stage, n_steps=steps))
    t0 = time.perf_counter()
    exported = run_stages(run_dir, default_cache(), stages)
    wall = time.perf_counter() - t0
    rows = [
        {k: v for k, v in row.items() if not k.startswith("t_")}
        for row in stage_history(run_dir, stage_name).rows[:steps]
    ]
    head = ref["metrics_head"]
    compared = min(len(rows), len(head))
    same = [rows[i] == head[i] for i in range(compared)]
    result = {
        "stage": stage_name,
        "steps": steps,
        "wall_s": round(wall, 1),
        "rows_compared": compared,
        "rows_identical": sum(same),
        "first_difference": None if all(same) else same.index(False) + 1,
        "pixels_identical": _sha256(run_dir / stage_name / PIXELS_FILE) == ref["pixels_sha256"],
    }
    if full:
        result["weights_identical"] = _sha256(exported / WEIGHTS_FILE) == ref["weights_sha256"]
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line: ``data`` or ``replay``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("data", help="compare every stage's training pixels with the original runs'")
    rp = sub.add_parser("replay", help="replay a stage's first steps from its original start")
    rp.add_argument("--stage", required=True)
    rp.add_argument("--steps", type=int, default=20, help="steps to replay (0 = whole stage)")
    rp.add_argument("--workdir", type=Path, default=Path("recipe_check"))
    args = ap.parse_args(argv)
    reference = json.loads(REFERENCE.read_text())
    if args.cmd == "data":
        result = check_data(reference)
        _save(result, "check_policy_recipe_data")
        return 0
    import torch

    torch.set_num_threads(1)
    result = check_replay(reference, args.stage, args.steps or None, args.workdir)
    _save(result, "check_policy_recipe_replay")
    return 0


if __name__ == "__main__":
    sys.exit(main())
