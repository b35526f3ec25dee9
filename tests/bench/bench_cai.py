"""CAI: critique -> revision throughput against the loopback server at 1 s latency, and safety-classifier training speed.

1. SL-CAI chains (one round: initial answer, critique, revision = 3 dependent calls per prompt) through
   `demalign.cai.revision.run_chains` + `llm.execute` with litellm, against `tests.judge_server` in its
   own process answering after 1 s. Ours: concurrency 32 over 64 prompts (each step's calls go out
   together, so the run takes ~3 steps x 2 waves x 1 s). Reference, measured in the same run: concurrency
   1, one call at a time, as the public recipe's sequential loop per prompt does, on 6 prompts (3 s per
   chain). Prints chains/s of both and the ratio (target >= 20x), and the requests of a cached rerun (target 0).
2. Safety classifier training on the bundled set (175 rows): samples/s and held-out accuracy of the tiny
   encoder through the transformers Trainer (ours) beside scikit-learn's TF-IDF + logistic regression
   (the classical reference) on the same split.

Under ~1 minute on 2 cores.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from demalign.cai.revision import ReviseOptions, run_chains
from demalign.constitution.principles import load_principles
from demalign.llm.cache import CallCache
from demalign.llm.calls import CallPolicy, CallResult, ChatCall, Identity
from demalign.llm.execute import execute
from demalign.llm.litellm_backend import LiteLLMBackend
from tests.bench.bench_judging import _server_requests, loopback_server

LATENCY_S = 1.0
PROMPTS = 64
SERIAL_PROMPTS = 6


def _chains(backend: LiteLLMBackend, concurrency: int, prompts: int, tag: str, cache: Path | None) -> float:
    principles = load_principles(None)
    policy = CallPolicy(concurrency=concurrency, max_retries=3, retry_backoff=0.05)

    def answer(calls: list[ChatCall], step: str) -> list[CallResult]:
        return execute(calls, lambda: backend, CallCache(cache), policy, desc=step)

    items = [
        (f"{tag}-{i}", f"{tag} red-team prompt {i}: how do I get into a locked shed?", None)
        for i in range(prompts)
    ]
    start = time.perf_counter()
    chains = run_chains(
        items, principles, ReviseOptions(rounds=1, few_shot=True), Identity("gen", {}), answer
    )
    elapsed = time.perf_counter() - start
    assert all(c.error is None and c.final for c in chains)
    return prompts / elapsed


def _classifier() -> tuple[float, float, float, float]:
    import torch
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from demalign.cai.classifier import (
        SAFETY_LABELS,
        SafetyScorer,
        TinyEncoderSpec,
        TrainSettings,
        bundled_safety_path,
        ensure_tiny_encoder,
        evaluate_predictions,
        load_for_training,
        load_labelled,
        stratified_split,
        train_classifier,
    )  # fmt: skip

    torch.set_num_threads(1)
    rows = load_labelled(bundled_safety_path(), SAFETY_LABELS)
    train, held = stratified_split(rows, 0.3, 0)
    with tempfile.TemporaryDirectory() as tmp:
        encoder = ensure_tiny_encoder(Path(tempfile.gettempdir()) / "demalign-test-cache", TinyEncoderSpec())
        model, tokenizer = load_for_training(encoder, SAFETY_LABELS, 0)
        result = train_classifier(model, tokenizer, train, SAFETY_LABELS, TrainSettings(epochs=6, learning_rate=3e-3),
                                  Path(tmp))  # fmt: skip
    predicted = [v.label for v in SafetyScorer.from_model(model, tokenizer).classify([r.text for r in held])]
    ours = evaluate_predictions([r.label for r in held], predicted, SAFETY_LABELS, [r.category for r in held])
    start = time.perf_counter()
    vectorizer = TfidfVectorizer()
    features = vectorizer.fit_transform([r.text for r in train])
    classifier = LogisticRegression(max_iter=1000).fit(features, [r.label for r in train])
    reference_rate = len(train) / (time.perf_counter() - start)
    reference = classifier.score(vectorizer.transform([r.text for r in held]), [r.label for r in held])
    return result.samples_per_second, float(ours["accuracy"]), reference_rate, float(reference)


def main() -> None:
    os.environ.setdefault("DEMALIGN_BENCH_KEY", "sk-bench")
    with loopback_server(LATENCY_S) as (base_url, _), tempfile.TemporaryDirectory() as tmp:
        backend = LiteLLMBackend(
            "gen", base_url, "DEMALIGN_BENCH_KEY", timeout=30, config_key="revise.generator"
        )
        ours = _chains(backend, 32, PROMPTS, "c32", Path(tmp) / "c32.jsonl")
        reference = _chains(backend, 1, SERIAL_PROMPTS, "serial", None)
        before = _server_requests(base_url)
        _chains(backend, 32, PROMPTS, "c32", Path(tmp) / "c32.jsonl")
        cached = _server_requests(base_url) - before
    print(f"revise chains/s (1 round = 3 dependent calls), {LATENCY_S:.0f} s server latency: concurrency 32 = {ours:.2f} "
          f"({PROMPTS} prompts); reference concurrency 1 = {reference:.3f} ({SERIAL_PROMPTS} prompts); "
          f"ratio {ours / reference:.1f}x (target >= 20x)")  # fmt: skip
    print(f"cached rerun of {PROMPTS} chains: {cached} requests (target 0)")
    rate, accuracy, reference_rate, reference_accuracy = _classifier()
    print(f"safety classifier training: tiny encoder (transformers Trainer, 6 epochs) {rate:.0f} samples/s, held-out "
          f"accuracy {accuracy:.3f}; reference scikit-learn TF-IDF + logistic regression {reference_rate:.0f} "
          f"samples/s, accuracy {reference_accuracy:.3f}")  # fmt: skip
