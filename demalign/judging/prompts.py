"""What judges are shown: the labelled-response block shared by the pairwise and listwise
judges, and their chat messages, rendered from the templates in `demalign/data/prompts/`.

Candidates are labelled A, B, C, ... in the order shown; the parsers of both protocols read the
same labels back, and the heuristic judge answers with them.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import TYPE_CHECKING

from demalign.llm.calls import ChatCall, Identity
from demalign.llm.templates import load_template

if TYPE_CHECKING:  # the heuristic backend imports the labels from here while roles are being imported
    from demalign.constitution.questions import Item

LABELS = string.ascii_uppercase
TIE = "TIE"
JUDGE_TEMPLATES = {"pairwise": "judge_pairwise", "listwise": "judge_listwise"}


def responses_block(candidates: Sequence[str]) -> str:
    """The candidates, each between [[Response X]] and [[End of Response X]], one blank line apart."""
    block = load_template("labelled_response")
    return "\n\n".join(block.render("block", label=LABELS[i], text=text) for i, text in enumerate(candidates))


def judge_messages(kind: str, clause: str, question: str, candidates: Sequence[str]) -> list[dict[str, str]]:
    """The `kind` ("pairwise" or "listwise") judge prompt; candidates are labelled A, B, C, ... in order."""
    return load_template(JUDGE_TEMPLATES[kind]).messages(
        clause=clause, question=question, responses=responses_block(candidates)
    )


def judge_call(judge: Identity, kind: str, item: Item, candidates: Sequence[str], sample: int) -> ChatCall:
    """Judge `sample` of `judge` on `item`, candidates shown in the given order. The payload repeats
    the question and candidates for backends that do not read prompts (the heuristic judge)."""
    payload = {"kind": kind, "question": item.question, "candidates": list(candidates)}
    return judge.call(judge_messages(kind, item.clause, item.question, candidates), sample, payload)
