"""A batched, damped Newton minimiser shared by the Bradley-Terry, Davidson and Plackett-Luce fits.

Every likelihood here is convex in its parameters and has only a handful of them (one per model,
plus a tie or style coefficient or two), so Newton's method with an exact Hessian converges in a
few steps. Batching means B independent problems (the point estimate, or 500 bootstrap resamples)
advance together: one `(B, D, D)` linear solve per step instead of B Python-level fits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# objective(params (B, D), need_derivatives) -> (value (B,), gradient (B, D) | None, Hessian (B, D, D) | None)
Objective = Callable[[np.ndarray, bool], tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]

MAX_HALVINGS = 40
DAMPING = 1e-10


@dataclass(frozen=True)
class NewtonResult:
    params: np.ndarray  # (B, D)
    converged: np.ndarray  # (B,) bool
    iterations: int


def minimise(
    objective: Objective,
    init: np.ndarray,
    gauge: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> NewtonResult:
    """Minimise a batch of smooth convex objectives from `init` (B, D).

    `gauge` (D,) marks a direction the objective may be flat along (the common shift of all
    Bradley-Terry log-strengths). Adding `g gᵀ/|g|²` to the Hessian makes the Newton system
    solvable and leaves the step's component along `g` at zero when the gradient has none, so a
    centred start stays centred. Each step is halved until the objective does not increase
    (per problem), which keeps Newton safe far from the optimum (near-separated data).
    """
    params = np.array(init, dtype=float, copy=True)
    batch, dim = params.shape
    shift = np.zeros((dim, dim)) if gauge is None else np.outer(gauge, gauge) / float(gauge @ gauge)
    converged = np.zeros(batch, dtype=bool)
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 — reported in the result
        value, grad, hess = objective(params, True)
        assert grad is not None and hess is not None
        # a tiny damping keeps the system solvable where curvature vanishes (diverging separated fits)
        step = -np.linalg.solve(hess + shift + DAMPING * np.eye(dim), grad[..., None])[..., 0]
        step[converged] = 0.0
        scale = np.ones(batch)
        trial_value = objective(params + step, False)[0]
        for _ in range(MAX_HALVINGS):
            worse = ~(trial_value <= value + 1e-12 * np.abs(value))
            if not worse.any():
                break
            scale[worse] *= 0.5
            trial_value = objective(params + scale[:, None] * step, False)[0]
        params += scale[:, None] * step
        converged |= np.max(np.abs(scale[:, None] * step), axis=1) < tol
        if converged.all():
            break
    return NewtonResult(params=params, converged=converged, iterations=iteration)
