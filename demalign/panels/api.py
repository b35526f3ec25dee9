"""The two entry points the prepare stage calls: one panel (hard) or selection probabilities (soft).

Both check feasibility first, so infeasible quotas fail with the conflict and the smallest
relaxation before any sampling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from demalign.panels.committee import check_feasible
from demalign.panels.legacy import legacy_panels, panel_generator
from demalign.panels.leximin import PanelDistribution, leximin_distribution
from demalign.panels.random_sampling import random_panel
from demalign.panels.soft import monte_carlo_probabilities
from demalign.panels.spec import Instance, PanelSpec, Quotas, build_quotas, encode_pool


@dataclass(frozen=True)
class HardPanel:
    """One selected panel."""

    selected: tuple[str, ...]  # user ids, sorted
    quotas: Quotas
    algorithm: str
    seed: int
    committees: int  # distinct committees of the distribution drawn from (1 for legacy/random)
    certificate: dict[str, Any] | None = None  # leximin: how exact the distribution is (see `certificate`)


@dataclass(frozen=True)
class SoftPanel:
    """Every filtered-pool user's selection probability."""

    probabilities: dict[str, float]  # user id -> probability, for every user of the filtered pool
    std_error: dict[str, float] | None  # Monte-Carlo standard errors (None when exact: leximin)
    quotas: Quotas
    algorithm: str
    seed: int
    committees: int  # distinct committees with positive probability (sampled ones for Monte-Carlo)
    num_panel_samples: int | None  # Monte-Carlo panels drawn (None when exact)
    certificate: dict[str, Any] | None = None  # leximin: how exact the probabilities are (see `certificate`)


def certificate(distribution: PanelDistribution) -> dict[str, Any]:
    """What the LEXIMIN lottery proves: `certified` (its marginals equal the LP bound within
    `marginal_error`, which makes them the exact LEXIMIN), the peeling residual, the cuts added and
    the path taken, for panel.json and the report."""
    return {
        "certified": bool(distribution.certified),
        "marginal_error": float(distribution.marginal_error),
        "residual": float(distribution.residual),
        "cuts": int(distribution.cuts),
        "path": distribution.path,
        "panels_in_support": len(distribution.weights),
        "seconds": round(float(distribution.seconds), 3),
    }


def prepare_instance(pool: pd.DataFrame, spec: Mapping[str, Any] | PanelSpec) -> tuple[PanelSpec, Instance]:
    """Validate the spec, build quotas on the filtered pool, and check they can be met."""
    spec = spec if isinstance(spec, PanelSpec) else PanelSpec.from_mapping(spec)
    quotas, filtered = build_quotas(spec, pool)
    instance = encode_pool(quotas, filtered)
    check_feasible(instance)
    return spec, instance


def _leximin(spec: PanelSpec, instance: Instance) -> PanelDistribution:
    return leximin_distribution(
        instance,
        solver=spec.solver,
        seed=spec.seed,
        tolerance=spec.leximin_tolerance,
        initial_committees=spec.leximin_initial_committees,
        max_attempts=spec.max_attempts,
    )


def select_panel(pool: pd.DataFrame, spec: Mapping[str, Any] | PanelSpec) -> HardPanel:
    """One panel from `pool` (a survey frame indexed by user id) under `spec` (`cfg.panel` as a dict).

    legacy: the first panel of the seed's sequence; leximin: a draw from the LEXIMIN distribution;
    random: a rejection-sampled uniform panel (debug only).
    """
    spec, instance = prepare_instance(pool, spec)
    rng = panel_generator(spec.seed, 0)
    committees, proof = 1, None
    if spec.algorithm == "legacy":
        chosen = legacy_panels(instance, [rng], max_attempts=spec.max_attempts)[0]
    elif spec.algorithm == "leximin":
        distribution = _leximin(spec, instance)
        chosen = distribution.draw(rng)
        committees, proof = len(distribution.weights), certificate(distribution)
    else:
        chosen = random_panel(instance, rng, spec.random_max_attempts)
    selected = tuple(sorted(instance.user_ids[i] for i in chosen))
    return HardPanel(selected, instance.quotas, spec.algorithm, spec.seed, committees, proof)


def selection_probabilities(pool: pd.DataFrame, spec: Mapping[str, Any] | PanelSpec) -> SoftPanel:
    """Each filtered-pool user's probability of selection: exact under leximin, Monte-Carlo over
    `num_panel_samples` panels (split over `num_workers` processes, same result for any count)
    under legacy and random."""
    spec, instance = prepare_instance(pool, spec)
    proof = None
    if spec.algorithm == "leximin":
        distribution = _leximin(spec, instance)
        probabilities = distribution.marginals
        std_error = None
        committees, samples, proof = len(distribution.weights), None, certificate(distribution)
    else:
        attempts = spec.max_attempts if spec.algorithm == "legacy" else spec.random_max_attempts
        estimate = monte_carlo_probabilities(
            instance, spec.algorithm, spec.seed, spec.num_panel_samples, spec.num_workers, attempts
        )
        probabilities = estimate.probabilities
        std_error = dict(zip(instance.user_ids, map(float, estimate.std_errors), strict=True))
        committees, samples = estimate.distinct_panels, spec.num_panel_samples
    return SoftPanel(
        dict(zip(instance.user_ids, map(float, probabilities), strict=True)),
        std_error,
        instance.quotas,
        spec.algorithm,
        spec.seed,
        committees,
        samples,
        proof,
    )
