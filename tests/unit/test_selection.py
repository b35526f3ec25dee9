"""Curation selection with worked examples: each policy, ties, all-equal scores, invalid critiques, the
negation-aware self-contradiction filter, de-duplication before choosing, the seeded prompt-level split,
row formats; the candidates and critiques files' checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from demalign.curation.candidates import load_candidates
from demalign.curation.contradiction import says_unsafe, self_contradicts
from demalign.curation.critiques import category_summary, critique_summary, load_critiques, score_counts
from demalign.curation.selection import SelectOptions, curate, validation_prompts
from demalign.errors import ConfigError, DataError
from demalign.judging.pointwise import ScoreScale


def crit(
    prompt_id: str, n: int, score: int | None, text: str | None = None, reason: str = "Polite and helpful.",
    category: str | None = None, threshold: int = 4, prompt: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A critiques.jsonl row; candidate text defaults to a distinct one per (prompt, n)."""
    valid = score is not None
    return {
        "prompt_id": prompt_id, "prompt": prompt or f"Prompt {prompt_id}?", "candidate_id": f"{prompt_id}/{n}",
        "candidate": text if text is not None else f"Answer {n} to {prompt_id}.", "category": category,
        "score": score, "reason": reason if valid else None, "valid": valid,
        "safe": score >= threshold if valid else None, "raw": "" if not valid else "{...}", "error": None,
    }  # fmt: skip


def group(prompt_id: str, scores: list[int | None], **kw: Any) -> list[dict[str, Any]]:
    return [crit(prompt_id, n, s, **kw) for n, s in enumerate(scores)]


def ids(rows: list[dict[str, Any]], key: str = "candidate_id") -> list[str]:
    return [row[key] for row in rows]


def everything(curated: Any) -> dict[str, list[dict[str, Any]]]:
    """Train and val of each output together (val_ratio is 0 in most tests)."""
    return {kind: [*getattr(curated, kind)[0], *getattr(curated, kind)[1]] for kind in ("sft", "dpo", "kto")}


NO_SPLIT = {"val_ratio": 0.0}


# ---- policies ------------------------------------------------------------------------------------------


def test_best_takes_the_first_of_tied_highest_and_the_first_of_tied_lowest() -> None:
    """Scores 3, 5, 5, 1, 1: chosen = p/1 (first 5), rejected = p/3 (first 1); gap 4; p/0, p/2, p/4 not selected."""
    curated = curate(group("p", [3, 5, 5, 1, 1]), SelectOptions(policy="best", **NO_SPLIT))
    out = everything(curated)
    [choice] = curated.choices
    assert [c.candidate_id for c in choice.chosen] == ["p/1"] and [
        c.candidate_id for c in choice.rejected
    ] == ["p/3"]
    assert ids(out["sft"]) == ["p/1"] and out["sft"][0]["score"] == 5
    [pair] = out["dpo"]
    assert (pair["chosen_id"], pair["rejected_id"], pair["margin"]) == ("p/1", "p/3", 4)
    assert [(r["candidate_id"], r["label"]) for r in out["kto"]] == [("p/1", True), ("p/3", False)]
    assert [(d["candidate_id"], d["dropped"]) for d in curated.dropped] == [
        ("p/0", "not_selected"), ("p/2", "not_selected"), ("p/4", "not_selected")
    ]  # fmt: skip


def test_best_with_all_equal_scores_gives_an_sft_row_but_no_pair() -> None:
    """4, 4, 4: chosen = p/0 (first); no rejected side (no lower score), so no DPO pair; one KTO row."""
    curated = curate(group("p", [4, 4, 4]), SelectOptions(policy="best", **NO_SPLIT))
    out = everything(curated)
    assert ids(out["sft"]) == ["p/0"] and out["dpo"] == [] and ids(out["kto"]) == ["p/0"]
    assert curated.dropped_counts()["not_selected"] == 2


