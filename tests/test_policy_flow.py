"""Piecewise-quadratic transforms and the autoregressive flow (zuko-style checks)."""

import numpy as np
import pytest
import torch

from spectuner_nb.parameters import TABLE1_BOUNDS
from spectuner_nb.policy.flow import AutoregressiveFlow
from spectuner_nb.policy.transforms import quadratic_forward, quadratic_inverse

torch.manual_seed(0)


def _params(shape, k=32, scale=2.0):
    return torch.randn(*shape, k, dtype=torch.float64) * scale, torch.randn(
        *shape, k + 1, dtype=torch.float64
    ) * scale


def test_quadratic_invertible():
    w, h = _params((500,))
    x = torch.rand(500, dtype=torch.float64) * 0.998 + 0.001
    y, ld = quadratic_forward(x, w, h)
    x2, ld_inv = quadratic_inverse(y, w, h)
    assert torch.allclose(x, x2, atol=1e-8)
    assert torch.allclose(ld, -ld_inv, atol=1e-8)


def test_quadratic_logdet_matches_autograd():
    w, h = _params((200,))
    x = (torch.rand(200, dtype=torch.float64) * 0.99 + 0.005).requires_grad_(True)
    y, ld = quadratic_forward(x, w, h)
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.allclose(torch.log(grad), ld, atol=1e-8)


def test_quadratic_maps_unit_interval_onto_itself():
    w, h = _params((3,))
    y0, _ = quadratic_forward(torch.zeros(3, dtype=torch.float64), w, h)
    y1, _ = quadratic_forward(torch.ones(3, dtype=torch.float64), w, h)
    assert torch.allclose(y0, torch.zeros(3, dtype=torch.float64), atol=1e-4)
    assert torch.allclose(y1, torch.ones(3, dtype=torch.float64), atol=1e-4)


def _random_flow(n_blocks=1):
    flow = AutoregressiveFlow(16, 2, 32, n_blocks, TABLE1_BOUNDS, n_bins=8).double()
    for p in flow.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return flow


def test_flow_density_normalised_and_autoregressive():
    flow = _random_flow()
    ctx = torch.randn(16, dtype=torch.float64)
    x, log_p = flow.sample(ctx, 400)
    lo, hi = TABLE1_BOUNDS[:, 0], TABLE1_BOUNDS[:, 1]
    assert np.all(x.detach().numpy() >= lo) and np.all(x.detach().numpy() <= hi)
    assert torch.allclose(log_p, flow.log_prob(x, ctx.expand(400, 16)), atol=1e-6)
    # Jacobian of the data→unit map is triangular: output i ignores inputs > i.
    u = torch.rand(5, dtype=torch.float64, requires_grad=True)
    from spectuner_nb.policy.transforms import split_params

    w, h = split_params(flow._conditioner(u, ctx), flow.n_bins)
    y, _ = quadratic_forward(u, w, h)
    jac = torch.stack([torch.autograd.grad(y[i], u, retain_graph=True)[0] for i in range(5)])
    assert torch.all(torch.triu(jac, diagonal=1).abs() < 1e-12)
    assert torch.allclose(
        torch.log(torch.diagonal(jac)).sum() - torch.log(flow.span).sum(),
        flow.log_prob(flow.from_unit(u), ctx),
        atol=1e-8,
    )


def test_cached_sampler_matches_full_conditioner():
    """Key/value caching reproduces re-running the whole causal conditioner per step."""
    from spectuner_nb.policy.transforms import split_params

    flow = _random_flow(n_blocks=2)
    ctx = torch.randn(3, 16, dtype=torch.float64)
    x, log_p = flow.sample(ctx, 7, torch.Generator().manual_seed(5))
    z = torch.rand(3, 7, 5, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    full_ctx = ctx.unsqueeze(-2).expand(3, 7, 16)
    u = torch.zeros_like(z)
    for i in range(5):
        w, h = split_params(flow._conditioner(u, full_ctx)[..., i, :], flow.n_bins)
        u[..., i] = quadratic_inverse(z[..., i], w, h)[0]
    assert torch.allclose(x, flow.from_unit(u), atol=1e-9)
    assert torch.allclose(log_p, flow.log_prob(x, full_ctx), atol=1e-8)


@pytest.mark.parametrize("dim", [0, 4])
def test_flow_2d_marginal_integrates_to_one(dim):
    """Monte-Carlo check: E_uniform[p(x)] · volume = 1 for the joint density."""
    flow = _random_flow()
    ctx = torch.randn(16, dtype=torch.float64)
    g = torch.Generator().manual_seed(dim)
    u = torch.rand(20000, 5, dtype=torch.float64, generator=g)
    with torch.no_grad():
        p = torch.exp(flow.log_prob(flow.from_unit(u), ctx.expand(20000, 16)))
    volume = torch.prod(flow.span)
    assert abs(float(p.mean() * volume) - 1.0) < 0.1
