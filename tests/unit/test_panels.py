"""Sortition panels: quotas, feasibility diagnosis, LEGACY, LEXIMIN, random, soft weights, reports."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from demalign.errors import ConfigError, InfeasibleQuotasError
from demalign.panels import (
    build_quotas,
    panel_json,
    panel_report_frame,
    plot_panel_report,
    select_panel,
    selection_probabilities,
)
from demalign.panels.committee import CommitteeOracle, check_feasible
from demalign.panels.legacy import legacy_panels, panel_generator
from demalign.panels.leximin import leximin_distribution
from demalign.panels.random_sampling import random_panel
from demalign.panels.spec import Instance, Quotas, encode_pool


def make_pool(rows: list[tuple[str, ...]], columns=("gender", "age")) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    frame.index = pd.Index([f"u{i:02d}" for i in range(len(rows))], name="user_id")
    frame["study_locale"] = "us"
    return frame


def spec_for(attributes: dict[str, dict[str, float]], k: int, tolerance: float = 0.0, **extra) -> dict:
    return {
        "panel_size": k,
        "tolerance": tolerance,
        "attributes": [{"name": a, "column": a, "population_proportions": p} for a, p in attributes.items()],
        **extra,
    }


def make_instance(categories: np.ndarray, bounds: list[list[tuple[int, int]]], k: int) -> Instance:
    """An Instance straight from category codes (n, A) and per-attribute [(min, max), ...]."""
    pairs, lower, upper, offset = [], [], [], 0
    codes = np.empty_like(categories)
    for a, attribute_bounds in enumerate(bounds):
        for c, (low, high) in enumerate(attribute_bounds):
            pairs.append((f"a{a}", f"c{c}"))
            lower.append(low)
            upper.append(high)
        codes[:, a] = categories[:, a] + offset
        offset += len(attribute_bounds)
    quotas = Quotas(
        k,
        tuple(f"a{a}" for a in range(len(bounds))),
        tuple(f"a{a}" for a in range(len(bounds))),
        tuple(pairs),
        tuple(None for _ in pairs),
        tuple(lower),
        tuple(upper),
    )
    return Instance(quotas, tuple(f"u{i:03d}" for i in range(len(categories))), codes)


@st.composite
def feasible_instances(draw) -> Instance:
    """Random pools with quotas built around a random committee's own counts, so it is feasible."""
    n = draw(st.integers(6, 16))
    k = draw(st.integers(2, n - 2))
    n_attributes = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(2, 4)) for _ in range(n_attributes)]
    categories = np.stack([rng.integers(0, s, size=n) for s in sizes], axis=1)
    witness = rng.choice(n, size=k, replace=False)
    bounds = []
    for a, s in enumerate(sizes):
        counts = np.bincount(categories[witness, a], minlength=s)
        bounds.append(
            [(max(0, int(c) - int(rng.integers(0, 2))), int(c) + int(rng.integers(0, 2))) for c in counts]
        )
    return make_instance(categories, bounds, k)


# --- quotas -------------------------------------------------------------------------------------------


def test_quota_bounds_follow_floor_and_ceil():
    """k=20, tolerance 0.1: share 0.5 -> [floor(9.0), ceil(11.0)] = [9, 11]; share 0.3 -> [floor(5.4), ceil(6.6)]
    = [5, 7]; share 0.2 -> [floor(3.6), ceil(4.4)] = [3, 5]; the slack category gets [0, 20]."""
    pool = make_pool([("F", "young")] * 30 + [("M", "old")] * 30 + [("X", "young")] * 5)
    spec = spec_for({"gender": {"F": 0.5, "M": 0.3, "X": 0.2}, "age": {"young": 0.5, "old": 0.5}}, 20, 0.1)
    spec["attributes"][0]["slack_categories"] = ["X"]
    quotas, filtered = build_quotas(spec, pool)
    assert quotas.as_dict() == {
        "gender": {"F": [9, 11], "M": [5, 7], "X": [0, 20]},
        "age": {"young": [9, 11], "old": [9, 11]},
    }
    assert list(filtered.index) == sorted(pool.index)


