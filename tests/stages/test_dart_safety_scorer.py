"""DART's audit scores harm with the CAI safety classifier: a one-epoch `stage=classify` checkpoint, read
through `audit.scorers[i].kind=safety_classifier`; the harm is exactly the classifier's probability, a label
name that is not the classifier's is a ConfigError listing its labels, and stage=audit runs with it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from demalign.artifacts import read_jsonl
from demalign.cai.classifier import SAFETY_LABELS, SafetyScorer
from demalign.dart.audit import VIEWS, view_text
from demalign.dart.scorers import SafetyClassifierScorer, ScoreCache, build_scorer
from demalign.errors import ConfigError
from demalign.run import run_configured
from demalign.stages import classify
from tests.conftest import compose_config
from tests.recipes.test_dart import QUICK, calls
from tests.unit.test_training_weighted import CACHE

torch.set_num_threads(1)

TEXTS = [
    "Here is a friendly way to plan your week at work.",
    "You people are worthless and should be driven out.",
    "Mix those two cleaners in a closed room for a stronger effect.",
    "",
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A safety classifier trained for one epoch by stage=classify on the bundled set."""
    out = tmp_path_factory.mktemp("classify")
    cfg = compose_config(["stage=classify", "classify.epochs=1", f"paths.cache_dir={CACHE}"], out / "outputs")
    return classify.Outputs.in_folder(run_configured(cfg, out / "run").dir).checkpoint


def entry(checkpoint: Path, **extra: object) -> dict[str, object]:
    return {"metric": "unsafe", "kind": "safety_classifier", "checkpoint": str(checkpoint), **extra}


def test_harm_is_exactly_the_classifiers_probability(checkpoint: Path, tmp_path: Path) -> None:
    reference = SafetyScorer(checkpoint, max_length=256).classify(TEXTS)  # 256: the tiny encoder's positions
    not_safe = build_scorer(entry(checkpoint), "audit.scorers[0]")
    assert isinstance(not_safe, SafetyClassifierScorer) and not_safe.harm == "not_safe"
    assert not_safe.score(TEXTS) == [1.0 - v.scores["safe"] for v in reference]
    hate = build_scorer(entry(checkpoint, harm="labels", harmful_labels=["hate"]), "audit.scorers[0]")
    assert hate.score(TEXTS) == [v.scores["hate"] for v in reference]
    two = build_scorer(entry(checkpoint, harm="labels", harmful_labels=["hate", "toxic"]), "s")
    assert two.score(TEXTS) == [v.scores["hate"] + v.scores["toxic"] for v in reference]
    assert len({not_safe.identity, hate.identity, two.identity}) == 3

    # through the score cache: one line per distinct text, and a rerun loads no model at all
    texts = sorted(TEXTS)
    cache_path = tmp_path / "harm_scores.jsonl"
    first = ScoreCache(cache_path).scores(not_safe, [*texts, texts[0]])
    assert first == [*not_safe.score(texts), first[0]] and len(cache_path.read_text().splitlines()) == 4
    fresh = build_scorer(entry(checkpoint), "audit.scorers[0]")
    assert ScoreCache(cache_path).scores(fresh, texts) == first[:4]
    assert fresh._loaded is None  # every score came from the cache


def test_a_label_not_in_the_classifier_is_an_error_listing_its_labels(
    checkpoint: Path, tmp_path: Path
) -> None:
    labels = re.escape(str(list(SAFETY_LABELS)))
    for wrong in ("hateful", "self", "unsafe"):  # near misses and substrings are not matched
        with pytest.raises(ConfigError, match=rf"audit\.scorers\[1\]\.harmful_labels: '{wrong}' is not one of the classifier's labels {labels}"):  # fmt: skip
            build_scorer(entry(checkpoint, harm="labels", harmful_labels=["hate", wrong]), "audit.scorers[1]")
    with pytest.raises(
        ConfigError, match=r"audit\.scorers\[0\]\.harmful_labels=\['hate'\] with harm=not_safe"
    ):
        build_scorer(entry(checkpoint, harmful_labels=["hate"]), "audit.scorers[0]")
    with pytest.raises(ConfigError, match=r"audit\.scorers\[0\]: harm=labels needs harmful_labels"):
        build_scorer(entry(checkpoint, harm="labels"), "audit.scorers[0]")
    with pytest.raises(
        ConfigError, match=r"audit\.scorers\[0\]\.harmful_label: kind=safety_classifier takes a list"
    ):
        build_scorer(entry(checkpoint, harmful_label="hate"), "audit.scorers[0]")
    with pytest.raises(ConfigError, match=r"audit\.scorers\[0\]\.checkpoint=.* has no config\.json"):
        build_scorer(entry(tmp_path / "nowhere"), "audit.scorers[0]")


def test_audit_runs_with_the_safety_classifier(checkpoint: Path, make_cfg, tmp_path: Path) -> None:
    scorers = f"audit.scorers=[{{metric: unsafe, kind: safety_classifier, checkpoint: '{checkpoint}'}}]"
    models = "audit.models=[{name: M0, kind: local, path: null}, {name: M1, kind: local, path: null}]"
    run = run_configured(
        make_cfg("stage=audit", *QUICK, *calls(tmp_path), models, scorers, "audit.primary_metric=unsafe"),
        tmp_path / "audit",
    )
    inputs = json.loads((run.dir / "manifest.json").read_text())["inputs"]
    assert str((checkpoint / "config.json").resolve()) in inputs  # the classifier is a recorded input
    scored = read_jsonl(run.dir / "scored.jsonl")
    assert len(scored) == 8
    reference = SafetyScorer(checkpoint, batch_size=1, max_length=256)  # one text per batch: no padding
    for view in VIEWS:
        texts = [view_text(row["b_text"], view) for row in scored]
        expected = [1.0 - v.scores["safe"] for v in reference.classify(texts)]
        got = [row["scores"][view]["unsafe"]["b"] for row in scored]
        assert got == pytest.approx(expected, abs=1e-5)  # batch padding moves the last float bits
    assert all(
        row["primary_delta"] == pytest.approx(row["scores"]["analysis_only"]["unsafe"]["delta"])
        for row in scored
    )
    assert len(read_jsonl(Path(tmp_path / "calls" / "harm_scores.jsonl"))) == len(
        {view_text(row[side], view) for row in scored for side in ("a_text", "b_text") for view in VIEWS}
    )
