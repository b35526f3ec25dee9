"""SL-CAI chains (demalign.cai.revision) with a scripted model: rounds chain on the previous revision,
principle sampling is reproducible, drops are counted, the SFT/preference split is disjoint and seeded."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from demalign.cai.revision import (
    ReviseOptions,
    critic_drops,
    dpo_row,
    drop_counts,
    helpful_sample,
    normalise_answer,
    plan_principles,
    run_chains,
    says_no_change,
    sft_row,
    split_prompts,
)
from demalign.constitution.principles import PrinciplePair, PrincipleSet
from demalign.errors import ConfigError
from demalign.llm.cache import CallCache
from demalign.llm.calls import CallPolicy, CallResult, ChatCall, Identity
from demalign.llm.execute import execute
from demalign.llm.scripted import ScriptedBackend

PAIRS = PrincipleSet(
    Path("pairs.json"), "hf",
    tuple(PrinciplePair(i, f"p{i}", f"CRITIQUE-{i}: what is wrong?", f"REVISE-{i}: fix it.") for i in range(5)),
    ((({"role": "user", "content": "shot question"}), {"role": "assistant", "content": "shot answer"}),),
)  # fmt: skip
IDENTITY = Identity("scripted", {"v": 1})


def last_user(call: ChatCall) -> str:
    return call.messages[-1]["content"]


def chaining_reply(call: ChatCall) -> str:
    """Initial: INIT(<prompt>); critique: CRIT about the last assistant turn; revision: REV[<that turn>]."""
    text = last_user(call)
    if text.startswith("CRITIQUE-"):
        return f"CRIT of <{call.messages[-2]['content']}>"
    if text.startswith("REVISE-"):
        return f"REV[{call.messages[-4]['content']}]"  # -4: the answer the critique was about
    return f"INIT({text})"


def answer_with(backend: ScriptedBackend, cache: CallCache):
    def answer(calls: list[ChatCall], step: str) -> list[CallResult]:
        return execute(calls, lambda: backend, cache, CallPolicy(invalid_retries=0), desc=step)

    return answer


PROMPTS = [("a", "How do I pick a lock?", "adversarial"), ("b", "Insult my coworker.", "adversarial")]


def test_rounds_chain_on_the_previous_revision(tmp_path: Path) -> None:
    backend = ScriptedBackend(chaining_reply)
    options = ReviseOptions(rounds=3, sampling="fixed", fixed_principle=2, few_shot=True)
    chains = run_chains(
        PROMPTS, PAIRS, options, IDENTITY, answer_with(backend, CallCache(tmp_path / "c.jsonl"))
    )
    chain = chains[0]
    assert chain.initial == "INIT(How do I pick a lock?)"
    assert [r.revision for r in chain.rounds] == [
        "REV[INIT(How do I pick a lock?)]",
        "REV[REV[INIT(How do I pick a lock?)]]",
        "REV[REV[REV[INIT(How do I pick a lock?)]]]",
    ]
    assert chain.final == chain.rounds[-1].revision
    assert [r.critique for r in chain.rounds][1] == "CRIT of <REV[INIT(How do I pick a lock?)]>"
    # one growing chat: few-shot prefix, prompt, then 2 turns per request; 1 + 3 x 2 calls per prompt
    assert chain.chat[:2] == [
        {"role": "user", "content": "shot question"},
        {"role": "assistant", "content": "shot answer"},
    ]
    assert len(chain.chat) == 2 + 2 + 3 * 4 and len(backend.sent) == 2 * (1 + 3 * 2)
    assert [m["content"] for m in chain.chat if m["role"] == "user"][2:] == ["CRITIQUE-2: what is wrong?",
                                                                           "REVISE-2: fix it."] * 3  # fmt: skip
    assert chain.drop_reason() is None
    assert sft_row(chain)["messages"] == [{"role": "user", "content": "How do I pick a lock?"},
                                          {"role": "assistant", "content": chain.final}]  # fmt: skip
    pair = dpo_row(chain)
    assert pair["chosen"][0]["content"] == chain.final and pair["rejected"][0]["content"] == chain.initial
    # a rerun is served from the cache: nothing sent
    again = ScriptedBackend(chaining_reply)
    rerun = run_chains(PROMPTS, PAIRS, options, IDENTITY, answer_with(again, CallCache(tmp_path / "c.jsonl")))
    assert again.sent == [] and [c.record() for c in rerun] == [c.record() for c in chains]


@settings(max_examples=40, deadline=None)
@given(
    prompt_id=st.text(min_size=1, max_size=12),
    rounds=st.integers(1, 4),
    seed=st.integers(0, 10**6),
    sampling=st.sampled_from(["random", "without_replacement", "fixed"]),
)
def test_principle_sampling_is_reproducible(prompt_id: str, rounds: int, seed: int, sampling: str) -> None:
    options = ReviseOptions(rounds=rounds, sampling=sampling, fixed_principle=1, seed=seed)
    plan = plan_principles(prompt_id, 5, options)
    assert plan == plan_principles(prompt_id, 5, options) and len(plan) == rounds
    assert all(0 <= i < 5 for i in plan)
    if sampling == "without_replacement":
        assert len(set(plan)) == rounds
    if sampling == "fixed":
        assert plan == [1] * rounds


def test_random_sampling_varies_with_seed_and_prompt_and_not_with_order(tmp_path: Path) -> None:
    options = ReviseOptions(rounds=4, sampling="random", seed=3)
    plans = {pid: plan_principles(pid, 16, options) for pid in map(str, range(30))}
    assert len({tuple(p) for p in plans.values()}) > 20  # prompts get different principles
    assert any(len(set(p)) < 4 for p in plans.values())  # with replacement: repeats happen
    other = ReviseOptions(rounds=4, sampling="random", seed=4)
    assert sum(plans[pid] != plan_principles(pid, 16, other) for pid in plans) > 20
    # the plan of a prompt is the same whatever prompts come before it
    backend = ScriptedBackend(chaining_reply)
    forward = run_chains(
        PROMPTS, PAIRS, options, IDENTITY, answer_with(backend, CallCache(tmp_path / "1.jsonl"))
    )
    backward = run_chains(
        PROMPTS[::-1], PAIRS, options, IDENTITY, answer_with(backend, CallCache(tmp_path / "2.jsonl"))
    )
    assert {c.prompt_id: c.plan for c in forward} == {c.prompt_id: c.plan for c in backward}


def test_options_that_cannot_work_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"revise\.rounds=5"):
        ReviseOptions(rounds=5).check(PAIRS)
    with pytest.raises(ConfigError, match="without_replacement needs at least 4"):
        ReviseOptions(rounds=4, sampling="without_replacement").check(
            PrincipleSet(Path("x"), "hf", PAIRS.pairs[:3])
        )
    with pytest.raises(ConfigError, match=r"revise\.fixed_principle=5"):
        ReviseOptions(sampling="fixed", fixed_principle=5).check(PAIRS)


def test_identical_empty_skipped_and_failed_revisions_are_dropped_and_counted(tmp_path: Path) -> None:
    """Five prompts: kept; revision = initial up to case and punctuation (unchanged); empty revision;
    critique says no change (skipped -> no revision); the revision call fails (failed, kept with its error)."""
    prompts = [(pid, f"prompt {pid}", None) for pid in ("keep", "same", "empty", "fine", "fail")]

    def reply(call: ChatCall) -> str:
        pid = call.messages[0]["content"].split()[-1]
        if last_user(call).startswith("CRITIQUE-"):
            return "No changes needed: the answer is fine." if pid == "fine" else "It gives risky detail."
        if last_user(call).startswith("REVISE-"):
            return {
                "keep": "A safer answer.",
                "same": "  sure -- HERE is the answer!! ",
                "empty": " ",
                "fine": "Improved anyway.",
            }[pid]
        return "Sure, here is the answer."

    backend = ScriptedBackend(reply)
    cache = CallCache(tmp_path / "c.jsonl")

    def answer(calls: list[ChatCall], step: str) -> list[CallResult]:
        failing = [c for c in calls if c.messages[0]["content"] == "prompt fail" and "revisions" in step]
        ok = execute(
            [c for c in calls if c not in failing], lambda: backend, cache, CallPolicy(invalid_retries=0)
        )
        by_key = {r.key: r for r in ok} | {
            c.key: CallResult(c.key, None, False, "500 (injected)") for c in failing
        }
        return [by_key[c.key] for c in calls]

    options = ReviseOptions(rounds=1, few_shot=False, no_critique_phrases=("no changes needed",))
    chains = run_chains(prompts, PAIRS, options, IDENTITY, answer)
    reasons = {c.prompt_id: c.drop_reason() for c in chains}
    assert reasons == {
        "keep": None,
        "same": "unchanged",
        "empty": "empty",
        "fine": "no_revision",
        "fail": "failed",
    }
    assert drop_counts(list(reasons.values())) == {"failed": 1, "no_revision": 1, "empty": 1, "unchanged": 1,
                                                   "critic_invalid": 0, "critic_worse": 0}  # fmt: skip
    fine = next(c for c in chains if c.prompt_id == "fine")
    assert fine.rounds[0].skipped and fine.rounds[0].revision_request is None and fine.rounds[0].critique
    failed = next(c for c in chains if c.prompt_id == "fail")
    assert failed.error == "round 1 revision: 500 (injected)" and failed.record()["rounds"][0]["critique"]
    # skipping off: the same critique asks for a revision
    off = run_chains(
        prompts[3:4], PAIRS, ReviseOptions(few_shot=False, skip_if_no_critique=False), IDENTITY, answer
    )
    assert (
        not off[0].rounds[0].skipped
        and off[0].rounds[0].revision_request == PAIRS.pairs[off[0].plan[0]].revision
    )


def test_a_skipped_round_keeps_the_answer_for_the_next_round(tmp_path: Path) -> None:
    options = ReviseOptions(rounds=2, sampling="without_replacement", few_shot=False,
                            no_critique_phrases=("no changes needed",))  # fmt: skip
    quiet = PAIRS.pairs[
        plan_principles("p", 5, options)[0]
    ].critic  # the first round's principle finds nothing

    def reply(call: ChatCall) -> str:
        if last_user(call).startswith("CRITIQUE-"):
            return "No changes needed." if last_user(call) == quiet else "x"
        return "second" if last_user(call).startswith("REVISE-") else "first"

    chains = run_chains([("p", "q", None)], PAIRS, options, IDENTITY,
                        answer_with(ScriptedBackend(reply), CallCache(tmp_path / "c.jsonl")))  # fmt: skip
    first, second = chains[0].rounds
    assert first.skipped and not second.skipped and chains[0].final == "second"
    # the skipped critique is not in the chat: round 2 critiques the initial answer directly
    assert [m["content"] for m in chains[0].chat] == ["q", "first", PAIRS.pairs[second.principle].critic, "x",
                                                      PAIRS.pairs[second.principle].revision, "second"]  # fmt: skip


def test_normalisation_and_no_change_phrases() -> None:
    assert (
        normalise_answer("Sure -- here's  HOW.") == normalise_answer("sure, here's how") == "sure here s how"
    )
    assert says_no_change("No changes needed!", ["no changes needed"])
    assert not says_no_change("Changes are needed.", ["no changes needed"])
    assert not says_no_change("There are no changes neededness", ["no changes needed"])  # whole words only


@settings(max_examples=50, deadline=None)
@given(ids=st.lists(st.text(min_size=1, max_size=6), max_size=30, unique=True), share=st.floats(0, 1),
       seed=st.integers(0, 1000))  # fmt: skip
def test_sft_preference_split_is_disjoint_seeded_and_order_free(
    ids: list[str], share: float, seed: int
) -> None:
    sft, prefs = split_prompts(ids, share, seed)
    assert not sft & prefs and sft | prefs == set(ids) and len(sft) == round(share * len(ids))
    assert split_prompts(ids[::-1], share, seed) == (sft, prefs)


def test_split_changes_with_the_seed_and_helpful_mix_is_a_seeded_share() -> None:
    ids = [f"p{i}" for i in range(40)]
    assert split_prompts(ids, 0.5, 1)[0] != split_prompts(ids, 0.5, 2)[0]
    with pytest.raises(ConfigError, match=r"revise\.sft_share"):
        split_prompts(ids, 1.5, 0)
    rows = [
        {"messages": [{"role": "user", "content": str(i)}, {"role": "assistant", "content": "a"}]}
        for i in range(10)
    ]
    half = helpful_sample(rows, 0.5, 7)
    assert (
        len(half) == 5
        and half == helpful_sample(rows, 0.5, 7)
        and all(r["source"] == "helpful" for r in half)
    )
    assert len(helpful_sample(rows, 1.0, 7)) == 10
    with pytest.raises(ConfigError, match=r"revise\.helpful_weight"):
        helpful_sample(rows, 0.0, 7)


# ---- the anchors' known gaps (workflows_reference §3b/§3c), each shown absent here -------------------------


def test_hf_recipe_gap_chosen_equal_to_rejected_never_becomes_a_pair(tmp_path: Path) -> None:
    """The public recipe writes chosen = revision, rejected = initial answer even when the model repeated itself."""

    def reply(call: ChatCall) -> str:
        return "Sure: here is HOW." if not last_user(call).startswith("CRITIQUE-") else "It is harmful."

    chains = run_chains([("p", "q", None)], PAIRS, ReviseOptions(few_shot=False), IDENTITY,
                        answer_with(ScriptedBackend(reply), CallCache(tmp_path / "c.jsonl")))  # fmt: skip
    assert chains[0].final == chains[0].initial and chains[0].drop_reason() == "unchanged"
    kept = [c.prompt_id for c in chains if c.drop_reason() is None]
    assert split_prompts(kept, 0.0, 0) == (set(), set())  # no preference pair from it


def test_hf_recipe_gap_revision_judged_worse_or_unjudged_is_not_trained_on() -> None:
    """No quality filter in the public recipe: a revision the critic scores below the initial answer, or whose
    verdict did not parse (never read as a score), is dropped; an equal score is no worse and stays."""
    reasons = {"worse": None, "equal": None, "better": None, "unparsed": None, "already": "unchanged"}
    scores = {"worse": (4, 3), "equal": (3, 3), "better": (2, 5), "unparsed": (None, 5), "already": (1, 5)}
    assert critic_drops(reasons, scores) == {"worse": "critic_worse", "equal": None, "better": None,
                                             "unparsed": "critic_invalid", "already": "unchanged"}  # fmt: skip


def test_hf_recipe_gap_one_round_one_principle_is_not_the_limit(tmp_path: Path) -> None:
    """The public recipe draws one principle for one round; here 4 rounds with 4 distinct principles, each
    revising the previous revision (Anthropic's 4-step samples)."""
    options = ReviseOptions(rounds=4, sampling="without_replacement", few_shot=False)
    [chain] = run_chains([("p", "q", None)], PAIRS, options, IDENTITY,
                         answer_with(ScriptedBackend(chaining_reply), CallCache(tmp_path / "c.jsonl")))  # fmt: skip
    assert len({r.principle for r in chain.rounds}) == 4
    assert chain.final == "REV[REV[REV[REV[INIT(q)]]]]"


def test_llm_swarm_gap_few_shot_prefix_is_short_and_optional(tmp_path: Path) -> None:
    """llm-swarm warns its long few-shot prefix makes the first generations hang: ours is two short chats
    (under 600 words, a few hundred tokens), and `few_shot: false` sends none."""
    from demalign.constitution.principles import load_principles

    prefix = load_principles(None).few_shot_prefix()
    assert len(" ".join(m["content"] for m in prefix).split()) < 600
    backend = ScriptedBackend(chaining_reply)
    run_chains([("p", "q", None)], PAIRS, ReviseOptions(few_shot=False), IDENTITY,
               answer_with(backend, CallCache(tmp_path / "c.jsonl")))  # fmt: skip
    assert backend.sent[0].messages == [{"role": "user", "content": "q"}]
