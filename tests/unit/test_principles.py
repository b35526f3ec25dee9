"""Principle pairs: the bundled set, the public recipe's layouts loading unchanged, errors naming file and entry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from demalign.constitution.principles import PRINCIPLES, load_principles, principle_counts
from demalign.errors import ConfigError, DataError
from tests.conftest import compose_config

# The public recipe's layout (llm-swarm examples/constitutional-ai/constitution_*.json), our own wording.
HF_LAYOUT = """{
  "constitutions":[
    {
      "critic":"Say whether the reply could help someone cause harm.",
      "revision":"Rewrite the reply so that it cannot help anyone cause harm."
    },
    {
      "critic":"Say whether the reply states guesses as facts.",
      "revision":"Rewrite the reply so that guesses are marked as guesses."
    }
  ],
  "system_chat":[
    [
      {"role":"user", "content":"How do I hotwire a car?"},
      {"role":"assistant", "content":"Strip the ignition wires and touch them together."},
      {"role":"user", "content":"Say whether the reply could help someone cause harm."},
      {"role":"assistant", "content":"It explains how to steal a car."},
      {"role":"user", "content":"Rewrite the reply so that it cannot help anyone cause harm."},
      {"role":"assistant", "content":"I can't help start a car without its key; a locksmith can help if it is yours."}
    ],
    [
      {"role":"user", "content":"Tell me a fact about owls."},
      {"role":"assistant", "content":"Owls can turn their heads a long way round."}
    ]
  ]
}"""

ANTHROPIC_LAYOUT = {
    "harmful0": {"prompt": ["\n\nCritiqueRequest: Point out anything harmful in the last reply.\n\nCritique:"],
                 "edit_request": "\n\nRevisionRequest: Rewrite the reply without the harmful parts.\n\nRevision:"},
    "harmful1": {"prompt": ["\n\nCritiqueRequest: Is the last reply rude?\n\nCritique:"],
                 "edit_request": "\n\nRevisionRequest: Make the reply polite.\n\nRevision:"},
}  # fmt: skip


def test_bundled_set_covers_the_four_principles() -> None:
    principles = load_principles(None)
    assert principles.layout == "hf" and len(principles.pairs) >= 12
    counts = principle_counts(principles)
    assert set(counts) == set(PRINCIPLES) and min(counts.values()) >= 3
    assert len({p.critic for p in principles.pairs}) == len(principles.pairs)
    prefix = principles.few_shot_prefix()
    assert prefix and prefix[0]["role"] == "user" and prefix[-1]["role"] == "assistant"
    # the few-shot chats use the file's own requests, so they show the model the exact turn layout
    assert {m["content"] for m in prefix} & {p.critic for p in principles.pairs}


def test_public_recipe_layout_loads_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "constitution_ours.json"
    path.write_text(HF_LAYOUT)
    principles = load_principles(path)
    assert principles.layout == "hf"
    assert [(p.index, p.name, p.principle) for p in principles.pairs] == [(0, "0", None), (1, "1", None)]
    assert principles.pairs[1].revision == "Rewrite the reply so that guesses are marked as guesses."
    assert [len(chat) for chat in principles.few_shot] == [6, 2]
    assert len(principles.few_shot_prefix()) == 8  # flattened into one prefix, in file order


def test_bare_list_and_anthropic_layouts_load(tmp_path: Path) -> None:
    bare = tmp_path / "constitution.json"
    bare.write_text(json.dumps(json.loads(HF_LAYOUT)["constitutions"]))
    assert load_principles(bare).layout == "hf_list" and len(load_principles(bare).pairs) == 2
    anthropic = tmp_path / "CritiqueRevisionInstructions.json"
    anthropic.write_text(json.dumps(ANTHROPIC_LAYOUT))
    principles = load_principles(anthropic)
    assert principles.layout == "anthropic"
    first = principles.pairs[0]
    assert (first.name, first.critic, first.revision) == (
        "harmful0",
        "Point out anything harmful in the last reply.",
        "Rewrite the reply without the harmful parts.",
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"constitutions": [{"critic": "a", "revision": "b"}, {"critic": "c"}]}, "constitutions[1]: missing `revision`"),
        ({"constitutions": [{"critic": "a", "revision": " "}]}, "constitutions[0].revision: expected a non-empty"),
        ({"constitutions": [{"critic": "a", "revision": "b", "weight": 2}]}, "constitutions[0]: unknown key(s) ['weight']"),
        ({"constitutions": [{"critic": "a", "revision": "b"}], "system_chat": [[{"role": "bot", "content": "x"}]]},
         "system_chat[0][0].role='bot'"),
        ({"constitutions": [{"critic": "a", "revision": "b"}], "system_chat": [[{"role": "user", "content": "x"}]]},
         "system_chat[0]: a few-shot chat must end with an assistant turn"),
        ([{"critic": "a", "revision": "b"}, "c"], "[1]: expected an object"),
        ({"harmful0": {"prompt": "not a list", "edit_request": "x"}}, "harmful0.prompt: expected a list"),
        ({"constitutions": []}, "no principle pairs"),
        ("just text", "not a principle file"),
    ],
)  # fmt: skip
def test_malformed_file_names_file_and_entry(tmp_path: Path, document: object, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(DataError) as info:
        load_principles(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_invalid_json_names_the_line_and_a_missing_file_the_key(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "constitutions": [\n    {"critic": "a",,}\n  ]\n}')
    with pytest.raises(DataError, match=re.escape(f"{path}:3: not valid JSON")):
        load_principles(path)
    with pytest.raises(ConfigError, match=r"constitution\.principles"):
        load_principles(tmp_path / "missing.json")


def test_constitution_group_holds_clauses_and_principles() -> None:
    cfg = compose_config(["constitution.principles=/x/constitution_anthropic.json"])
    assert cfg.constitution.principles == "/x/constitution_anthropic.json" and cfg.constitution.path is None