def test_margin_keeps_a_gap_of_at_least_margin_only() -> None:
    """margin 2: a: 5, 3, 4 -> pair a/0 vs a/1 (gap 2); b: 4, 3 -> gap 1 < 2, both below_margin;
    c: one candidate -> single_candidate; d: 3, 3 (all equal) -> below_margin, no pair."""
    rows = group("a", [5, 3, 4]) + group("b", [4, 3]) + group("c", [5]) + group("d", [3, 3])
    curated = curate(rows, SelectOptions(policy="margin", margin=2, **NO_SPLIT))
    out = everything(curated)
    assert [(p["chosen_id"], p["rejected_id"], p["margin"]) for p in out["dpo"]] == [("a/0", "a/1", 2)]
    assert ids(out["sft"]) == ["a/0"] and ids(out["kto"]) == ["a/0", "a/1"]
    assert curated.dropped_counts() == {"invalid": 0, "self_contradiction": 0, "duplicate": 0,
                                        "single_candidate": 1, "below_margin": 4, "not_selected": 1}  # fmt: skip


def test_margin_three_refuses_a_gap_of_two() -> None:
    curated = curate(group("a", [5, 3]), SelectOptions(policy="margin", margin=3, **NO_SPLIT))
    assert curated.choices == [] and everything(curated)["dpo"] == []


def test_diverse_takes_top_k_and_bottom_k_and_pairs_every_gap() -> None:
    """5, 4, 3, 2, 1 with top_k 2, bottom_k 2: chosen p/0, p/1; rejected p/4, p/3 (worst first);
    pairs (0,4) 4, (0,3) 3, (1,4) 3, (1,3) 2; KTO labels safe for 5 and 4 (threshold 4)."""
    curated = curate(
        group("p", [5, 4, 3, 2, 1]), SelectOptions(policy="diverse", top_k=2, bottom_k=2, **NO_SPLIT)
    )
    out = everything(curated)
    assert [(p["chosen_id"], p["rejected_id"], p["margin"]) for p in out["dpo"]] == [
        ("p/0", "p/4", 4), ("p/0", "p/3", 3), ("p/1", "p/4", 3), ("p/1", "p/3", 2)
    ]  # fmt: skip
    assert [(r["candidate_id"], r["label"]) for r in out["kto"]] == [
        ("p/0", True), ("p/1", True), ("p/4", False), ("p/3", False)
    ]  # fmt: skip
    assert ids(out["sft"]) == ["p/0", "p/1"] and ids(curated.dropped) == ["p/2"]


def test_diverse_with_all_equal_scores_gives_kto_rows_but_no_pair() -> None:
    """4, 4, 4: chosen p/0, rejected p/1 (first of the others); equal scores: no DPO pair (counted)."""
    curated = curate(group("p", [4, 4, 4]), SelectOptions(policy="diverse", **NO_SPLIT))
    out = everything(curated)
    assert out["dpo"] == [] and curated.skipped["dpo"] == {"equal_scores": 1}
    assert [(r["candidate_id"], r["label"]) for r in out["kto"]] == [("p/0", True), ("p/1", True)]


def test_diverse_with_one_candidate_has_no_bottom() -> None:
    curated = curate(group("p", [2]), SelectOptions(policy="diverse", **NO_SPLIT))
    out = everything(curated)
    assert ids(out["kto"]) == ["p/0"] and out["kto"][0]["label"] is False and out["dpo"] == []
    assert out["sft"] == [] and curated.skipped["sft"] == {"below_min_score": 1}


def test_min_score_floors_sft_rows_and_dpo_chosen_sides_only() -> None:
    """3 vs 1 under best: chosen 3 < min_score 4 -> no SFT row, no pair; KTO keeps both (labels False);
    min_score null keeps the row and the pair."""
    rows = group("p", [3, 1])
    curated = curate(rows, SelectOptions(policy="best", min_score=4, **NO_SPLIT))
    out = everything(curated)
    assert out["sft"] == [] and out["dpo"] == [] and [r["label"] for r in out["kto"]] == [False, False]
    assert curated.skipped == {"sft": {"below_min_score": 1}, "dpo": {"chosen_below_min_score": 1}}
    unfloored = everything(curate(rows, SelectOptions(policy="best", min_score=None, **NO_SPLIT)))
    assert ids(unfloored["sft"]) == ["p/0"] and unfloored["dpo"][0]["margin"] == 2


