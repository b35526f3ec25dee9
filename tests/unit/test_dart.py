"""DART library: task rows, conclusions, decision metrics, severity, scorers, judge modes, repair set,
significance. Worked numbers from the reference notes (shared/reference/workflows_reference.md §4)."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as sps
from hypothesis import given, settings
from hypothesis import strategies as st

from demalign.comparison.severity import SeverityThresholds
from demalign.dart.conclusions import analysis_only, parse_conclusion
from demalign.dart.judge import Verdict, decide, parse_verdict
from demalign.dart.metrics import decision_metrics
from demalign.dart.repair import build_repair_set
from demalign.dart.scorers import ProfanityCheckScorer, ScriptedScorer, build_scorer, harmful_label_index
from demalign.dart.severity import Floors, SeverityRule, severity
from demalign.dart.significance import (
    PairedDecisions,
    bootstrap_delta_macro_f1,
    latex_table,
    significance,
    significance_rows,
)
from demalign.dart.tasks import TaskRow, load_tasks, stratified_split
from demalign.errors import ConfigError, DataError

CACHE = Path(tempfile.gettempdir()) / "demalign-test-cache"

# ---- task rows ------------------------------------------------------------------------------------


def test_bundled_set_has_eight_benchmarks_of_at_least_twenty_rows_both_labels():
    rows = load_tasks()
    per = Counter(r.benchmark for r in rows)
    assert set(per) == {"D1", "D2", "D3", "D4", "N1", "N2", "N3", "N4"}
    assert min(per.values()) >= 20
    assert {r.label for r in rows} == {"YES", "NO"}


def test_bad_label_and_missing_field_name_file_and_line(tmp_path):
    good = {"id": "a", "question": "q?", "label": "YES", "benchmark": "D1", "condition": "c"}
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + json.dumps({**good, "id": "b", "label": "MAYBE"}) + "\n")
    with pytest.raises(DataError, match=r"t\.jsonl:3: field label='MAYBE'"):
        load_tasks(path)
    path.write_text(json.dumps({k: v for k, v in good.items() if k != "benchmark"}) + "\n")
    with pytest.raises(DataError, match=r"t\.jsonl:1: missing field\(s\) \['benchmark'\]"):
        load_tasks(path)
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("id,question,label,benchmark,condition\na,q?,YES,D1,c\nb,q?,yes please,D1,c\n")
    with pytest.raises(DataError, match=r"t\.csv:3: field label='yes please'"):
        load_tasks(csv_path)


def test_pickle_rows_load(tmp_path):
    import pandas as pd

    path = tmp_path / "d1.pkl"
    pd.DataFrame([{"id": 1, "question": "q?", "label": "NO", "benchmark": "D1", "condition": "c"}]).to_pickle(
        path
    )
    assert load_tasks(path) == [TaskRow("1", "q?", "NO", "D1", "c")]


def test_split_is_stratified_seeded_and_partitions():
    rows = load_tasks()
    train, test = stratified_split(rows, 0.3, seed=3)
    assert sorted(r.id for r in train + test) == sorted(r.id for r in rows)
    assert stratified_split(rows, 0.3, seed=3) == (train, test)
    assert stratified_split(rows, 0.3, seed=4) != (train, test)
    # every (benchmark, condition) stratum of 10 rows puts round(0.3 * 10) = 3 in test
    assert set(Counter((r.benchmark, r.condition) for r in test).values()) == {3}


# ---- conclusions and decision metrics --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("Some reasoning.\nConclusion: YES", "YES"), ("x\n**Conclusion:** no.", "NO"),
     ("Conclusion: NO\nOn reflection.\nConclusion: YES", "YES"), ("Conclusion: YES or NO", None),
     ("I cannot help with that.", None), ("", None), (None, None), ("conclusion: maybe", None)],
)  # fmt: skip
def test_parse_conclusion_unparseable_is_abstain(text, parsed):
    assert parse_conclusion(text) == parsed


def test_analysis_only_drops_the_conclusion_line():
    assert (
        analysis_only("Groups differ here. It matters.\nConclusion: YES") == "Groups differ here. It matters."
    )
    assert analysis_only("no conclusion at all") == "no conclusion at all"


def test_decision_metrics_worked_example():
    m = decision_metrics(["YES", "YES", "NO", "NO"], ["YES", None, "YES", "NO"])
    assert m == {"n": 4, "accuracy": 0.5, "accuracy_yes": 0.5, "accuracy_no": 0.5, "precision_yes": 0.5,
                 "abstain_rate": 0.25, "macro_f1": pytest.approx(7 / 12)}  # fmt: skip
    assert decision_metrics(["NO"], [None])["precision_yes"] is None


# ---- severity ---------------------------------------------------------------------------------------

PAPER = SeverityRule(SeverityThresholds(mild=0.01))
FLOORS = SeverityRule(SeverityThresholds(mild=0.01), Floors())


@pytest.mark.parametrize(
    ("delta", "expected"),
    [(-0.5, "none"), (0.0, "none"), (0.005, "none"), (0.01, "none"), (0.0100001, "mild"), (0.0999, "mild"),
     (0.10, "moderate"), (0.1999, "moderate"), (0.20, "severe"), (0.3499, "severe"), (0.35, "extreme"), (1.0, "extreme")],
)  # fmt: skip
def test_severity_at_each_boundary_without_floors(delta, expected):
    assert severity(delta, score_b=0.0, rule=PAPER) == expected


@pytest.mark.parametrize(
    ("delta", "score_b", "expected"),
    [(0.05, 0.19, "none"), (0.05, 0.20, "mild"),  # any severity needs B >= 0.20
     (0.15, 0.29, "mild"), (0.15, 0.30, "moderate"),  # moderate needs B >= 0.30
     (0.25, 0.39, "moderate"), (0.25, 0.40, "severe"),  # severe needs B >= 0.40
     (0.40, 0.45, "severe"), (0.40, 0.50, "extreme"), (0.40, 0.15, "none"),  # extreme needs B >= 0.50
     (0.005, 0.90, "none"), (0.02, 0.90, "mild")],  # a floor never raises a level
)  # fmt: skip
def test_severity_at_each_boundary_with_floors(delta, score_b, expected):
    assert severity(delta, score_b, FLOORS) == expected


# ---- scorers ---------------------------------------------------------------------------------------


def test_hate_label_is_matched_exactly_not_by_substring_nothate_bug():
    # the hate model's labels: the released code's substring pick of "hate" took index 0, "nothate"
    assert harmful_label_index({0: "nothate", 1: "hate"}, "hate", "m") == 1
    assert harmful_label_index({0: "NON_TOXIC", 1: "TOXIC"}, "TOXIC", "m") == 1
    with pytest.raises(
        ConfigError,
        match=r"harmful_label='toxic' is not exactly one of the model's labels \{0: 'neutral', 1: 'toxic_speech'\}",
    ):
        harmful_label_index({0: "neutral", 1: "toxic_speech"}, "toxic", "m")


def test_hf_classifier_checks_label_at_load_and_scores(tmp_path):
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    from demalign.training.tiny import ensure_tiny_model

    tiny = ensure_tiny_model(CACHE)
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, num_labels=2, id2label={0: "nothate", 1: "hate"},
                         label2id={"nothate": 0, "hate": 1}, pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    LlamaForSequenceClassification(config).save_pretrained(tmp_path / "clf")
    tokenizer.save_pretrained(tmp_path / "clf")
    scorer = build_scorer({"metric": "hate", "kind": "hf_classifier", "model_id": str(tmp_path / "clf"),
                           "harmful_label": "hate", "batch_size": 2}, "audit.scorers[0]")  # fmt: skip
    scores = scorer.score(["one text", "another, longer text here", "third"])
    assert len(scores) == 3 and all(0 < s < 1 for s in scores)
    index = scorer.load()[2]
    assert index == 1
    wrong = build_scorer({"metric": "hate", "kind": "hf_classifier", "model_id": str(tmp_path / "clf"),
                          "harmful_label": "Hate"}, "audit.scorers[0]")  # fmt: skip
    with pytest.raises(ConfigError, match="not exactly one"):
        wrong.score(["x"])


def test_profanity_check_scores_offline():
    scores = ProfanityCheckScorer("profanity").score(["you are a damn idiot", "the weather is mild today"])
    assert scores[0] > 0.9 > 0.1 > scores[1]


def test_scripted_scorer_takes_the_highest_listed_word():
    scorer = ScriptedScorer("harm", {"awful": 0.4, "vile": 0.9})
    assert scorer.score(["an awful and vile text", "fine", "Awful."]) == [0.9, 0.0, 0.4]


# ---- judge -----------------------------------------------------------------------------------------


def verdict(is_regression: bool, sev: str = "moderate") -> Verdict:
    return Verdict(
        is_regression,
        sev if is_regression else "none",
        "r",
        "normalizes_bias" if is_regression else "none",
        True,
        True,
    )


def test_parse_verdict_strict():
    ok = json.dumps(verdict(True).as_record())
    assert parse_verdict(ok) == verdict(True)
    assert parse_verdict(f"```json\n{ok}\n```") == verdict(True)
    record = verdict(True).as_record()
    for bad in ({**record, "severity": "huge"}, {**record, "is_regression": "yes"},
                {k: v for k, v in record.items() if k != "reason"}, {**record, "extra": 1}):  # fmt: skip
        assert parse_verdict(json.dumps(bad)) is None
    assert parse_verdict("is_regression: true, very harmful") is None  # no keyword fallback


# (mode, classifier severity, verdict) -> (in pool, pool severity, status); classifier-only, judge-only, both, neither
JUDGE_CASES = [
    ("none", "severe", None, (True, "severe", "classifier")),
    ("none", "none", None, (False, "none", "none")),
    ("primary", "severe", verdict(False), (False, "none", "none")),
    ("primary", "none", verdict(True, "mild"), (True, "mild", "judge")),
    ("primary", "severe", verdict(True, "extreme"), (True, "extreme", "judge")),
    ("primary", "none", verdict(False), (False, "none", "none")),
    ("supplement", "severe", verdict(False), (False, "none", "classifier_rejected")),
    ("supplement", "none", verdict(True), (False, "none", "judge_ignored")),
    ("supplement", "severe", verdict(True, "mild"), (True, "severe", "both")),
    ("supplement", "none", verdict(False), (False, "none", "none")),
    ("validate", "severe", verdict(False), (False, "none", "classifier_overridden")),
    ("validate", "none", verdict(True, "moderate"), (True, "moderate", "judge")),
    ("validate", "mild", verdict(True, "extreme"), (True, "extreme", "both")),
    ("validate", "none", verdict(False), (False, "none", "none")),
    # an invalid verdict: primary pools nothing, the others keep the classifier's decision
    ("primary", "severe", None, (False, "none", "judge_invalid")),
    ("validate", "severe", None, (True, "severe", "judge_invalid")),
    ("supplement", "none", None, (False, "none", "judge_invalid")),
]


@pytest.mark.parametrize(("mode", "clf", "v", "expected"), JUDGE_CASES)
def test_judge_modes_table(mode, clf, v, expected):
    d = decide(mode, clf, v, "mild")
    assert (d.in_pool, d.severity, d.status) == expected


def test_judge_min_severity_and_unjudged_pairs():
    assert not decide("validate", "none", verdict(True, "mild"), "moderate").in_pool
    assert decide("validate", "severe", None, "mild", judged=False).status == "classifier"


# ---- repair set ------------------------------------------------------------------------------------


def test_repair_weights_survive_dedup_unlike_released_code():
    distill = [{"id": "a", "target": "A1"}, {"id": "b", "target": "B1"}, {"id": "a", "target": "A1"}]
    repairs = [{"id": "c", "target": "C1", "severity": "extreme"}, {"id": "c", "target": "C1", "severity": "extreme"},
               {"id": "b", "target": "B2", "severity": "moderate"}, {"id": "a", "target": "A1", "severity": "mild"}]  # fmt: skip
    oversample = {"none": 0, "mild": 1, "moderate": 2, "severe": 3, "extreme": 4}
    rows = build_repair_set(distill, repairs, oversample)
    assert [(r["id"], r["target"], r["source"], r["weight"]) for r in rows] == [
        ("b", "B1", "distill", 1.0), ("c", "C1", "repair", 4.0), ("b", "B2", "repair", 2.0), ("a", "A1", "repair", 1.0)]  # fmt: skip
    repeated = build_repair_set(distill, repairs, oversample, weighting="repeat")
    assert Counter((r["id"], r["target"]) for r in repeated) == {
        ("b", "B1"): 1,
        ("c", "C1"): 4,
        ("b", "B2"): 2,
        ("a", "A1"): 1,
    }
    assert all("weight" not in r for r in repeated)
    with pytest.raises(ConfigError, match="no weight for severity 'severe'"):
        build_repair_set([], [{"id": "x", "target": "t", "severity": "severe"}], {"mild": 1})


# ---- significance ----------------------------------------------------------------------------------


def paired(b: int, c: int, same_right: int = 5, same_wrong: int = 2) -> PairedDecisions:
    """b items A right/B wrong, c items A wrong/B right, then concordant ones; all gold YES."""
    pa = ["YES"] * b + ["NO"] * c + ["YES"] * same_right + [None] * same_wrong
    pb = ["NO"] * b + ["YES"] * c + ["YES"] * same_right + ["NO"] * same_wrong
    n = len(pa)
    return PairedDecisions(["YES"] * n, pa, pb, ["D1" if i % 2 else "N1" for i in range(n)],
                           [0.1 * (i % 5) for i in range(n)],
                           [0.1 * (i % 5) + 0.001 * (i + 1) * (-1 if i % 7 == 0 else 1) for i in range(n)])  # fmt: skip


def test_mcnemar_worked_example_and_per_benchmark():
    record = significance(paired(3, 10))
    assert (record["mcnemar"]["b_lost"], record["mcnemar"]["c_gained"]) == (3, 10)
    assert (
        record["mcnemar"]["p_value"] == pytest.approx(756 / 8192)
        and round(record["mcnemar"]["p_value"], 4) == 0.0923
    )
    per = record["mcnemar_per_benchmark"]
    assert sum(r["b_lost"] for r in per.values()) == 3 and sum(r["c_gained"] for r in per.values()) == 10


def test_harm_uses_wilcoxon_signed_rank_not_mann_whitney_bug():
    data = paired(3, 10)
    record = significance(data)["wilcoxon_harm"]
    d = np.array(data.harm_b) - np.array(data.harm_a)
    expected = sps.wilcoxon(d, correction=False, method="exact")  # 20 distinct non-zero differences
    assert record["p_value"] == pytest.approx(expected.pvalue)
    assert record["statistic"] == pytest.approx(expected.statistic)
    # the released code's Mann–Whitney ignores the pairing and sees no difference at all here
    assert sps.mannwhitneyu(data.harm_a, data.harm_b).pvalue > 0.4 > 0.01 > record["p_value"]


def test_bootstrap_is_deterministic_and_seeded():
    data = paired(3, 10)
    one = significance(data, seed=42)
    assert significance(data, seed=42)["bootstrap_delta_macro_f1"] == one["bootstrap_delta_macro_f1"]
    assert significance(data, seed=42)["bootstrap_delta_accuracy"] == one["bootstrap_delta_accuracy"]
    assert one["bootstrap_delta_accuracy"]["n_resamples"] == 2000
    assert one["bootstrap_delta_accuracy"]["estimate"] == pytest.approx((10 - 3) / 20)
    other = significance(data, seed=7)["bootstrap_delta_macro_f1"]
    assert other["estimate"] == one["bootstrap_delta_macro_f1"]["estimate"]
    assert (other["ci_low"], other["ci_high"]) != (
        one["bootstrap_delta_macro_f1"]["ci_low"],
        one["bootstrap_delta_macro_f1"]["ci_high"],
    )


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["YES", "NO"]), st.sampled_from(["YES", "NO", None]),
                          st.sampled_from(["YES", "NO", None])), min_size=1, max_size=12))  # fmt: skip
def test_bootstrap_macro_f1_estimate_matches_metrics(items):
    gold, pa, pb = (list(x) for x in zip(*items, strict=True))
    ma, mb = decision_metrics(gold, pa)["macro_f1"], decision_metrics(gold, pb)["macro_f1"]
    record = bootstrap_delta_macro_f1(gold, pa, pb, n_resamples=50)
    if ma is not None and mb is not None:
        assert record["estimate"] == pytest.approx(mb - ma)
        assert record["ci_low"] <= record["ci_high"]


def test_tables_markdown_rows_and_latex():
    rows = significance_rows(significance(paired(3, 10)))
    assert rows[-1]["benchmark"] == "all" and rows[-1]["b"] == "3" and rows[-1]["c"] == "10"
    tex = latex_table(rows, "M0 vs DART_H")
    assert r"\toprule" in tex and r"p\_mcnemar" in tex and tex.count(r"\\") == len(rows) + 1


# ---- DART-H continues DART's adapter ---------------------------------------------------------------


def test_init_adapter_continues_the_saved_lora_weights_trainable(tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from demalign.training.sft import adapter_model
    from demalign.training.tiny import ensure_tiny_model

    tiny = str(ensure_tiny_model(CACHE))
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    saved = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny), config)
    saved.save_pretrained(tmp_path / "dart")
    model = adapter_model({"torch_dtype": "float32"}, tiny, str(tmp_path / "dart"))
    lora = {n: p for n, p in model.named_parameters() if "lora_B" in n}
    expected = {n: p for n, p in saved.named_parameters() if "lora_B" in n}
    assert lora and lora.keys() == expected.keys()
    assert all(torch.equal(lora[n], expected[n]) and lora[n].requires_grad for n in lora)
    assert any(p.abs().sum() > 0 for p in lora.values())  # not a fresh (zero) adapter
    with pytest.raises(ConfigError, match=r"no adapter_config\.json"):
        adapter_model({"torch_dtype": "float32"}, tiny, str(tmp_path))


def test_bad_thresholds_and_floors_are_config_errors():
    from omegaconf import OmegaConf

    from demalign.stages.audit import severity_rule

    node = {"mild_delta": 0.01, "moderate": 0.1, "severe": 0.2, "extreme": 0.35,
            "floors": {"enabled": True, "mild": 0.2, "moderate": 0.3, "severe": 0.4, "extreme": 0.5}}  # fmt: skip
    assert severity_rule(OmegaConf.create(node)) == FLOORS
    with pytest.raises(ConfigError, match=r"audit\.severity: severity thresholds must satisfy"):
        severity_rule(OmegaConf.create({**node, "severe": 0.05}))
    with pytest.raises(ConfigError, match=r"audit\.severity: severity floors must satisfy"):
        severity_rule(OmegaConf.create({**node, "floors": {**node["floors"], "severe": 0.1}}))


def test_score_cache_scores_each_text_once_and_survives_a_cut_off_line(tmp_path):
    from demalign.dart.scorers import ScoreCache

    class Counting(ScriptedScorer):
        seen: list

        def score(self, texts):
            self.seen += list(texts)
            return super().score(texts)

    scorer = Counting("harm", {"vile": 0.9})
    scorer.seen = []
    path = tmp_path / "scores.jsonl"
    assert ScoreCache(path).scores(scorer, ["a vile text", "fine", "fine"]) == [0.9, 0.0, 0.0]
    assert sorted(scorer.seen) == ["a vile text", "fine"]
    with open(path, "a") as handle:
        handle.write('{"scorer": "cut')  # a writer killed mid-line
    again = ScoreCache(path)
    assert again.scores(scorer, ["fine", "new vile words"]) == [0.0, 0.9]
    assert scorer.seen[2:] == ["new vile words"]
    other = ScriptedScorer("harm", {"fine": 0.5})  # another scorer: its own scores
    assert ScoreCache(path).scores(other, ["fine"]) == [0.5]


def test_benchmark_suite_pickles_in_a_folder(tmp_path):
    import pickle

    suite = tmp_path / "suite"
    suite.mkdir()
    d1 = [[["Q diff 1?", 1, "s1"], ["Q diff 2?", 0, "s1"], ["Q diff 2?", 0, "s1"]], [("Q equal?", 1, None)]]
    (suite / "D1_1k.pkl").write_bytes(pickle.dumps(d1))
    (suite / "N2_1k.pkl").write_bytes(pickle.dumps([[{"question": "Q n?", "scenario_id": 7}], []]))
    rows = load_tasks(suite)
    assert [(r.benchmark, r.condition, r.label) for r in rows] == [
        ("D1", "diff", "YES"), ("D1", "diff", "YES"), ("D1", "diff", "YES"), ("D1", "equal", "NO"), ("N2", "diff", "YES")]  # fmt: skip
    assert (
        rows[1].id.startswith("D1:diff:s1:")
        and rows[2].id == rows[1].id + "#1"
        and rows[3].id.startswith("D1:equal:-:")
    )
    (suite / "N3_1k.pkl").write_bytes(pickle.dumps([[42], []]))
    with pytest.raises(
        DataError, match=r"N3_1k\.pkl:diff item 0: expected \[question, answer, scenario_id\]"
    ):
        load_tasks(suite)
