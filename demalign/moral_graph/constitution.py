"""Winners -> a constitution file the questions, evaluate and critique stages read, and prompts per
context (the offline question bank and the preference-data prompts).

One clause per context: "When <context>, the assistant should <winner's short instructions>", then
the winner's evaluation criteria (DFT's attentional policies) as the rubric the judge and the critic
see. The clause loader (`constitution.clauses`) reads `id`, `text` and `questions`; the other keys
(`context`, `value_id`, `title`, `rubric`, `upgrades`) are provenance for people reading the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from demalign.errors import DataError
from demalign.moral_graph.graph import ValueCard

_SUBJECT = re.compile(r"^\s*(chatgpt|the assistant|the model|the ai|assistant|ai)\s+should\s+", re.IGNORECASE)


def load_prompts(path: Path | str) -> dict[str, list[str]]:
    """`contexts: {<context>: [prompt, ...]}` from a YAML file (see data/moral_graph/prompts.yaml)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such prompts file (moral_graph.prompts)")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise DataError(f"{path}: not valid YAML ({err})") from None
    contexts = document.get("contexts") if isinstance(document, dict) else None
    if not isinstance(contexts, dict) or not contexts:
        raise DataError(f"{path}: expected a top-level `contexts:` mapping of context -> list of prompts")
    out = {}
    for context, prompts in contexts.items():
        if not isinstance(prompts, list) or not all(isinstance(p, str) and p.strip() for p in prompts):
            raise DataError(f"{path}: contexts[{context!r}] must be a list of non-empty prompt strings")
        out[str(context)] = [p.strip() for p in prompts]
    return out


def should_phrase(instructions_short: str) -> str:
    """ "ChatGPT should help X." -> "help X." (the clause supplies its own subject)."""
    text = " ".join(instructions_short.split())
    text = _SUBJECT.sub("", text)
    return text[:1].lower() + text[1:] if text else text


def context_phrase(context: str) -> str:
    """ "When making decisions" stays; "making decisions" becomes "When making decisions"."""
    context = " ".join(context.split())
    return context if context.lower().startswith("when ") else f"When {context}"


def clause_text(context: str, card: ValueCard) -> str:
    """E.g. "When a parent and child disagree, the assistant should help the people involved find a way
    forward they can all live with. A good answer attends to: NEEDS of each person involved; ..."."""
    text = f"{context_phrase(context)}, the assistant should {should_phrase(card.instructions_short)}"
    text = text if text.endswith((".", "!", "?")) else text + "."
    if card.evaluation_criteria:
        text += " A good answer attends to: " + "; ".join(card.evaluation_criteria) + "."
    return text


def constitution_document(
    winners: Sequence[Mapping[str, Any]], values: Mapping[str, ValueCard], per_context: pd.DataFrame,
    prompts: Mapping[str, Sequence[str]], source: str,
) -> dict[str, Any]:  # fmt: skip
    """The YAML document: clause ids 1.. in context order; questions = the context's prompts;
    `upgrades` = the kept edges into the winner in that context (`per_context` rows), as provenance."""
    clauses = []
    for clause_id, row in enumerate(sorted(winners, key=lambda r: r["context"]), start=1):
        card = values[row["value_id"]]
        into = per_context[
            (per_context["wiser"] == card.id)
            & (per_context["context"] == row["context"])
            & per_context["kept"]
        ]
        upgrades = [
            {"from": str(e.source), "from_title": values[e.source].title if e.source in values else str(e.source),
             "markedWiser": round(float(e.markedWiser), 6), "wiserLikelihood": round(float(e.wiserLikelihood), 6)}
            for e in into.itertuples(index=False)
        ]  # fmt: skip
        entry: dict[str, Any] = {
            "id": clause_id, "text": clause_text(row["context"], card), "context": row["context"],
            "value_id": card.id, "title": card.title, "rubric": list(card.evaluation_criteria),
            "rank": round(float(row["rank"]), 6), "upgrades": upgrades,
        }  # fmt: skip
        if prompts.get(row["context"]):
            entry["questions"] = list(prompts[row["context"]])
        clauses.append(entry)
    return {"name": f"moral-graph constitution ({source})", "version": 1, "clauses": clauses}


def constitution_yaml(document: Mapping[str, Any]) -> str:
    header = (
        "# Written by demalign stage=moral_graph: one clause per context, the winning value's instructions\n"
        "# and its evaluation criteria as the rubric. Use it with constitution.path=<this file>.\n"
    )
    return header + yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True, width=110)