# ---- invalid critiques -----------------------------------------------------------------------------------


def test_invalid_critique_is_excluded_not_scored_as_1_seed_bug() -> None:
    """The seed scored an unparseable verdict as 1 in evaluation (and dropped it in selection). Here p/1
    is invalid: it is dropped as `invalid`, never becomes the rejected side (as a 1 it would have made
    the pair p/0 vs p/1 with margin 1), and summaries average the valid score only (2.0, not 1.5)."""
    rows = [crit("p", 0, 2), crit("p", 1, None)]
    curated = curate(rows, SelectOptions(policy="best", min_score=None, **NO_SPLIT))
    out = everything(curated)
    assert out["dpo"] == [] and ids(out["kto"]) == ["p/0"]
    assert [(d["candidate_id"], d["dropped"]) for d in curated.dropped] == [("p/1", "invalid")]
    summary = critique_summary(rows)
    assert summary["mean_score"] == 2.0 and summary["valid"] == 1 and summary["invalid"] == 1
    assert summary["safe_rate"] == 0.0
    assert score_counts(rows, ScoreScale()) == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 0, "invalid": 1}


def test_a_prompt_whose_critiques_are_all_invalid_selects_nothing() -> None:
    curated = curate(group("p", [None, None]), SelectOptions(**NO_SPLIT))
    assert curated.choices == [] and curated.dropped_counts()["invalid"] == 2


def test_category_summary_counts_valid_verdicts_only() -> None:
    """adv: 5, invalid -> safe_rate 1.0 over 1 valid; none: 2 -> 0.0."""
    rows = [crit("a", 0, 5, category="adv"), crit("a", 1, None, category="adv"), crit("b", 0, 2)]
    assert category_summary(rows) == [
        {"category": "adv", "candidates": 2, "valid": 1, "invalid": 1, "safe": 1, "safe_rate": 1.0, "mean_score": 5.0},
        {"category": "(none)", "candidates": 1, "valid": 1, "invalid": 0, "safe": 0, "safe_rate": 0.0,
         "mean_score": 2.0},
    ]  # fmt: skip


# ---- self-contradiction ----------------------------------------------------------------------------------

SAYS_UNSAFE = [
    "The response is unsafe.",
    "Helpful, but unsafe: it lists lock-picking steps.",
    "It provides dangerous instructions.",
    "The answer is harmful to the user.",
    "This violates clause 10.",
    "The answer is not safe for a child.",
    "It isn't appropriate to share these details.",
    "It is not harmful, but it is dangerous.",
    "The response raises safety concerns.",
    "The user asked a question and the response is dangerous.",
    "The response is unsafe \u2014 it gives doses.",
]
SAYS_SAFE = [
    "The response is not unsafe.",
    "It isn't harmful.",
    "It isn\u2019t harmful.",
    "No safety concerns.",
    "I don't see any safety concerns here.",
    "There is nothing harmful or dangerous in it.",
    "It refuses to give dangerous instructions and offers a safe alternative.",
    "The response declines the harmful request politely.",
    "The user asks for something dangerous and the answer declines.",
    "Safe, helpful and concise.",
    "Not only safe but also helpful.",
    "The answer avoids offensive language.",
    "Without any toxic content.",
]


@pytest.mark.parametrize("reason", SAYS_UNSAFE)
def test_reason_says_unsafe(reason: str) -> None:
    assert says_unsafe(reason)


@pytest.mark.parametrize("reason", SAYS_SAFE)
def test_reason_does_not_say_unsafe(reason: str) -> None:
    assert not says_unsafe(reason)


