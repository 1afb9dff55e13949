"""``spectuner-nb train-policy``: rebuild the shipped policy checkpoint, stage by stage."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]


def register(subparsers) -> None:
    """Add the ``train-policy`` subcommand."""
    p = subparsers.add_parser(
        "train-policy",
        help="replay the training stages of the shipped policy checkpoint (resumable)",
        description="Train the policy through the stages of spectuner_nb.policy.training.recipe "
        "(the eight runs of the shipped checkpoint, about 4 h on one CPU thread) in "
        "WORKDIR. Rerunning the command continues a stopped rebuild. Needs the shared data "
        "(W3(H2O) pixels; SPECTUNER_NB_SHARED_DATA).",
    )
    p.add_argument("workdir", type=Path, help="work directory (one folder per stage)")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="two stages of a few steps with the tiny network (a check, seconds)",
    )
    p.add_argument(
        "--start-after",
        metavar="STAGE",
        help="with --start-from: use that checkpoint as STAGE's result and train the "
        "stages after it (e.g. run1 with the step-1000 checkpoint of git e99b962)",
    )
    p.add_argument("--start-from", type=Path, metavar="DIR", help="checkpoint folder")
    p.add_argument(
        "--budget-min", type=float, default=None, help="stop (resumably) after this many minutes"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the stages; returns 0 when the last checkpoint is exported, 3 when stopped."""
    from tqdm.auto import tqdm

    from ..catalog import default_cache
    from ..errors import ConfigurationError
    from ..policy.loader import CHECKPOINT_ENV
    from ..policy.training.recipe import (
        SHIPPED_STAGES,
        SMOKE_W3_STEP,
        run_stages,
        smoke_stages,
        start_after,
    )
    from ..policy.training.workflow import smoke_configs

    stages = smoke_stages() if args.smoke else SHIPPED_STAGES
    if (args.start_after is None) != (args.start_from is None):
        raise ConfigurationError("--start-after and --start-from go together")
    if args.start_after:
        start_after(args.workdir, args.start_after, args.start_from, stages)
    options: dict[str, Any] = (
        {"model_config": smoke_configs()[0], "w3_step": SMOKE_W3_STEP} if args.smoke else {}
    )
    before = {}
    total = 0
    for stage in stages:
        before[stage.name] = total
        total += stage.steps
    with tqdm(
        total=total, unit="step", desc="train-policy", disable=args.quiet, dynamic_ncols=True
    ) as bar:

        def progress(stage, row: dict) -> None:
            bar.n = before[stage.name] + row["step"]
            bar.set_postfix_str(f"{stage.name} reward {row['reward']:.2f}", refresh=True)

        out = run_stages(
            args.workdir,
            default_cache(),
            stages,
            callback=progress,
            time_budget_s=None if args.budget_min is None else 60 * args.budget_min,
            **options,
        )
    if out is None:
        print(f"stopped at the time budget; rerun the same command to continue ({args.workdir})")
        return 3
    print(f"checkpoint: {out}\nuse it with {CHECKPOINT_ENV}={out} or Policy.load('{out}')")
    return 0
