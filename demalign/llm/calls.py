"""What a model call is: the request (`ChatCall`), who answers it (`Identity`), what comes back
(`Completion`, `CallResult`), how calls are sent (`CallPolicy`) and the two shapes of backend.

A `ChatCall` is everything that determines an answer: who answers (`model`), the `messages`, the
generation `settings` and the `sample` index (judge k of n, or the n-th independent draw). Its
`key` is a sha256 of those four, so the same request always finds the same cache line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass
class ChatCall:
    """One chat request. `payload` is a structured view of the same request for backends that do
    not read prompts (the heuristic judge); it is derived from the messages, so it is not hashed."""

    model: str
    messages: list[dict[str, str]]
    settings: dict[str, Any] = field(default_factory=dict)
    sample: int = 0
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        canonical = json.dumps(
            [self.model, self.messages, self.settings, self.sample], sort_keys=True, ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Identity:
    """Who answers, as the cache key sees it: the model name and the settings that change its
    answers. Every caller (judge, critic, generator, question writer) builds its calls through
    `call`, so two callers asking the same model the same thing share cache lines."""

    name: str
    settings: dict[str, Any]

    def call(
        self, messages: list[dict[str, str]], sample: int = 0, payload: dict[str, Any] | None = None
    ) -> ChatCall:
        return ChatCall(self.name, messages, self.settings, sample, payload or {})


@dataclass
class Completion:
    """What a backend returns for one call; `cost` is None where the price is unknown."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None


@dataclass
class CallResult:
    """The outcome of one call after caching and retries. `text` is None when every attempt failed."""

    key: str
    text: str | None
    valid: bool
    error: str | None = None
    attempts: int = 0
    cached: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    latency_s: float = 0.0


class TransientError(Exception):
    """A failure worth retrying (rate limit, server error, timeout); `retry_after` in seconds if the
    server said when to come back."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CallFailed(Exception):
    """A failure retrying cannot fix for this one call (e.g. a refused request); recorded, not raised."""


@runtime_checkable
class AsyncBackend(Protocol):
    async def acomplete(self, call: ChatCall) -> Completion: ...


@runtime_checkable
class BatchBackend(Protocol):
    def complete_batch(self, calls: Sequence[ChatCall]) -> list[Completion]: ...


@dataclass(frozen=True)
class CallPolicy:
    """How calls are sent. Defaults suit a hosted API; local backends only use `batch_size`."""

    concurrency: int = 8
    requests_per_minute: float | None = None
    max_retries: int = 4
    retry_backoff: float = 1.0
    max_backoff: float = 60.0
    invalid_retries: int = 2
    batch_size: int = 8
    processes: int = 1  # client processes sharing `concurrency` and `requests_per_minute` (async APIs)
