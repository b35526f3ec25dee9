"""Paired comparison core: worked numbers, scipy cross-checks, and properties.

Oracles: McNemar b = 3, c = 10 → p = 756/8192 = 0.0923 (DART's worked example); Wilcoxon on
Wilcoxon's corn data → statistic 24, p = 0.041259765625 (scipy's documented example); population
std of (2, 4, 4, 5) = sqrt(1.1875)."""

from __future__ import annotations

import io
import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from demalign.comparison import (
    ComparisonOptions,
    PairedItem,
    SeverityThresholds,
    at_least,
    check_paired,
    compare,
    mcnemar_exact,
    mcnemar_p_value,
    outcomes,
    pair_items,
    paired_bootstrap_ci,
    regression,
    severity_counts,
    severity_levels,
    severity_of,
    significance_stars,
    summarize,
    wilcoxon_signed_rank,
)
from demalign.comparison import stats as cstats
from demalign.errors import DataError

CORN = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75]

scores_1_5 = st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=1, max_size=40)


def _items(a, b):
    return [PairedItem(f"p{i}", x, y) for i, (x, y) in enumerate(zip(a, b, strict=True))]


def _ab(pairs):
    return np.array([p[0] for p in pairs], float), np.array([p[1] for p in pairs], float)


# ------------------------------------------------------------------------------ paired records


def test_pair_items_matches_ids_in_a_order_and_keeps_invalid_as_none() -> None:
    rows_a = [
        {"id": "p1", "prompt": "q1", "score": 2, "text": "a1"},
        {"id": "p2", "prompt": "q2", "score": None, "text": "a2", "raw": "??"},
    ]
    rows_b = [{"id": "p2", "score": 5, "text": "b2"}, {"id": "p1", "score": 4, "text": "b1"}]
    items = pair_items(rows_a, rows_b)
    assert [(i.id, i.score_a, i.score_b) for i in items] == [("p1", 2.0, 4.0), ("p2", None, 5.0)]
    assert (
        items[0].context == {"prompt": "q1"} and items[0].a == {"text": "a1"} and items[0].b == {"text": "b1"}
    )
    assert items[1].a == {"text": "a2", "raw": "??"}
    assert items[0].delta == 2.0 and items[1].delta is None and not items[1].complete


def test_pair_items_refuses_unmatched_duplicated_or_scoreless_rows() -> None:
    with pytest.raises(DataError, match=r"1 id\(s\) only in A \['p3'\], 1 only in B \['p9'\]"):
        pair_items(
            [{"id": "p1", "score": 1}, {"id": "p3", "score": 2}],
            [{"id": "p1", "score": 1}, {"id": "p9", "score": 2}],
        )
    with pytest.raises(DataError, match="'p1' appears twice"):
        pair_items([{"id": "p1", "score": 1}, {"id": "p1", "score": 2}], [{"id": "p1", "score": 1}])
    with pytest.raises(DataError, match=r"side B row 1: missing 'score' \(keys found: \['id', 'verdict'\]\)"):
        pair_items([{"id": "p1", "score": 1}], [{"id": "p1", "verdict": 1}])


@pytest.mark.parametrize("bad", [True, "4", float("nan"), float("inf")])
def test_a_score_is_a_number_or_none_never_a_coerced_stand_in(bad) -> None:
    with pytest.raises(DataError, match="item 'p1' side B"):
        PairedItem("p1", 3, bad)