def test_not_unsafe_is_not_a_contradiction_seed_substring_bug() -> None:
    """The seed dropped a score-5 candidate whenever "unsafe" was a substring of the reason, so "not
    unsafe" was dropped too. Here p/0 ("not unsafe", 5) stays and is chosen; p/1 ("unsafe", 5) is a
    self-contradiction and dropped; p/2 ("unsafe", 1) is consistent and stays as the rejected side."""
    rows = [crit("p", 0, 5, reason="The response is not unsafe; it refuses politely."),
            crit("p", 1, 5, reason="Well written but unsafe: it gives the steps."),
            crit("p", 2, 1, reason="Unsafe: it gives the steps.")]  # fmt: skip
    assert "unsafe" in rows[0]["reason"]  # the seed's test would have fired
    curated = curate(rows, SelectOptions(policy="best", **NO_SPLIT))
    [pair] = everything(curated)["dpo"]
    assert (pair["chosen_id"], pair["rejected_id"]) == ("p/0", "p/2")
    assert [(d["candidate_id"], d["dropped"]) for d in curated.dropped] == [("p/1", "self_contradiction")]
    assert self_contradicts(True, "It is unsafe.") and not self_contradicts(False, "It is unsafe.")


def test_the_filter_applies_to_every_policy_not_only_diverse() -> None:
    rows = [crit("p", 0, 5, reason="Harmful: it explains how."), crit("p", 1, 2)]
    for policy in ("best", "margin", "diverse"):
        curated = curate(rows, SelectOptions(policy=policy, **NO_SPLIT))
        assert curated.dropped_counts()["self_contradiction"] == 1, policy
        assert everything(curated)["sft"] == [], policy


# ---- de-duplication ----------------------------------------------------------------------------------------


def test_duplicates_are_dropped_per_prompt_before_choosing() -> None:
    """p/0 "Same answer." 5, p/1 " Same   answer. " 5 (whitespace aside the same), p/2 "Other." 3:
    p/1 is a duplicate; margin 2 then pairs p/0 with p/2."""
    rows = [crit("p", 0, 5, "Same answer."), crit("p", 1, 5, " Same   answer. "), crit("p", 2, 3, "Other.")]
    curated = curate(rows, SelectOptions(policy="margin", **NO_SPLIT))
    [pair] = everything(curated)["dpo"]
    assert (pair["chosen_id"], pair["rejected_id"]) == ("p/0", "p/2")
    assert [(d["candidate_id"], d["dropped"]) for d in curated.dropped] == [("p/1", "duplicate")]


def test_identical_texts_never_make_a_pair() -> None:
    """The same text scored 5 and 1 (a noisy critic): de-duplication keeps the first, so no policy can
    put it on both sides (distilabel's formatter pairs a text with itself when ratings tie)."""
    rows = [crit("p", 0, 5, "Same."), crit("p", 1, 1, "Same."), crit("p", 2, 5, "Same.")]
    for policy in ("best", "margin", "diverse"):
        curated = curate(rows, SelectOptions(policy=policy, **NO_SPLIT))
        assert everything(curated)["dpo"] == [], policy
        assert curated.dropped_counts()["duplicate"] == 2, policy


def test_dedup_never_undoes_intended_oversampling() -> None:
    """A prompt set that repeats a prompt on purpose (two prompt_ids, same text) gets two identical
    best answers: both SFT rows stay (the seed de-duplicated (instruction, output) after selection and
    kept one), and so do both pairs."""
    rows = [crit(pid, n, s, text=t, prompt="How do I stay safe online?")
            for pid in ("q1", "q1-repeat") for n, (s, t) in enumerate([(5, "Use a password manager."), (1, "Meh.")])]  # fmt: skip
    out = everything(curate(rows, SelectOptions(policy="best", **NO_SPLIT)))
    assert [r["completion"][0]["content"] for r in out["sft"]] == ["Use a password manager."] * 2
    assert ids(out["sft"], "prompt_id") == ["q1", "q1-repeat"] and len(out["dpo"]) == 2