def test_unlisted_categories_error_slack_or_exclude():
    """Pool category 'X' is not listed: error names it; slack gives it [0, k]; exclude drops its 2 users."""
    pool = make_pool([("F", "a")] * 4 + [("M", "a")] * 4 + [("X", "a")] * 2)
    spec = spec_for({"gender": {"F": 0.5, "M": 0.5}, "age": {"a": 1.0}}, 4)
    with pytest.raises(ConfigError, match=r"gender: \['X'\]"):
        build_quotas(spec, pool)
    quotas, filtered = build_quotas({**spec, "unlisted_categories": "slack"}, pool)
    assert quotas.as_dict()["gender"]["X"] == [0, 4] and len(filtered) == 10
    quotas, filtered = build_quotas({**spec, "unlisted_categories": "exclude"}, pool)
    assert "X" not in quotas.as_dict()["gender"] and len(filtered) == 8


def test_unknown_column_and_bad_keys_are_config_errors():
    pool = make_pool([("F", "a")] * 4)
    spec = spec_for({"gender": {"F": 1.0}}, 2)
    spec["attributes"][0]["column"] = "gendr"
    with pytest.raises(ConfigError, match=r"gendr.*available columns.*gender"):
        build_quotas(spec, pool)
    with pytest.raises(ConfigError, match=r"panel\.algorithm"):
        build_quotas({**spec_for({"gender": {"F": 1.0}}, 2), "algorithm": "greedy"}, pool)
    with pytest.raises(ConfigError, match="unknown key"):
        build_quotas({**spec_for({"gender": {"F": 1.0}}, 2), "panel_sise": 3}, pool)


def test_locale_filter_keeps_only_that_locale():
    pool = make_pool([("F", "a")] * 6)
    pool.loc[["u00", "u01"], "study_locale"] = "uk"
    _, filtered = build_quotas(
        {**spec_for({"gender": {"F": 1.0}, "age": {"a": 1.0}}, 2), "locale_filter": "uk"}, pool
    )
    assert list(filtered.index) == ["u00", "u01"]


# --- feasibility --------------------------------------------------------------------------------------


def test_infeasible_shortage_names_category_and_relaxation():
    """k=10, tolerance 0: 'old' share 0.5 needs >= 5 but the pool has 3; smallest relaxation: min 5 -> 3."""
    pool = make_pool([("F", "young")] * 10 + [("M", "old")] * 3 + [("M", "young")] * 7)
    spec = spec_for({"gender": {"F": 0.5, "M": 0.5}, "age": {"young": 0.5, "old": 0.5}}, 10)
    with pytest.raises(InfeasibleQuotasError) as error:
        select_panel(pool, {**spec, "algorithm": "legacy"})
    message = str(error.value)
    assert "age=old needs >= 5 but the pool has 3" in message
    assert "age=old min 5 -> 3" in message


def test_joint_conflict_found_by_the_ilp():
    """Every row alone is satisfiable, not all together: 'old' needs exactly 2 and both old people are
    'F', but F has exactly 1 (k=4: F [1, 1], M [3, 3]). Seating both old people needs F max 1 -> 2 and
    M min 3 -> 2 (or old min 2 -> 1 and young max 2 -> 3): total change 2."""
    pool = make_pool([("F", "old")] * 2 + [("M", "young")] * 6 + [("F", "young")] * 2)
    quotas_spec = spec_for({"gender": {"F": 0.25, "M": 0.75}, "age": {"old": 0.5, "young": 0.5}}, 4)
    with pytest.raises(InfeasibleQuotasError, match=r"joint conflict.*total change 2\)"):
        select_panel(pool, {**quotas_spec, "algorithm": "legacy"})


# --- every algorithm meets every quota ------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=feasible_instances(), seed=st.integers(0, 1000))
def test_every_panel_meets_every_quota(instance, seed):
    check_feasible(instance)
    for panel in legacy_panels(instance, [panel_generator(seed, i) for i in range(5)], max_attempts=500):
        assert instance.meets_quotas(panel)
    assert instance.meets_quotas(random_panel(instance, np.random.default_rng(seed), 100_000))
    distribution = leximin_distribution(instance, seed=seed, initial_committees=3)
    for committee in distribution.committees:
        assert instance.meets_quotas(committee)
    assert distribution.marginals.sum() == pytest.approx(instance.quotas.panel_size, abs=1e-6)


def test_legacy_succeeds_when_pool_count_equals_min():
    """The reference's defect: category 'old' has 2 people and min 2. The reference can never seat the
    last 'old' person while the min is unmet, so it fails every attempt; ours always seats both."""
    categories = np.array([[0]] * 2 + [[1]] * 8)
    instance = make_instance(categories, [[(2, 2), (0, 4)]], 5)
    panels = legacy_panels(instance, [panel_generator(0, i) for i in range(50)], max_attempts=1)
    assert all(instance.meets_quotas(p) and {0, 1} <= set(p) for p in panels)


