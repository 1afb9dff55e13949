"""Cheap evaluation of proposals: best-of-n peak-matching loss, policy vs uniform draws.

For each (pixel, species) the policy's ``n`` samples and ``n`` uniform draws
inside Table 1 are scored with the peak-matching loss of that species alone;
the best of each set is compared with ε = (ℓ_policy − ℓ_random)/(|ℓ_policy| + |ℓ_random|)
(negative = the policy proposes better starting points).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...losses import PeakMatchingLoss, relative_loss
from ...model import LTEModel
from ...parameters import TABLE1_BOUNDS
from ..policy import Policy
from .dataset import Pixel

__all__ = ["proposal_quality", "summarize"]


def proposal_quality(
    policy: Policy, pixels: Sequence[Pixel], catalog, *, n: int = 50, seed: int = 0
) -> list[dict]:
    """One row per (pixel, species): best-of-``n`` PM loss for policy and uniform draws."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in pixels:
        if not p.species:
            continue
        lines = [catalog.lines(s, p.obs.windows) for s in p.species]
        samples = policy.sample(p.obs, lines, n, seed=seed)  # (n, n_species, 5)
        pm = PeakMatchingLoss(p.obs.rest_freqs, p.obs.intensities, p.obs.rms)
        for j, (s, ll) in enumerate(zip(p.species, lines, strict=True)):
            model = LTEModel(p.obs.rest_freqs, [ll], beam=p.obs.beam, T_bg=p.obs.T_bg)
            uni = rng.uniform(TABLE1_BOUNDS[:, 0], TABLE1_BOUNDS[:, 1], (n, 5))
            lp = np.asarray(pm(model.from_fit(samples[:, j, None, :])).loss)
            lr = np.asarray(pm(model.from_fit(uni[:, None, :])).loss)
            rows.append(
                {
                    "pixel": p.name,
                    "species": s,
                    "best_policy": float(lp.min()),
                    "best_random": float(lr.min()),
                    "median_policy": float(np.median(lp)),
                    "median_random": float(np.median(lr)),
                    "eps": float(relative_loss(lp.min(), lr.min())),
                }
            )
    return rows


def summarize(rows: Sequence[dict]) -> dict:
    """Mean ε and the fraction of cases where the policy's best draw beats the random one."""
    if not rows:
        return {"n": 0}
    eps = np.array([r["eps"] for r in rows])
    return {
        "n": len(rows),
        "mean_eps": float(eps.mean()),
        "policy_better": float(np.mean(eps < 0)),
        "median_best_policy": float(np.median([r["best_policy"] for r in rows])),
        "median_best_random": float(np.median([r["best_random"] for r in rows])),
    }