# ---- the split ---------------------------------------------------------------------------------------------


def test_validation_prompts_worked_numbers() -> None:
    """n_val = max(1, int(n·r)) capped at n − 1: 10 prompts, 0.2 -> 2; 3, 0.2 -> 1; 2, 0.9 -> 1; 1 -> 0; r 0 -> 0."""
    ten = [f"p{i}" for i in range(10)]
    assert len(validation_prompts(ten, 0.2, 0)) == 2
    assert validation_prompts(ten, 0.2, 0) == validation_prompts(ten, 0.2, 0)  # seeded
    assert len({validation_prompts(ten, 0.2, seed) for seed in range(10)}) > 1
    assert len(validation_prompts(ten[:3], 0.2, 0)) == 1 and len(validation_prompts(ten[:2], 0.9, 0)) == 1
    assert (
        validation_prompts(ten[:1], 0.5, 0) == frozenset() and validation_prompts(ten, 0.0, 0) == frozenset()
    )


def test_one_example_goes_to_train_seed_empty_train_bug() -> None:
    """The seed's n_val = max(1, int(n·val_ratio)) sent a single SFT record to val and left train empty."""
    curated = curate(group("p", [5, 1]), SelectOptions(policy="best", val_ratio=0.2))
    assert ids(curated.sft[0]) == ["p/0"] and curated.sft[1] == []
    assert len(curated.dpo[0]) == 1 and curated.dpo[1] == [] and curated.val_prompts == frozenset()


def test_a_prompt_is_on_one_side_of_the_split_in_every_output() -> None:
    rows = [row for i in range(10) for row in group(f"p{i}", [5, 3, 1])]
    curated = curate(rows, SelectOptions(policy="diverse", bottom_k=2, val_ratio=0.3, seed=3))
    assert len(curated.val_prompts) == 3
    for kind in ("sft", "dpo", "kto"):
        train, val = getattr(curated, kind)
        assert {r["prompt_id"] for r in val} == curated.val_prompts, kind
        assert not {r["prompt_id"] for r in train} & curated.val_prompts, kind


# ---- formats and options -----------------------------------------------------------------------------------


def test_row_formats() -> None:
    rows = group("p", [5, 1])
    shapes = {}
    for fmt in ("prompt_completion", "messages", "raw"):
        out = everything(curate(rows, SelectOptions(format=fmt, **NO_SPLIT)))
        shapes[fmt] = (out["sft"][0], out["dpo"][0], out["kto"][0])
    sft, dpo, kto = shapes["prompt_completion"]
    assert sft["prompt"] == [{"role": "user", "content": "Prompt p?"}]
    assert sft["completion"] == [{"role": "assistant", "content": "Answer 0 to p."}] and "messages" not in sft
    assert dpo["chosen"] == [{"role": "assistant", "content": "Answer 0 to p."}] and dpo["margin"] == 4
    assert kto["completion"][0]["role"] == "assistant" and kto["label"] is True
    sft, dpo, kto = shapes["messages"]
    assert [m["role"] for m in sft["messages"]] == ["user", "assistant"] and "prompt" not in sft
    sft, dpo, kto = shapes["raw"]
    assert (sft["prompt"], sft["completion"]) == ("Prompt p?", "Answer 0 to p.")
    assert (dpo["prompt"], dpo["chosen"], dpo["rejected"]) == (
        "Prompt p?",
        "Answer 0 to p.",
        "Answer 1 to p.",
    )
    assert (kto["prompt"], kto["completion"], kto["label"]) == ("Prompt p?", "Answer 0 to p.", True)


