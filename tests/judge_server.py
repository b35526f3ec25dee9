"""A loopback OpenAI-compatible chat-completions server for tests and benchmarks.

It answers `POST /v1/chat/completions` with scripted content chosen from the request itself, so the
same request always gets the same answer (reruns are comparable):

- a question-generation prompt (asks for a JSON object with "questions") -> that many distinct questions;
- a pairwise judge prompt (mentions `[[A]]`) -> one of `[[A]]`, `[[B]]`, `[[TIE]]`;
- a listwise judge prompt (mentions `[[RANKING:`) -> a permutation of the labels it lists;
- a pointwise critic prompt (asks for a JSON object with "score") -> a score on its scale and a reason;
- a DART teacher prompt (names a `Gold label: YES|NO`) -> two sentences and `Conclusion: <label>`; one request
  in six leaves out the conclusion line (a format-fix round follows), one in six concludes the other label;
- a DART audit judge prompt (asks for "is_regression") -> the JSON verdict, a regression one time in three;
- anything else -> an answer of a few sentences; a sampled request (temperature > 0) with a `seed`
  gets an answer that also depends on that seed, as N samples of one prompt would differ.

Faults are injected on demand with probability `fault_rate`, drawn from a seeded generator, choosing
uniformly among `faults` (the first `fail_first` requests always get `faults[0]`): "429" (with `Retry-After`), "500", "slow" (sleeps `slow_seconds`, then
answers normally) and "malformed" (a verdict/JSON the client cannot parse). Every request is counted
(`requests`, and per request-content hash in `by_content`), so tests can prove that a rerun repeats no
finished call (also over HTTP: `GET /stats`). The server runs on its own event loop in a daemon
thread (`with JudgeServer() as s:`), or in its own process: `python -m tests.judge_server --latency 0.1`.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import random
import re
import threading
from typing import Any

from aiohttp import web

FAULTS = ("429", "500", "slow", "malformed")


def _digest(payload: Any) -> int:
    return int(hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12], 16)


def draw_of(body: dict[str, Any]) -> int | None:
    """The sampling seed of a request: its `seed` when it samples (temperature > 0), else None."""
    return body.get("seed") if body.get("temperature") else None


def scripted_reply(messages: list[dict[str, str]], draw: int | None = None) -> str:
    """The deterministic answer to a chat request (see the module docstring)."""
    text = "\n".join(m["content"] for m in messages)
    seed = _digest(messages)
    gold = re.search(r"Gold label: (YES|NO)", text)
    if gold:
        body = f"Scripted analysis {seed % 997} of the question. It weighs whether the groups differ here."
        label = gold.group(1) if seed % 6 != 1 else {"YES": "NO", "NO": "YES"}[gold.group(1)]
        return body if seed % 6 == 0 else f"{body}\nConclusion: {label}"
    if '"is_regression"' in text:
        regression = seed % 3 == 0
        levels = ("mild", "moderate", "severe", "extreme")
        return json.dumps({"is_regression": regression, "severity": levels[seed % 4] if regression else "none",
                           "reason": "Scripted verdict.", "regression_type": "harmful_reasoning" if regression else "none",
                           "a_correct": bool(seed % 2), "b_correct": bool(seed // 2 % 2)})  # fmt: skip
    if '"questions"' in text:
        wanted = re.search(r"exactly (\d+) questions", text)
        count = int(wanted.group(1)) if wanted else 5
        topic = seed % 10_000
        return json.dumps(
            {"questions": [f"Scripted question {i + 1} on topic {topic}?" for i in range(count)]}
        )
    if "[[RANKING:" in text:
        labels = sorted(set(re.findall(r"\[\[Response ([A-Z])\]\]", text)))
        random.Random(seed).shuffle(labels)
        return f"Reasoning omitted.\n[[RANKING: {' > '.join(labels)}]]"
    if '"score"' in text:
        scale = re.search(r"from (-?\d+) \(worst\) to (-?\d+) \(best\)", text)
        low, high = (int(scale.group(1)), int(scale.group(2))) if scale else (1, 5)
        return json.dumps({"score": low + seed % (high - low + 1), "reason": "Scripted critique."})
    if "[[A]]" in text:
        return f"Both are fine; weighing them.\n{('[[A]]', '[[B]]', '[[TIE]]')[seed % 3]}"
    if draw is not None:
        seed = _digest([messages, draw])
    sentences = 1 + seed % 4
    return " ".join(f"Answer sentence {i} for request {seed % 997}." for i in range(sentences))


class JudgeServer:
    """Loopback chat-completions server with fault injection and request counting."""

    def __init__(
        self,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        faults: tuple[str, ...] = FAULTS,
        retry_after: str = "0",
        slow_seconds: float = 0.3,
        seed: int = 0,
        fail_first: int = 0,
    ) -> None:
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; choose from {FAULTS}")
        self.latency = latency
        self.fault_rate = fault_rate
        self.faults = faults
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self.fail_first = fail_first
        self._rng = random.Random(seed)
        self.requests = 0
        self.faults_injected: collections.Counter[str] = collections.Counter()
        self.by_content: collections.Counter[int] = collections.Counter()
        self.authorizations: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reset_counts(self) -> None:
        self.requests = 0
        self.faults_injected.clear()
        self.by_content.clear()

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": self.requests, "faults": dict(self.faults_injected)})

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        messages, draw = body["messages"], draw_of(body)
        self.requests += 1
        self.by_content[_digest(messages) if draw is None else _digest([messages, draw])] += 1
        self.authorizations.add(request.headers.get("Authorization", ""))
        if self.requests <= self.fail_first:
            fault: str | None = self.faults[0]
        else:
            fault = self._rng.choice(self.faults) if self._rng.random() < self.fault_rate else None
        if fault:
            self.faults_injected[fault] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault == "429":
            return web.json_response(
                {"error": {"message": "rate limited (injected)", "type": "rate_limit_error"}},
                status=429,
                headers={"Retry-After": self.retry_after},
            )
        if fault == "500":
            return web.json_response({"error": {"message": "server error (injected)"}}, status=500)
        if fault == "slow":
            await asyncio.sleep(self.slow_seconds)
        content = "no verdict here {malformed" if fault == "malformed" else scripted_reply(messages, draw)
        prompt_tokens = sum(len(m["content"]) for m in messages) // 4 + 1
        completion_tokens = len(content) // 4 + 1
        return web.json_response(
            {
                "id": f"chatcmpl-{self.requests}",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "scripted"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    def start(self) -> JudgeServer:
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application()
            app.router.add_post("/v1/chat/completions", self._chat)
            app.router.add_get("/stats", self._stats)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()

        def main() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        self._thread = threading.Thread(target=main, daemon=True, name="judge-server")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("loopback judge server did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        loop, runner = self._loop, self._runner
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> JudgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """Run the server in its own process (benchmarks: no GIL shared with the client); prints its
    base URL, serves until killed. `GET /stats` returns the request count."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    args = parser.parse_args()
    server = JudgeServer(latency=args.latency, fault_rate=args.fault_rate).start()
    print(server.base_url, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
