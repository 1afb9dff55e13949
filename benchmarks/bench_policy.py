"""Proposal cost of the policy: 50 samples per pixel, batched over 100 pixels (CPU).

Goal (issue 5): ≤ 20 ms per pixel. Peer measured in the same run: scoring the
same 50 samples with our LTE model + peak-matching loss (the work every
policy-initialised fit does next). Uses the shipped checkpoint and real
W3(H2O) pixels (shared data) or mock pixels when the shared data are absent.

    python benchmarks/bench_policy.py [--pixels 100] [--samples 50] [--species CH3OH]
                                      [--threads 1] [--checkpoint DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from spectuner_nb.catalog import default_cache
from spectuner_nb.losses import PeakMatchingLoss
from spectuner_nb.model import LTEModel
from spectuner_nb.observation import Observation
from spectuner_nb.policy import Policy
from spectuner_nb.policy.dataset import W3H2O_FILE, W3H2O_VLSR_KMS
from spectuner_nb.settings import shared_data_dir

RESULTS = Path(__file__).resolve().parent / "results" / "bench_policy.json"
GOAL_MS = 20.0


def pixels(n: int) -> tuple[list[Observation], str]:
    """``n`` observations: W3(H2O) cube pixels (cycled) or mocks."""
    root = shared_data_dir(required=False)
    if root is not None:
        from spectral_cube import SpectralCube

        cube = SpectralCube.read(str(root / W3H2O_FILE)).with_spectral_unit(
            "MHz", velocity_convention="radio")
        coords = [(x, y) for y in range(cube.shape[1]) for x in range(cube.shape[2])][:n]
        return [Observation.from_cube_pixel(cube, x, y, v_lsr=W3H2O_VLSR_KMS)
                for x, y in coords], "W3(H2O) pixels"
    from spectuner_nb.mock import mock_spectrum

    return [mock_spectrum(["CH3OH"], seed=i).obs for i in range(n)], "mock pixels"


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pixels", type=int, default=100)
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--species", default="CH3OH")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    catalog = default_cache()
    obs, source = pixels(args.pixels)
    policy = Policy.load(args.checkpoint)
    lines = [[catalog.lines(args.species, o.windows)] for o in obs]
    policy.sample(obs[:2], lines[0][0], 4, seed=0)  # warm-up

    t0 = time.perf_counter()
    inputs = policy.inputs(obs, lines, seed=0)
    t1 = time.perf_counter()
    x, _ = policy.sample_inputs(inputs, args.samples, seed=0)
    t2 = time.perf_counter()
    t_feat, t_net = t1 - t0, t2 - t1

    t3 = time.perf_counter()
    for o, ll, xi in zip(obs, lines, x, strict=True):
        model = LTEModel(o.rest_freqs, ll, beam=o.beam, T_bg=o.T_bg)
        PeakMatchingLoss(o.rest_freqs, o.intensities, o.rms)(model.from_fit(xi[:, None, :]))
    t_peer = time.perf_counter() - t3

    n = len(obs)
    per_pixel_ms = 1e3 * (t_feat + t_net) / n
    result = {
        "source": source, "species": args.species, "pixels": n, "samples": args.samples,
        "threads": args.threads, "checkpoint": str(args.checkpoint or "shipped"),
        "features_ms_per_pixel": 1e3 * t_feat / n, "network_ms_per_pixel": 1e3 * t_net / n,
        "proposal_ms_per_pixel": per_pixel_ms,
        "peer_score_50_samples_ms_per_pixel": 1e3 * t_peer / n,
        "ratio_proposal_to_peer": per_pixel_ms / (1e3 * t_peer / n),
        "goal_ms_per_pixel": GOAL_MS, "goal_met": bool(per_pixel_ms <= GOAL_MS),
        "finite": bool(np.all(np.isfinite(x))),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