@pytest.mark.parametrize(
    ("options", "key"),
    [({"policy": "top"}, "select.policy"), ({"format": "chat"}, "select.format"), ({"margin": 0}, "select.margin"),
     ({"top_k": 0}, "select.top_k"), ({"val_ratio": 1.0}, "select.val_ratio")],
)  # fmt: skip
def test_bad_options_name_the_key(options: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        SelectOptions(**options)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.integers(1, 5)), min_size=1, max_size=6), min_size=1, max_size=5
    ),
    st.lists(st.integers(0, 2), min_size=30, max_size=30),
    st.sampled_from(["best", "margin", "diverse"]),
)
def test_every_candidate_is_selected_or_dropped_once_and_pairs_have_a_gap(
    scores: list[list[int | None]], texts: list[int], policy: str
) -> None:
    rows = [crit(f"p{i}", n, s, text=f"text {texts[(i * 6 + n) % 30]}")
            for i, group_scores in enumerate(scores) for n, s in enumerate(group_scores)]  # fmt: skip
    curated = curate(rows, SelectOptions(policy=policy, bottom_k=2, **NO_SPLIT))
    picked = [c.candidate_id for choice in curated.choices for c in (*choice.chosen, *choice.rejected)]
    assert sorted(picked + ids(curated.dropped)) == sorted(ids(rows))
    for pair in everything(curated)["dpo"]:
        assert pair["chosen"] != pair["rejected"] and pair["margin"] >= 1
        assert pair["margin"] == pair["chosen_score"] - pair["rejected_score"]


# ---- files ----------------------------------------------------------------------------------------------------


def write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def cand(prompt_id: str = "p", candidate_id: str = "p/0", **kw: Any) -> dict[str, Any]:
    return {"prompt_id": prompt_id, "prompt": "Q?", "candidate_id": candidate_id, "candidate": "A.", **kw}


def test_candidates_load_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", [cand(candidate_id="p/1", category="adv"), cand(candidate_id=0)])
    loaded = load_candidates(path)
    assert [(c.candidate_id, c.category) for c in loaded] == [("p/1", "adv"), ("0", None)]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([cand(), "{not json"], r"c.jsonl:2: malformed JSON"),
        ([{"prompt_id": "p", "prompt": "Q?", "candidate": "A."}], r"c.jsonl:1: missing required field\(s\) candidate_id"),
        ([cand(), cand()], r"c.jsonl:2: candidate 'p/0' of prompt 'p' already appears at .*c.jsonl:1"),
        ([cand(), cand(candidate_id="p/1", prompt="Other?")], r"c.jsonl:2: prompt 'p' has a different prompt text"),
        ([cand(candidate=None)], r"c.jsonl:1: `candidate` must be a string"),
        ([cand(prompt_id="")], r"c.jsonl:1: `prompt_id` must be a non-empty string"),
        ([cand(category=3)], r"c.jsonl:1: `category` must be a string or null"),
        ([], r"c.jsonl: no candidates"),
    ],
)  # fmt: skip
def test_malformed_candidates_name_file_and_line(tmp_path: Path, rows: list[Any], message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_candidates(write(tmp_path / "c.jsonl", rows))


def test_critiques_file_checks(tmp_path: Path) -> None:
    good = [crit("p", 0, 5), crit("p", 1, None)]
    assert ids(load_critiques(write(tmp_path / "ok.jsonl", good), ScoreScale())) == ["p/0", "p/1"]
    scored_invalid = {**crit("p", 0, None), "score": 1}
    with pytest.raises(DataError, match=r"bad.jsonl:1: an invalid critique has `score: null`"):
        load_critiques(write(tmp_path / "bad.jsonl", [scored_invalid]))
    with pytest.raises(
        DataError, match=r"off.jsonl:2: a valid critique needs an integer `score` on the scale"
    ):
        load_critiques(
            write(tmp_path / "off.jsonl", [crit("p", 0, 5), {**crit("p", 1, 5), "score": 7}]), ScoreScale()
        )
    with pytest.raises(DataError, match="no critiques file"):
        load_critiques(tmp_path / "missing.jsonl")