def test_paired_arrays_must_have_equal_length_and_no_nan() -> None:
    with pytest.raises(ValueError, match="one A and one B score per item: got 3 and 2"):
        check_paired([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        check_paired([1.0, np.nan], [1.0, 2.0])


# ------------------------------------------------------------------------------ summary, outcomes


def test_summary_worked_numbers_population_std() -> None:
    s = summarize([2, 4, 4, 5], np.array([2, 4, 4, 5]) >= 4)
    assert s.mean == 3.75 and s.safe_rate == 0.75 and s.n == 4
    assert s.std == pytest.approx(math.sqrt(1.1875)) == pytest.approx(1.0897, abs=1e-4)
    assert s.std != pytest.approx(float(np.std([2, 4, 4, 5], ddof=1)))  # not the sample std (1.258)
    assert s.as_record()["std_dev_kind"] == "population (ddof=0)"


def test_summary_of_nothing_is_none_not_zero() -> None:
    s = summarize([], np.array([], bool), n_invalid=3)
    assert (s.mean, s.std, s.safe_rate, s.n, s.n_invalid) == (None, None, None, 0, 3)


def test_outcomes_worked_numbers_ties_are_their_own_category() -> None:
    o = outcomes([3, 4, 5, 2], [4, 4, 3, 5])
    assert (o.improved, o.tied, o.worse) == (2, 1, 1)
    assert (o.improved_fraction, o.tied_fraction, o.worse_fraction) == (0.5, 0.25, 0.25)
    harm = outcomes([0.3, 0.2], [0.1, 0.25], higher_is_better=False)  # lower harm is better
    assert (harm.improved, harm.worse) == (1, 1)
    loose = outcomes([0.30, 0.20], [0.31, 0.50], tie_tolerance=0.05)
    assert (loose.improved, loose.tied, loose.worse) == (1, 1, 0)
    assert outcomes([], []).improved_fraction is None


@given(scores_1_5)
def test_improved_tied_worse_sum_to_one(pairs) -> None:
    o = outcomes(*_ab(pairs))
    assert o.n == len(pairs)
    assert o.improved_fraction + o.tied_fraction + o.worse_fraction == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(scores_1_5)
def test_swapping_a_and_b_negates_delta_and_swaps_improved_and_worse(pairs) -> None:
    a, b = _ab(pairs)
    forward, backward = compare(_items(a, b)), compare(_items(b, a))
    assert backward.delta_mean == pytest.approx(-forward.delta_mean)
    assert (backward.outcomes.improved, backward.outcomes.tied, backward.outcomes.worse) == (
        forward.outcomes.worse,
        forward.outcomes.tied,
        forward.outcomes.improved,
    )
    assert backward.wilcoxon.p_value == pytest.approx(forward.wilcoxon.p_value)


# ------------------------------------------------------------------------------ paired bootstrap


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.integers(1, 6, 60), rng.integers(1, 6, 60)
    first, again, other = (paired_bootstrap_ci(a, b, seed=s) for s in (7, 7, 8))
    assert (first.low, first.high) == (again.low, again.high)
    assert (first.low, first.high) != (other.low, other.high)
    assert first.estimate == other.estimate == pytest.approx(float((b - a).mean()))


def test_bootstrap_resamples_items_as_a_reference_loop_would() -> None:
    """Block-wise drawing gives exactly the one-shot resampling of item indices (n large enough
    for several blocks)."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=5000), rng.normal(size=5000) + 0.05
    got = paired_bootstrap_ci(a, b, n_resamples=1000, level=0.9, seed=3)
    d = b - a
    means = d[np.random.default_rng(3).integers(0, d.size, size=(1000, d.size))].mean(axis=1)
    np.testing.assert_allclose((got.low, got.high), np.quantile(means, [0.05, 0.95]), rtol=1e-12)


def test_bootstrap_worked_numbers_and_edge_cases() -> None:
    constant = paired_bootstrap_ci([1, 2, 3, 4], [2, 3, 4, 5])
    assert (constant.estimate, constant.low, constant.high) == (1.0, 1.0, 1.0)
    empty = paired_bootstrap_ci([], [])
    assert (empty.estimate, empty.low, empty.high) == (None, None, None)
    single = paired_bootstrap_ci([3], [5])
    assert (single.low, single.high) == (2.0, 2.0)
    with pytest.raises(ValueError, match="level"):
        paired_bootstrap_ci([1], [2], level=1.0)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-3, 3, allow_nan=False), min_size=1, max_size=25),
    st.floats(-2, 2, allow_nan=False),
    st.integers(0, 2**31),
)
def test_bootstrap_ci_contains_delta_mean_for_symmetric_data(half, centre, seed) -> None:
    d = np.concatenate([np.array(half), -np.array(half)]) + centre  # symmetric about `centre`
    ci = paired_bootstrap_ci(np.zeros_like(d), d, n_resamples=400, seed=seed)
    assert ci.low - 1e-9 <= ci.estimate <= ci.high + 1e-9
    assert ci.estimate == pytest.approx(centre, abs=1e-9)


# ------------------------------------------------------------------------------ Wilcoxon


def test_wilcoxon_worked_example_corn() -> None:
    result = wilcoxon_signed_rank(np.zeros(len(CORN)), CORN)
    assert result.statistic == 24.0 and result.p_value == pytest.approx(0.041259765625)
    assert (result.method, result.n_used, result.n_zero) == ("exact", 15, 0)
    assert wilcoxon_signed_rank([0] * 6, [1] * 6).p_value == pytest.approx(2 / 2**6)  # 0.03125


CASES = {
    "no ties, n=15": (np.zeros(15), np.array(CORN, float)),
    "ties and zeros, n=10": (
        np.array([3, 4, 5, 2, 4, 1, 3, 3, 2, 5.0]),
        np.array([4, 4, 3, 5, 5, 3, 3, 4, 4, 5.0]),
    ),
    "ties and zeros, n=40": (
        np.random.default_rng(2).integers(1, 6, 40).astype(float),
        np.random.default_rng(3).integers(1, 6, 40).astype(float),
    ),
    "no ties, n=80": (np.zeros(80), np.random.default_rng(4).normal(0.3, 1.0, 80)),
}


@pytest.mark.parametrize("zero_method", ["wilcox", "pratt", "zsplit"])
@pytest.mark.parametrize("case", list(CASES))
def test_wilcoxon_agrees_with_scipy(case, zero_method) -> None:
    a, b = CASES[case]
    ours = wilcoxon_signed_rank(a, b, zero_method=zero_method)
    ref = sps.wilcoxon(b - a, zero_method=zero_method, alternative="two-sided")  # scipy ≥ 1.15 "auto"
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert ours.statistic == pytest.approx(ref.statistic)


def test_wilcoxon_passes_paired_differences_and_explicit_arguments_to_scipy(monkeypatch) -> None:
    calls = []
    real = sps.wilcoxon

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(cstats.sps, "wilcoxon", spy)
    wilcoxon_signed_rank([1, 2, 3, 4], [2, 2, 5, 1], zero_method="pratt")
    (args, kwargs), *_ = calls
    np.testing.assert_array_equal(args[0], [1, 0, 2, -3])  # B − A, one difference per item
    assert len(args) == 1  # never two independent samples
    assert kwargs["alternative"] == "two-sided" and kwargs["zero_method"] == "pratt"
    assert kwargs["correction"] is False and isinstance(kwargs["method"], sps.PermutationMethod)


def test_wilcoxon_all_zero_tiny_and_empty_give_a_result_not_an_exception() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        all_zero = wilcoxon_signed_rank([3, 4, 5], [3, 4, 5])
        one = wilcoxon_signed_rank([3], [4])
        two_tied = wilcoxon_signed_rank([3, 3], [4, 3])
        empty = wilcoxon_signed_rank([], [])
    assert (all_zero.p_value, all_zero.method, all_zero.n_zero) == (1.0, "none", 3)
    assert "all differences are zero" in all_zero.note
    assert one.p_value == 1.0 and two_tied.p_value == 1.0
    assert (empty.p_value, empty.method) == (None, "none")
    with pytest.raises(ValueError, match="zero_method"):
        wilcoxon_signed_rank([1], [2], zero_method="drop")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ McNemar


def test_mcnemar_exact_worked_example_b3_c10() -> None:
    assert mcnemar_p_value(3, 10) == pytest.approx(756 / 8192)
    assert round(mcnemar_p_value(3, 10), 4) == 0.0923
    assert mcnemar_p_value(0, 0) == 1.0 and mcnemar_p_value(5, 5) == 1.0
    assert mcnemar_p_value(0, 10) == pytest.approx(2 / 1024)


@given(st.integers(0, 60), st.integers(0, 60))
def test_mcnemar_is_symmetric_and_matches_the_binomial_formula(b, c) -> None:
    p = mcnemar_p_value(b, c)
    assert p == mcnemar_p_value(c, b) and 0 < p <= 1
    if b + c:
        exact = min(1.0, 2 * sum(math.comb(b + c, k) for k in range(min(b, c) + 1)) / 2 ** (b + c))
        assert p == pytest.approx(exact, rel=1e-9)
        assert p == pytest.approx(sps.binomtest(b, b + c, 0.5).pvalue, rel=1e-9)


def test_mcnemar_counts_discordant_pairs_from_flags() -> None:
    a = np.array([True, True, False, False, True])
    b = np.array([False, True, True, True, True])
    result = mcnemar_exact(a, b)
    assert (result.b, result.c, result.n) == (1, 2, 5)
    with pytest.raises(ValueError, match="booleans"):
        mcnemar_exact(np.array([1, 0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="one A and one B flag per item"):
        mcnemar_exact(np.array([True, False]), np.array([True]))


def test_unpaired_test_on_paired_data_is_not_used() -> None:
    """The seed-family bug: an unpaired test (Fisher on the two safe rates, Mann–Whitney on the scores)
    on paired data. 50 prompts: 20 safe under both, 20 unsafe under both, 10 unsafe → safe, none safe →
    unsafe. Paired, B is clearly safer (McNemar p = 2/1024); unpaired, 20/50 vs 30/50 looks like noise."""
    safe_a = np.array([True] * 20 + [False] * 20 + [False] * 10)
    safe_b = np.array([True] * 20 + [False] * 20 + [True] * 10)
    unpaired = sps.fisher_exact([[safe_a.sum(), (~safe_a).sum()], [safe_b.sum(), (~safe_b).sum()]]).pvalue
    assert unpaired > 0.05
    scores_a = np.where(safe_a, 4.0, 2.0)
    scores_b = np.where(safe_b, 4.0, 2.0)
    report = compare(_items(scores_a, scores_b), ComparisonOptions(safe_threshold=4))
    assert report.mcnemar.p_value == pytest.approx(2 / 1024)
    assert report.mcnemar.p_value != pytest.approx(unpaired)

    # Continuous scores: every item improves by a little, items spread widely.
    a = np.linspace(0.0, 1.0, 30)
    b = a + 0.05 + np.random.default_rng(0).uniform(0, 0.01, 30)
    assert sps.mannwhitneyu(a, b).pvalue > 0.3  # unpaired: no difference visible
    assert wilcoxon_signed_rank(a, b).p_value < 1e-6  # paired: 30 of 30 improved

    # The API accepts only paired inputs: equal lengths, the same ids on both sides.
    for test in (wilcoxon_signed_rank, paired_bootstrap_ci, outcomes):
        with pytest.raises(ValueError, match="unpaired comparison is not supported"):
            test(a, b[:-1])
    with pytest.raises(DataError, match="same items on both sides"):
        pair_items([{"id": "x", "score": 1}], [{"id": "y", "score": 1}])


def test_significance_stars() -> None:
    assert [significance_stars(p) for p in (0.0005, 0.005, 0.03, 0.2, None)] == ["***", "**", "*", "", ""]


# ------------------------------------------------------------------------------ severity


def test_severity_bins_dart_thresholds_worked_numbers() -> None:
    levels = severity_levels([0.005, 0.01, 0.0101, 0.10, 0.199, 0.20, 0.35, 0.9, -0.4])
    assert list(levels) == [
        "none",
        "none",
        "mild",
        "moderate",
        "moderate",
        "severe",
        "extreme",
        "extreme",
        "none",
    ]
    assert severity_of(0.12) == "moderate"
    assert severity_counts([0.005, 0.02, 0.10, 0.25, 0.35, -0.4]) == {
        "none": 2,
        "mild": 1,
        "moderate": 1,
        "severe": 1,
        "extreme": 1,
    }
    custom = SeverityThresholds(mild=0, moderate=1, severe=2, extreme=3)  # 1–5 critic scores
    assert list(severity_levels([0, 0.5, 1, 2, 4], custom)) == [
        "none",
        "mild",
        "moderate",
        "severe",
        "extreme",
    ]
    assert at_least("severe", "moderate") and not at_least("mild", "moderate")
    with pytest.raises(ValueError, match="unknown severity"):
        at_least("huge", "mild")
    with pytest.raises(ValueError, match="0 ≤ mild ≤ moderate"):
        SeverityThresholds(moderate=0.3, severe=0.2)


def test_regression_direction_follows_the_score() -> None:
    np.testing.assert_allclose(regression([4, 3], [2, 5]), [2, -2])  # critic score: A − B
    np.testing.assert_allclose(regression([0.1, 0.5], [0.4, 0.2], higher_is_better=False), [0.3, -0.3])


@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=30))
def test_severity_is_monotone_and_counts_every_item(values) -> None:
    order = np.argsort(values, kind="stable")
    ranks = [
        ["none", "mild", "moderate", "severe", "extreme"].index(x)
        for x in severity_levels(np.array(values)[order])
    ]
    assert ranks == sorted(ranks)
    assert sum(severity_counts(values).values()) == len(values)


# ------------------------------------------------------------------------------ report


def test_compare_worked_example_with_an_invalid_verdict() -> None:
    items = [*_items([3, 4, 5, 2], [4, 4, 3, 5]), PairedItem("p4", 4, None)]
    report = compare(items, ComparisonOptions(safe_threshold=4))
    assert (report.n_items, report.n_pairs, report.n_excluded, report.n_invalid_a, report.n_invalid_b) == (
        5,
        4,
        1,
        0,
        1,
    )
    assert (report.summary_a.mean, report.summary_b.mean, report.delta_mean) == (3.5, 4.0, 0.5)
    assert (report.summary_a.safe_rate, report.summary_b.safe_rate) == (0.5, 0.75)
    assert (report.mcnemar.b, report.mcnemar.c, report.mcnemar.p_value) == (1, 2, 1.0)
    assert report.delta_safe_rate.estimate == 0.25
    # The invalid verdict is excluded, not scored 1: same numbers as without that item.
    without = compare(items[:4], ComparisonOptions(safe_threshold=4))
    assert without.delta.as_record() == report.delta.as_record()
    assert without.summary_b.mean == report.summary_b.mean
    assert report.better is None and report.verdict().startswith("No significant difference")


def test_report_record_has_the_seed_fields_and_is_strict_json() -> None:
    report = compare(
        _items([3, 4, 5, 2], [4, 4, 3, 5]),
        ComparisonOptions(safe_threshold=4, severity=SeverityThresholds(0, 1, 2, 3)),
        context={"num_generations_per_prompt": 1, "scoring": "greedy", "timestamp": "2026-01-01T00:00:00"},
    )
    record = json.loads(json.dumps(report.as_record(), allow_nan=False))
    for model in ("baseline", "finetuned"):
        assert {"mean_score", "std_dev", "safe_rate", "num_samples"} <= set(record[model])
    assert {"delta_mean", "delta_safe_rate", "improved_fraction", "tied_fraction", "worse_fraction"} <= set(
        record["delta"]
    )
    assert {"num_eval_prompts", "num_generations_per_prompt", "safe_threshold", "timestamp"} <= set(record)
    assert record["delta"]["improved_fraction"] == 0.5 and record["delta"]["tied_fraction"] == 0.25
    assert (
        record["tests"]["mcnemar_safe"]["b_lost"] == 1
        and record["tests"]["wilcoxon"]["zero_method"] == "wilcox"
    )
    assert record["severity"]["counts"] == {"none": 3, "mild": 0, "moderate": 0, "severe": 1, "extreme": 0}
    assert record["scoring"] == "greedy"
    with pytest.raises(ValueError, match="clash"):
        compare(_items([1], [2]), context={"delta": 1}).as_record()


def test_report_with_nothing_valid_is_still_a_report() -> None:
    report = compare(
        [PairedItem("p0", None, 3), PairedItem("p1", 2, None)], ComparisonOptions(safe_threshold=4)
    )
    record = json.loads(json.dumps(report.as_record(), allow_nan=False))
    assert record["num_pairs"] == 0 and record["num_excluded"] == 2 and record["delta"]["delta_mean"] is None
    assert (
        record["tests"]["wilcoxon"]["p_value"] is None and record["tests"]["mcnemar_safe"]["p_value"] == 1.0
    )
    assert "nothing to compare" in report.verdict()
    assert [row["outcome"] for row in report.paired_rows()] == ["excluded", "excluded"]


def test_rows_for_paired_results_and_failures() -> None:
    items = [
        PairedItem("p0", 3, 4, {"text": "a0", "reason": "ok"}, {"text": "b0"}, {"prompt": "q0"}),
        PairedItem("p1", 5, 4),
        PairedItem("p2", 5, 1),
        PairedItem("p3", 2, None),
        PairedItem("p4", 4, 4),
    ]
    report = compare(items, ComparisonOptions(safe_threshold=4, severity=SeverityThresholds(0, 1, 2, 3)))
    rows = report.paired_rows()
    assert [r["outcome"] for r in rows] == ["improved", "worse", "worse", "excluded", "tied"]
    assert rows[0] == {
        "id": "p0",
        "prompt": "q0",
        "baseline": {"score": 3.0, "safe": False, "text": "a0", "reason": "ok"},
        "finetuned": {"score": 4.0, "safe": True, "text": "b0"},
        "delta": 1.0,
        "outcome": "improved",
        "regression": -1.0,
        "severity": "none",
    }
    assert rows[3]["finetuned"] == {"score": None, "safe": None} and rows[3]["delta"] is None
    stale = compare(
        [PairedItem("p", 1, 5, b={"score": 1, "safe": False})], ComparisonOptions(safe_threshold=4)
    )
    assert stale.paired_rows()[0]["finetuned"] == {"score": 5.0, "safe": True}  # details never override
    failures = report.failure_rows()
    assert [(r["id"], r["regression"], r["severity"]) for r in failures] == [
        ("p2", 4.0, "extreme"),
        ("p1", 1.0, "moderate"),
    ]
    json.dumps(rows, allow_nan=False)


def test_verdict_names_the_better_model_in_either_direction() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(1, 4, 40).astype(float)
    b = np.minimum(a + rng.integers(0, 3, 40), 5)
    report = compare(_items(a, b))
    assert report.better == "finetuned" and report.delta.excludes_zero
    assert report.verdict().startswith("finetuned is better than baseline: Δ mean +")
    harm = compare(
        _items(b / 10, a / 10), ComparisonOptions(label_a="M0", label_b="DART", higher_is_better=False)
    )
    assert harm.better == "DART"  # B's harm is lower
    assert compare(_items(a, b), ComparisonOptions(label_a="tuned", label_b="base")).better == "base"


def test_options_refuse_equal_or_reserved_labels_and_duplicate_ids() -> None:
    with pytest.raises(ValueError, match="must differ"):
        ComparisonOptions(label_a="m", label_b="m")
    with pytest.raises(ValueError, match="report key"):
        ComparisonOptions(label_b="delta")
    with pytest.raises(DataError, match="appears twice"):
        compare([PairedItem("p", 1, 2), PairedItem("p", 2, 3)])


def test_markdown_and_plot() -> None:
    report = compare(
        _items([3, 4, 5, 2], [4, 4, 3, 5]), ComparisonOptions(safe_threshold=4), context={"scoring": "greedy"}
    )
    text = report.markdown()
    assert "| baseline | 3.5 | 1.118 | 0.5 | 4 | 0 |" in text
    assert "2 / 1 / 1 (0.5 / 0.25 / 0.25; ties are their own category)" in text
    assert "McNemar exact (safe/unsafe) | p = 1 (1 safe→unsafe, 2 unsafe→safe)" in text
    assert "| scoring | greedy |" in text and "**Verdict:**" in text
    fig = report.plot_deltas()
    (ax,) = fig.axes
    assert len(ax.containers[0]) == 4 and ax.get_ylabel() == "finetuned − baseline"
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")
    compare([]).plot_deltas()  # nothing to draw is not an error
