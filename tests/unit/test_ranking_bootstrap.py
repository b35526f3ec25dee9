"""Question-level bootstrap and the judgement loaders: determinism, exclusion of invalid
judgements, tallies, intervals, and file:line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from demalign.artifacts import write_jsonl
from demalign.errors import DataError
from demalign.ranking.bootstrap import aggregate, competition_ranks, percentile_interval, resample_counts
from demalign.ranking.data import load_listwise, load_pairwise, load_preferences, style_difference
from demalign.ranking.methods import RankOptions, bootstrap_resamples, score_method
from demalign.ranking.synthetic import listwise_rows, pairwise_rows


@pytest.fixture
def pairwise_file(tmp_path):
    rows = pairwise_rows(np.array([0.0, 0.6, -0.4, 0.2]), 40, 3, np.random.default_rng(1), tie_rate=0.1)
    write_jsonl(tmp_path / "pairwise.jsonl", rows)
    return tmp_path / "pairwise.jsonl"


def test_same_seed_same_intervals_other_seed_other_intervals(pairwise_file) -> None:
    comparisons = load_pairwise(pairwise_file)
    runs = [
        score_method(
            comparisons, "bradley_terry", RankOptions(), bootstrap_resamples(comparisons, 200, seed), 0.95
        )
        for seed in (3, 3, 4)
    ]
    np.testing.assert_array_equal(runs[0].samples, runs[1].samples)
    np.testing.assert_array_equal(runs[0].ci_low, runs[1].ci_low)
    assert not np.array_equal(runs[0].samples, runs[2].samples)
    np.testing.assert_array_equal(runs[0].scores, runs[2].scores)  # the point estimate needs no seed


def test_resample_counts_draw_every_unit_count_times() -> None:
    counts = resample_counts(7, 50, np.random.default_rng(0))
    assert counts.shape == (50, 7) and (counts.sum(1) == 7).all() and (counts >= 0).all()


def test_aggregate_sums_resampled_questions(pairwise_file) -> None:
    """Drawing question 0 twice and question 2 once gives 2·W_0 + W_2."""
    comparisons = load_pairwise(pairwise_file)
    counts = np.zeros((1, len(comparisons.units)))
    counts[0, 0], counts[0, 2] = 2, 1
    tallies = aggregate(comparisons, counts)
    np.testing.assert_array_equal(tallies.wins[0], 2 * comparisons.wins[0] + comparisons.wins[2])
    np.testing.assert_array_equal(tallies.ties[0], 2 * comparisons.ties[0] + comparisons.ties[2])


def test_invalid_judgements_are_excluded(tmp_path) -> None:
    """Rows with invalid verdicts tally exactly as the same rows without them."""
    rows = pairwise_rows(np.array([0.0, 1.0, -1.0]), 10, 6, np.random.default_rng(2), invalid_rate=0.3)
    assert sum(row["invalid"] for row in rows) > 0
    write_jsonl(tmp_path / "with.jsonl", rows)
    write_jsonl(tmp_path / "without.jsonl", [{**row, "invalid": 0} for row in rows])
    with_invalid, without = load_pairwise(tmp_path / "with.jsonl"), load_pairwise(tmp_path / "without.jsonl")
    np.testing.assert_array_equal(with_invalid.wins, without.wins)
    assert with_invalid.n_invalid == sum(row["invalid"] for row in rows) and without.n_invalid == 0
    assert with_invalid.n_judgements == sum(r["wins_i"] + r["wins_j"] + r["ties"] for r in rows)


def test_percentile_interval_worked_example() -> None:
    """Samples 1..100 at 90%: the 5% and 95% quantiles, 5.95 and 95.05 (linear interpolation)."""
    low, high = percentile_interval(np.arange(1.0, 101.0)[:, None], 0.9)
    assert low[0] == pytest.approx(5.95) and high[0] == pytest.approx(95.05)


def test_competition_ranks_worked_example() -> None:
    np.testing.assert_array_equal(competition_ranks(np.array([3.0, 5.0, 5.0, 1.0])), [3, 1, 1, 4])


def test_interval_contains_point_estimate_and_anchor_is_fixed(pairwise_file) -> None:
    comparisons = load_pairwise(pairwise_file)
    result = score_method(
        comparisons, "bradley_terry", RankOptions(anchor=0), bootstrap_resamples(comparisons, 300, 0), 0.95
    )
    assert (result.ci_low <= result.scores + 1e-9).all() and (result.scores <= result.ci_high + 1e-9).all()
    assert result.ci_low[0] == result.ci_high[0] == 1000.0


def test_listwise_tallies_and_model_order(tmp_path) -> None:
    rows = listwise_rows(np.array([0.0, 1.0, 2.0]), 5, 2, np.random.default_rng(3), invalid=1)
    write_jsonl(tmp_path / "listwise.jsonl", rows)
    comparisons = load_listwise(tmp_path / "listwise.jsonl")
    assert comparisons.models == ["model_0", "model_1", "model_2"]  # order of the rows' `models`
    assert comparisons.n_judgements == 10 and comparisons.n_invalid == 5
    assert comparisons.pattern_counts.sum() == 10
    # every full ranking of 3 contributes 3 pairwise precedences
    assert comparisons.wins.sum() == 30


def test_preferences_resample_pair_rows_with_a_note(tmp_path) -> None:
    write_jsonl(
        tmp_path / "preferences.jsonl",
        [
            {"model_i": "a", "model_j": "b", "wins_i": 5, "wins_j": 3, "ties": 2, "invalid": 1},
            {"model_i": "b", "model_j": "c", "wins_i": 4, "wins_j": 4, "ties": 0, "invalid": 0},
        ],
    )
    comparisons = load_preferences(tmp_path / "preferences.jsonl")
    assert comparisons.units == ["line 1", "line 2"] and comparisons.unit_name == "model-pair row"
    assert comparisons.n_judgements == 18 and comparisons.n_invalid == 1
    assert any("resamples model-pair rows" in note for note in comparisons.notes)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"question_id": "q", "model_i": "a", "model_j": "a", "wins_i": 1, "wins_j": 0, "ties": 0}, "itself"),
        (
            {"question_id": "q", "model_i": "a", "model_j": "b", "wins_i": -1, "wins_j": 0, "ties": 0},
            "wins_i",
        ),
        ({"question_id": "q", "model_i": "a", "model_j": "b", "wins_i": 1, "ties": 0}, "wins_j"),
    ],
)
def test_bad_pairwise_rows_name_file_and_line(tmp_path, row, message) -> None:
    good = {"question_id": "q", "model_i": "a", "model_j": "b", "wins_i": 1, "wins_j": 0, "ties": 0}
    write_jsonl(tmp_path / "pairwise.jsonl", [good, row])
    with pytest.raises(DataError, match=rf"pairwise.jsonl:2: .*{message}"):
        load_pairwise(tmp_path / "pairwise.jsonl")


def test_a_bad_row_after_blank_lines_is_named_by_its_line_in_the_file(tmp_path) -> None:
    good = {"question_id": "q", "model_i": "a", "model_j": "b", "wins_i": 1, "wins_j": 0, "ties": 0}
    bad = {**good, "wins_i": -1}
    (tmp_path / "pairwise.jsonl").write_text(f"{json.dumps(good)}\n\n\n{json.dumps(bad)}\n")
    with pytest.raises(DataError, match=r"pairwise.jsonl:4: .*wins_i"):
        load_pairwise(tmp_path / "pairwise.jsonl")


def test_bad_ranking_names_file_and_line(tmp_path) -> None:
    row = {"question_id": "q", "models": ["a", "b"], "rankings": [["a", "b"], ["a", "z"]]}
    write_jsonl(tmp_path / "listwise.jsonl", [row])
    with pytest.raises(DataError, match=r"listwise.jsonl:1: .*unknown: \['z'\]"):
        load_listwise(tmp_path / "listwise.jsonl")


def test_style_control_needs_responses(tmp_path) -> None:
    row = {"question_id": "q", "model_i": "a", "model_j": "b", "wins_i": 1, "wins_j": 0, "ties": 0}
    write_jsonl(tmp_path / "pairwise.jsonl", [row])
    with pytest.raises(DataError, match=r"pairwise.jsonl:1: .*responses"):
        load_pairwise(tmp_path / "pairwise.jsonl", with_style=True)


def test_style_difference_worked_example() -> None:
    """200 vs 100 words → (200 − 100)/(200 + 100 + 1) ≈ 0.332."""
    assert style_difference(200, 100) == pytest.approx(100 / 301)
