"""A scripted model: canned answers chosen by a function of the call, for tests and offline
recipes that need an LLM's *format* without an LLM (a role a test swaps in, as inspect_ai does).

`ScriptedBackend(reply)` answers each call with `reply(call)` (usually a function of
`call.messages`, so the same request always gets the same answer) and records every call it was
sent, so a test can prove what was asked, and that a rerun asked nothing. Token counts are
characters / 4, like the loopback test server; the cost is 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from demalign.llm.calls import ChatCall, Completion


class ScriptedBackend:
    """A `BatchBackend` answering `reply(call)`; `sent` lists every call received, in order."""

    def __init__(self, reply: Callable[[ChatCall], str]) -> None:
        self.reply = reply
        self.sent: list[ChatCall] = []

    def complete_batch(self, calls: Sequence[ChatCall]) -> list[Completion]:
        self.sent += calls
        completions = []
        for call in calls:
            text = self.reply(call)
            prompt_tokens = sum(len(m["content"]) for m in call.messages) // 4 + 1
            completions.append(Completion(text, prompt_tokens, len(text) // 4 + 1, 0.0))
        return completions