def test_legacy_panel_independent_of_batch():
    """Panel 7 is the same drawn alone or as the 8th of a batch of 20."""
    instance = make_instance(np.arange(30).reshape(30, 1) % 3, [[(2, 4), (2, 4), (2, 4)]], 9)
    batch = legacy_panels(instance, [panel_generator(3, i) for i in range(20)])
    alone = legacy_panels(instance, [panel_generator(3, 7)])
    np.testing.assert_array_equal(batch[7], alone[0])


# --- LEXIMIN --------------------------------------------------------------------------------------------


def brute_force_maximin(instance: Instance) -> tuple[float, np.ndarray]:
    """Maximin over ALL feasible committees (enumerated), by LP: its value and one optimal marginal vector."""
    k, n = instance.quotas.panel_size, instance.size
    committees = [
        np.array(c) for c in itertools.combinations(range(n), k) if instance.meets_quotas(np.array(c))
    ]
    incidence = np.zeros((n, len(committees)))
    for j, committee in enumerate(committees):
        incidence[committee, j] = 1.0
    # variables: λ (m), z ; maximise z s.t. incidence λ >= z, Σλ = 1
    m = len(committees)
    result = linprog(
        np.r_[np.zeros(m), -1.0],
        A_ub=np.c_[-incidence, np.ones(n)],
        b_ub=np.zeros(n),
        A_eq=np.r_[np.ones(m), 0.0][None],
        b_eq=[1.0],
        bounds=[(0, None)] * m + [(None, None)],
    )
    return -result.fun, incidence @ result.x[:m]


def lexicographically_at_least(a: np.ndarray, b: np.ndarray, tol: float = 1e-6) -> bool:
    for x, y in zip(np.sort(a), np.sort(b), strict=True):
        if x > y + tol:
            return True
        if x < y - tol:
            return False
    return True


@pytest.mark.parametrize("seed", range(4))
def test_leximin_probabilities_are_a_valid_lexicographic_optimum(seed):
    """n=10, k=4, two attributes: probabilities sum to 4, lie in [0, 1], are the marginals of the returned
    distribution, the minimum equals the brute-force maximin value, and the sorted vector is
    lexicographically at least maximin's."""
    rng = np.random.default_rng(seed)
    categories = np.stack([rng.integers(0, 2, 10), rng.integers(0, 3, 10)], axis=1)
    instance = make_instance(categories, [[(1, 3), (1, 3)], [(0, 2), (1, 2), (0, 2)]], 4)
    distribution = leximin_distribution(instance, initial_committees=0)
    p = distribution.marginals
    assert p.sum() == pytest.approx(4.0, abs=1e-6)
    assert p.min() >= 0.0 and p.max() <= 1.0
    assert distribution.weights.sum() == pytest.approx(1.0)
    marginals = np.zeros(10)
    for committee, weight in zip(distribution.committees, distribution.weights, strict=True):
        marginals[committee] += weight
    np.testing.assert_allclose(marginals, p, atol=1e-9)
    value, maximin = brute_force_maximin(instance)
    assert p.min() == pytest.approx(value, abs=1e-6)
    assert lexicographically_at_least(p, maximin)


def test_leximin_gives_zero_exactly_to_people_no_feasible_panel_seats():
    """k=4, 'old' quota [2, 2] and the pool has 2 old people (u000 retired, u001 not), 'retired' max 1.
    Every panel seats both old people, so the retired max is used up by u000 and the young retired
    u002 can never sit: the ILP maximising x_u002 under the quotas leaves u002 out, and LEXIMIN gives
    u002 probability 0 and everyone else a positive one (the 26 zeros on the bench's S instance are
    this case: 65+ min 18 of 20 in the pool together with Retired max 8)."""
    categories = np.array([[0, 0], [0, 1], [1, 0]] + [[1, 1]] * 7)
    instance = make_instance(categories, [[(2, 2), (0, 4)], [(0, 1), (0, 4)]], 4)
    weights = np.zeros(10)
    weights[2] = 1.0
    assert 2 not in CommitteeOracle(instance).best(weights)[0]
    p = leximin_distribution(instance, initial_committees=0).marginals
    assert p[2] == 0.0 and p[[0, 1]] == pytest.approx([1.0, 1.0]) and (p[3:] > 0).all()


