"""Prompt templates as data files: rendered prompts are byte-identical to the prompts the code built
before they moved to `demalign/data/prompts/` (so cached calls are reused), and rendering is strict."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from demalign.constitution.questions import question_messages
from demalign.errors import ConfigError
from demalign.judging.prompts import judge_messages
from demalign.llm.calls import ChatCall
from demalign.llm.templates import load_template, prompts_root

# Rendered by the code at c6b377d (prompts as Python strings), with the cache key of one call each.
FROZEN = json.loads((Path(__file__).parent / "data" / "frozen_prompts.json").read_text(encoding="utf-8"))
SETTINGS = {"temperature": 0.0, "max_tokens": 64, "seed": 0}


@pytest.mark.parametrize(
    ("case", "messages"),
    [
        ("pairwise", lambda: judge_messages("pairwise", "Be honest about uncertainty.", "Will it rain in Paris next month?",
                                            ["Nobody can know that for sure.", "Yes, certainly."])),
        ("listwise", lambda: judge_messages("listwise", "Respect disagreement.", "Is pineapple on pizza acceptable?",
                                            ["Tastes differ.", "No, never.", "Yes, $5 is fine {x}."])),
        ("questions", lambda: question_messages("Be kind to {everyone}.", 5)),
    ],
)  # fmt: skip
def test_rendered_prompts_and_cache_keys_are_unchanged(case: str, messages: Callable[[], list]) -> None:
    """Values holding `$` and braces pass through untouched (they are values, not template text)."""
    rendered = messages()
    assert rendered == FROZEN[case]["messages"]
    assert ChatCall("gpt-5.2", rendered, SETTINGS, 1).key == FROZEN[case]["key"]


def test_every_bundled_template_has_a_user_part_and_renders() -> None:
    names = sorted(p.name for p in prompts_root().iterdir() if p.is_dir())
    assert {
        "judge_pairwise",
        "judge_listwise",
        "labelled_response",
        "question_writer",
        "critic_pointwise",
    } <= set(names)
    for name in names:
        template = load_template(name)
        values = dict.fromkeys(template.placeholders, "v")
        for part in template.parts:
            used = {k: v for k, v in values.items() if f"${{{k}}}" in template.parts[part].template}
            assert "${" not in template.render(part, **used), (name, part)


def test_errors_name_the_folder_and_the_placeholder(tmp_path: Path) -> None:
    folder = tmp_path / "greet"
    folder.mkdir()
    (folder / "system.txt").write_text("You greet people.\n")
    (folder / "user.txt").write_text("Say hello to ${name} in ${language}.\n")
    template = load_template("greet", tmp_path)
    assert template.messages(name="Ada", language="French") == [
        {"role": "system", "content": "You greet people."},  # the file's final newline is not prompt text
        {"role": "user", "content": "Say hello to Ada in French."},
    ]
    with pytest.raises(ConfigError, match=r"greet/user.txt: no value for placeholder \$\{language\}"):
        template.messages(name="Ada")
    with pytest.raises(ConfigError, match=r"greet: no placeholder \$\{nmae\}"):
        template.messages(nmae="Ada", name="Ada", language="French")
    with pytest.raises(ConfigError, match=r"prompt template 'absent': no .txt files in .*absent"):
        load_template("absent", tmp_path)
