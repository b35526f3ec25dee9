"""The synthetic PRISM-shaped generator and the bundled sample."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from demalign.prism import synthetic
from demalign.prism.loading import load_prism, sample_root

# The bundled sample is exactly this generator call (regenerate with the module's CLI).
SAMPLE_ARGS = {"n_users": 200, "seed": 0, "conversations_per_user": 1.5}


def test_bundled_sample_is_reproducible_from_the_generator(tmp_path: Path) -> None:
    synthetic.write(synthetic.generate(**SAMPLE_ARGS), tmp_path)
    for name in ("survey.jsonl", "utterances.jsonl", "conversations.jsonl"):
        assert (tmp_path / name).read_bytes() == (sample_root() / name).read_bytes(), name


def test_schema_and_protocol(small_prism: Path) -> None:
    data = load_prism(small_prism)
    utt = data.utterances
    assert set(utt["model_name"]) <= set(synthetic.model_names())
    assert len(synthetic.model_names()) == 21
    per_turn = utt.groupby("interaction_id").agg(
        turn=("turn", "first"), n=("score", "size"), chosen=("if_chosen", "sum")
    )
    assert set(per_turn.loc[per_turn["turn"] == 0, "n"]) == {4}
    assert set(per_turn.loc[per_turn["turn"] > 0, "n"]) == {
        1,
        2,
    }  # later turns: 2, sometimes a single response
    assert (per_turn["chosen"] == 1).all()
    assert utt["score"].between(1, 100).all()
    top = utt.groupby("interaction_id")["score"].transform("max")
    assert (utt.loc[utt["if_chosen"], "score"] == top[utt["if_chosen"]]).all()


def test_quirks_of_real_data_are_present(small_prism: Path) -> None:
    data = load_prism(small_prism)
    utt = data.utterances
    top_ties = utt.groupby("interaction_id")["score"].apply(lambda s: (s == s.max()).sum() > 1)
    assert top_ties.any(), "some turns must have tied top scores"
    assert data.survey["survey_only"].any(), "some users only answered the survey"
    assert set(data.survey.index) - set(utt["user_id"]), "survey-only users have no utterances"
    answers = pd.concat(
        [data.survey[c] for c in ("age", "gender", "ethnicity.categorised", "religion.categorised")]
    )
    assert (answers == "Prefer not to say").any()


def test_marginals_follow_prism(tmp_path: Path) -> None:
    """1,500 users: each category share within 4 points of PRISM's published share."""
    survey = pd.DataFrame(pd.json_normalize(synthetic.generate_survey(1500, seed=3)))
    reference = synthetic.reference_marginals()
    for column in ("gender", "age", "education", "location.special_region"):
        counts = reference[column]
        total = sum(counts.values())
        shares = survey[column].value_counts(normalize=True)
        for category, count in counts.items():
            assert abs(shares.get(category, 0.0) - count / total) < 0.04, (column, category)


def test_correlation_age_and_employment() -> None:
    survey = pd.json_normalize(synthetic.generate_survey(3000, seed=1))
    retired = survey["employment_status"] == "Retired"
    assert (
        retired[survey["age"] == "65+ years old"].mean()
        > 5 * retired[survey["age"] != "65+ years old"].mean()
    )


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = (synthetic.generate(30, seed=s) for s in (4, 4, 5))
    assert a == b
    assert a.survey != c.survey


def test_locale_us_puts_everyone_in_the_us_study() -> None:
    assert {u["study_locale"] for u in synthetic.generate_survey(50, seed=0, locale="us")} == {"us"}


def test_cli_writes_the_three_files(tmp_path: Path) -> None:
    synthetic.main(["--users", "15", "--seed", "2", "--out", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "conversations.jsonl",
        "survey.jsonl",
        "utterances.jsonl",
    ]
    assert len(load_prism(tmp_path).survey) == 15