def test_leximin_is_deterministic_and_solvers_agree():
    rng = np.random.default_rng(11)
    categories = np.stack([rng.integers(0, 2, 14), rng.integers(0, 3, 14)], axis=1)
    instance = make_instance(categories, [[(2, 4), (2, 4)], [(1, 3), (1, 3), (1, 3)]], 6)
    first = leximin_distribution(instance, seed=5)
    again = leximin_distribution(instance, seed=5)
    np.testing.assert_array_equal(first.marginals, again.marginals)
    highs = leximin_distribution(instance, solver="highs", seed=5)
    np.testing.assert_allclose(np.sort(highs.marginals), np.sort(first.marginals), atol=1e-5)


def test_leximin_does_not_depend_on_the_seed_columns():
    """The LEXIMIN vector is unique, so seeding column generation with 0, 20 or 300 LEGACY panels
    must give the same probabilities (within the levels' tolerance)."""
    rng = np.random.default_rng(8)
    categories = np.stack([rng.integers(0, 2, 40), rng.integers(0, 3, 40), rng.integers(0, 2, 40)], axis=1)
    instance = make_instance(categories, [[(5, 7), (5, 7)], [(3, 5), (3, 5), (3, 5)], [(4, 8), (4, 8)]], 12)
    runs = [leximin_distribution(instance, initial_committees=c).marginals for c in (0, 20, 300)]
    for other in runs[1:]:
        np.testing.assert_allclose(other, runs[0], atol=1e-5)


# --- soft weights, API and reports ----------------------------------------------------------------------


def small_pool() -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(0)
    rows = [
        (g, a)
        for g, a in zip(
            rng.choice(["F", "M"], 40), rng.choice(["young", "old"], 40, p=[0.6, 0.4]), strict=True
        )
    ]
    spec = spec_for(
        {"gender": {"F": 0.5, "M": 0.5}, "age": {"young": 0.5, "old": 0.5}},
        10,
        0.2,
        seed=3,
        num_panel_samples=600,
    )
    return make_pool(rows), spec


def test_soft_legacy_weights_identical_for_one_and_two_workers():
    pool, spec = small_pool()
    one = selection_probabilities(pool, {**spec, "algorithm": "legacy", "num_workers": 1})
    two = selection_probabilities(pool, {**spec, "algorithm": "legacy", "num_workers": 2})
    assert one.probabilities == two.probabilities
    assert sum(one.probabilities.values()) == pytest.approx(10.0)
    p = one.probabilities["u00"]
    assert one.std_error["u00"] == pytest.approx(np.sqrt(p * (1 - p) / 600))


def test_hard_and_soft_outputs_and_report():
    """Hard: 10 sorted ids whose category counts match the report's panel_count; soft LEXIMIN: every
    one of the 40 pool users gets a probability, expected counts sum to 10 per attribute."""
    pool, spec = small_pool()
    hard = select_panel(pool, {**spec, "algorithm": "leximin"})
    assert len(hard.selected) == 10 and list(hard.selected) == sorted(hard.selected)
    frame = panel_report_frame(pool, hard.quotas, hard)
    chosen = pool.loc[list(hard.selected)]
    assert (
        frame.set_index(["attribute", "category"]).loc[("gender", "F"), "panel_count"]
        == (chosen.gender == "F").sum()
    )
    assert ((frame["panel_count"] >= frame["min"]) & (frame["panel_count"] <= frame["max"])).all()
    soft = selection_probabilities(pool, {**spec, "algorithm": "leximin"})
    assert set(soft.probabilities) == set(pool.index) and soft.std_error is None
    soft_frame = panel_report_frame(pool, soft.quotas, soft)
    assert soft_frame.groupby("attribute")["expected_count"].sum().to_list() == pytest.approx([10.0, 10.0])
    document = panel_json(soft)
    assert set(document) >= {"algorithm", "panel_size", "seed", "quotas", "probabilities", "committees"}
    assert panel_json(hard)["selected"] == list(hard.selected)
    assert plot_panel_report(frame).axes


def test_random_algorithm_gives_up_with_a_clear_error():
    pool, spec = small_pool()
    assert len(select_panel(pool, {**spec, "algorithm": "random"}).selected) == 10
    instance = encode_pool(*build_quotas({**spec, "tolerance": 0.0}, pool))
    with pytest.raises(InfeasibleQuotasError, match="debug only"):
        random_panel(instance, np.random.default_rng(0), 1)
