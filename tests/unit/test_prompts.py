"""Prompt sets (demalign/promptsets/, conf/prompts/): the bundled sets, file and hub loading with a
column mapping, errors that name file:line and the column, the seeded limit and held-out split."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from demalign.errors import ConfigError, DataError
from demalign.promptsets import (
    BUNDLED_CATEGORIES,
    ColumnMapping,
    PromptRow,
    bundled_path,
    drop_duplicate_prompts,
    eval_count,
    first_human_turn,
    limit_per_category,
    load_bundled,
    load_configured,
    load_file,
    load_hub,
    read_prompts,
    split_eval,
    write_prompts,
)
from tests.conftest import CONF_DIR, compose_config

ROOT = CONF_DIR.parent
HH_MAPPING = ColumnMapping(
    prompt_column="chosen",
    id_column=None,
    generate_ids=True,
    category_column=None,
    category="adversarial",
    extractor="first_human_turn",
)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _jsonl(path: Path, rows: list[dict]) -> Path:
    return _write(path, "".join(json.dumps(r) + "\n" for r in rows))


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


# ---- bundled sets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("category", BUNDLED_CATEGORIES)
def test_each_bundled_set_has_at_least_40_prompts_of_its_category(category: str) -> None:
    rows = load_bundled([category])
    assert len(rows) >= 40
    assert {r.category for r in rows} == {category}
    prefix = {"adversarial": "adv", "borderline": "bdl", "cooperative": "coop"}[category]
    assert all(re.fullmatch(rf"{prefix}-\d{{3}}", r.id) for r in rows)
    # every line is exactly {id, prompt, category}
    for line in bundled_path(category).read_text().splitlines():
        assert set(json.loads(line)) == {"id", "prompt", "category"}


def test_bundled_ids_are_unique_and_no_two_prompts_are_near_duplicates() -> None:
    """Near duplicate: two prompts sharing more than 80% of the smaller one's words (overlap coefficient)."""
    rows = load_bundled()
    assert len({r.id for r in rows}) == len(rows) >= 120
    for a, b in itertools.combinations(rows, 2):
        wa, wb = _words(a.prompt), _words(b.prompt)
        overlap = len(wa & wb) / min(len(wa), len(wb))
        assert overlap <= 0.8, (a.id, b.id, overlap)


def test_default_config_loads_all_three_bundled_sets_and_splits_them() -> None:
    cfg = compose_config([]).prompts
    assert cfg.source == "bundled" and list(cfg.categories) == list(BUNDLED_CATEGORIES)
    prompt_set = load_configured(cfg)
    assert {r.category for r in prompt_set.rows} == set(BUNDLED_CATEGORIES)
    assert prompt_set.files == [bundled_path(c) for c in BUNDLED_CATEGORIES]
    split = prompt_set.split(cfg.eval_ratio, cfg.seed)
    assert split.counts["adversarial"]["eval"] == eval_count(split.counts["adversarial"]["prompts"], 0.25)
    assert "| **all** | " in split.markdown()


def test_bundled_categories_and_limit_come_from_the_config() -> None:
    cfg = compose_config(["prompts.categories=[borderline,cooperative]", "prompts.limit=5"]).prompts
    prompt_set = load_configured(cfg)
    assert [r.category for r in prompt_set.rows] == ["borderline"] * 5 + ["cooperative"] * 5
    assert "limit 5 per category (seeded sample): borderline 45 → 5, cooperative 45 → 5" in prompt_set.notes


def test_a_wrong_bundled_category_fails_at_compose_listing_the_choices() -> None:
    with pytest.raises(Exception) as info:
        compose_config(["prompts.categories=[adversarial,harmful]"])
    message = str(info.value.__cause__)
    assert "[adversarial, borderline, cooperative]" in message and "prompts.categories" in message


@pytest.mark.parametrize(
    ("override", "choices"),
    [
        ("prompts=hh_rlhf prompts.extractor=last_turn", "[none, first_human_turn]"),
        ("prompts=file prompts.format=xlsx", "[auto, jsonl, csv]"),
        ("prompts.source=web", "[bundled, file, hub]"),
    ],
)
def test_wrong_choices_list_the_valid_values(override: str, choices: str) -> None:
    with pytest.raises(Exception) as info:
        compose_config(override.split())
    assert choices in str(info.value.__cause__)


# ---- files: JSONL and CSV with a column mapping ---------------------------------------------------------


def test_jsonl_with_a_column_mapping(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "mine.jsonl",
        [
            {"key": 7, "text": "  How do tides work?  ", "kind": "coop"},
            {"key": "b", "text": "Hi", "kind": "x"},
        ],
    )
    mapping = ColumnMapping(id_column="key", prompt_column="text", category_column="kind")
    assert load_file(path, mapping) == [
        PromptRow("7", "How do tides work?", "coop"),  # an integer id becomes text; prompts are stripped
        PromptRow("b", "Hi", "x"),
    ]


def test_csv_with_quotes_a_multiline_field_and_a_constant_category(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "red.csv",
        'qid,question\nr1,"Tell me, quickly, a secret"\n\nr2,"two\nlines"\nr3,plain\n',
    )
    mapping = ColumnMapping(
        id_column="qid", prompt_column="question", category_column=None, category="adversarial"
    )
    assert load_file(path, mapping) == [
        PromptRow("r1", "Tell me, quickly, a secret", "adversarial"),
        PromptRow("r2", "two\nlines", "adversarial"),
        PromptRow("r3", "plain", "adversarial"),
    ]


def test_generated_ids_only_when_asked(tmp_path: Path) -> None:
    """No id column: an error pointing at generate_ids; with generate_ids=true the ids are <stem>-<row>,
    rows counted 1-based without blank lines."""
    path = _write(tmp_path / "asks.csv", "prompt,category\nfirst,a\n\nsecond,b\n")
    with pytest.raises(DataError) as info:
        load_file(path)
    assert str(info.value).startswith(
        f"{path}:2: no column 'id' (the id column; columns found: prompt, category)"
    )
    assert "prompts.id_column" in str(info.value)
    with pytest.raises(ConfigError, match=r"prompts.id_column is null and prompts.generate_ids=false"):
        ColumnMapping(id_column=None)
    rows = load_file(path, ColumnMapping(id_column=None, generate_ids=True))
    assert [r.id for r in rows] == ["asks-1", "asks-2"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id_column": "id", "generate_ids": True}, r"prompts.generate_ids=true but prompts.id_column=id"),
        (
            {"category_column": None, "category": None},
            r"exactly one of prompts.category_column .* prompts.category",
        ),
        ({"category_column": "c", "category": "x"}, r"exactly one of prompts.category_column"),
        ({"extractor": "last"}, r"prompts.extractor=last: expected one of none, first_human_turn"),
    ],
)
def test_contradictory_mappings_are_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ColumnMapping(**kwargs)


def test_file_config_with_generate_ids_and_category_filter(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "set.jsonl",
        [{"p": "one", "c": "a"}, {"p": "two", "c": "b"}, {"p": "ONE ", "c": "a"}, {"p": "three", "c": "a"}],
    )
    cfg = compose_config(
        ["prompts=file", f"prompts.path={path}", "prompts.id_column=null", "prompts.generate_ids=true",
         "prompts.prompt_column=p", "prompts.category_column=c", "prompts.categories=[a]"]
    ).prompts  # fmt: skip
    prompt_set = load_configured(cfg)
    assert [(r.id, r.prompt) for r in prompt_set.rows] == [("set-1", "one"), ("set-4", "three")]
    assert prompt_set.notes == [
        "dropped 1 repeated prompt(s) (same text up to case and spacing), kept the first"
    ]
    assert prompt_set.files == [path]
    with pytest.raises(
        DataError, match=r"prompts.categories names 'c', which no prompt has \(categories found: a, b\)"
    ):
        load_configured({**cfg, "categories": ["c"]})


def test_file_without_a_path_is_a_missing_mandatory_key() -> None:
    cfg = compose_config(["prompts=file"]).prompts
    with pytest.raises(
        ConfigError, match=r"missing mandatory config key prompts.path: set it .*\(prompts.path=\.\.\.\)"
    ):
        load_configured(cfg)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "bad.jsonl",
            '{"id": "a", "prompt": "x", "category": "c"}\n\n{"id": "b", "prompt": "y" "category": "c"}\n',
            r"bad.jsonl:3: malformed JSON",
        ),
        (
            "list.jsonl",
            '{"id": "a", "prompt": "x", "category": "c"}\n["b"]\n',
            r"list.jsonl:2: expected a JSON object",
        ),
        (
            "short.csv",
            "id,prompt,category\na,x,c\nb,y\n",
            r"short.csv:3: malformed CSV: 2 fields, the header has 3 \(id, prompt, category\)",
        ),
        (
            "quote.csv",
            'id,prompt,category\na,x,c\nb,"y,c\n',
            r"quote.csv:3: malformed CSV \(unexpected end of data\)",
        ),
        ("twice.csv", "id,prompt,prompt\na,x,y\n", r"twice.csv:1: repeated column name\(s\) prompt"),
        (
            "nocol.jsonl",
            '{"id": "a", "prompt": "x", "category": "c"}\n{"id": "b", "text": "y", "category": "c"}\n',
            r"nocol.jsonl:2: no column 'prompt' \(the prompt column; columns found: id, text, category\); "
            r"set prompts.prompt_column=<one of them>",
        ),
        (
            "nocat.csv",
            "id,prompt,label\na,x,c\n",
            r"nocat.csv:2: no column 'category' \(the category column; columns found: id, prompt, label\)",
        ),
        (
            "dup.jsonl",
            '{"id": "a", "prompt": "x", "category": "c"}\n{"id": "b", "prompt": "y", "category": "c"}\n'
            '{"id": "a", "prompt": "z", "category": "c"}\n',
            r"dup.jsonl:3: duplicate id 'a' \(first at .*dup.jsonl:1\)",
        ),
        (
            "dup.csv",
            "id,prompt,category\n7,x,c\n7,y,c\n",
            r"dup.csv:3: duplicate id '7' \(first at .*dup.csv:2\)",
        ),
        (
            "empty.csv",
            'id,prompt,category\na,x,c\nb,"   ",c\n',
            r"empty.csv:3: empty prompt in column 'prompt'",
        ),
        ("empty.jsonl", '{"id": "a", "prompt": "", "category": "c"}\n', r"empty.jsonl:1: empty prompt"),
        (
            "noid.jsonl",
            '{"id": " ", "prompt": "x", "category": "c"}\n',
            r"noid.jsonl:1: empty id in column 'id'",
        ),
        ("nocat.jsonl", '{"id": "a", "prompt": "x", "category": ""}\n', r"nocat.jsonl:1: empty category"),
        (
            "kind.jsonl",
            '{"id": "a", "prompt": ["x"], "category": "c"}\n',
            r"kind.jsonl:1: column 'prompt' \(prompt\) holds list, expected text",
        ),
        (
            "null.jsonl",
            '{"id": null, "prompt": "x", "category": "c"}\n',
            r"null.jsonl:1: column 'id' \(id\) holds null",
        ),
        ("blank.jsonl", "\n\n", r"blank.jsonl: the file holds no prompts"),
        ("blank.csv", "", r"blank.csv: empty CSV file \(no header line\)"),
        ("header.csv", "id,prompt,category\n", r"header.csv: the file holds no prompts"),
    ],
)
def test_file_errors_name_the_file_line_and_column(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = _write(tmp_path / name, text)
    with pytest.raises(DataError, match=expected) as info:
        load_file(path)
    assert str(info.value).startswith(str(path))


def test_unknown_suffix_missing_file_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"cannot tell the format from the suffix '.txt'; set prompts.format=jsonl"
    ):
        load_file(_write(tmp_path / "p.txt", "x"))
    assert load_file(_write(tmp_path / "p.txt", "id,prompt,category\na,x,c\n"), fmt="csv") == [
        PromptRow("a", "x", "c")
    ]
    with pytest.raises(DataError, match=r"nope.jsonl: no such file; set prompts.path"):
        load_file(tmp_path / "nope.jsonl")
    (tmp_path / "latin.csv").write_bytes("id,prompt,category\na,caf\xe9,c\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.csv: not UTF-8 text"):
        load_file(tmp_path / "latin.csv")


def test_write_and_read_round_trip(tmp_path: Path) -> None:
    rows = [PromptRow("a", 'x, "quoted"\nnext', "c"), PromptRow("b", "y", "d")]
    assert write_prompts(tmp_path / "p.jsonl", rows) == 2
    assert read_prompts(tmp_path / "p.jsonl") == rows


# ---- extractor and the hub ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "\n\nHuman: What is a cuss word?\n\nAssistant: Well...\n\nHuman: More?\n\nAssistant: No.",
            "What is a cuss word?",
        ),
        ("\n\nHuman: Two lines\nof question \n\nAssistant: ok", "Two lines\nof question"),
        ("Human: no leading newlines\n\nAssistant:", "no leading newlines"),
        ("\n\nHuman: no answer yet", "no answer yet"),
    ],
)
def test_first_human_turn(text: str, expected: str) -> None:
    assert first_human_turn(text) == expected


def test_first_human_turn_rejects_other_text() -> None:
    with pytest.raises(ValueError, match=r"does not start with a 'Human:' turn"):
        first_human_turn("\n\nAssistant: hello\n\nHuman: hi")


def _hh_rows() -> dict[str, list[str]]:
    chosen = [
        "\n\nHuman: How do I pick a lock?\n\nAssistant: I can't help with that.",
        "\n\nHuman: Say something mean about my boss.\n\nAssistant: How about we talk it through?",
        "\n\nHuman: How do I pick a lock?\n\nAssistant: Locksmiths can help.",  # a repeated first turn
        "\n\nHuman: Tell me a joke\n\nAssistant: Sure.\n\nHuman: A dirty one\n\nAssistant: No.",
    ]
    return {"chosen": chosen, "rejected": [c.replace("Assistant:", "Assistant: Sure!") for c in chosen]}


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """`datasets.load_dataset` answers with a small in-memory Dataset in hh-rlhf's layout; the calls are recorded."""
    calls: list[dict] = []

    def load_dataset(path: str, **kwargs: object) -> datasets.Dataset:
        calls.append({"path": path, **kwargs})
        return datasets.Dataset.from_dict(_hh_rows())

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hh_rlhf_config_through_a_monkeypatched_hub(fake_hub: list[dict]) -> None:
    cfg = compose_config(["prompts=hh_rlhf"]).prompts
    prompt_set = load_configured(cfg)
    assert fake_hub == [
        {"path": "Anthropic/hh-rlhf", "data_dir": "harmless-base", "split": "test", "revision": None}
    ]
    assert [r.to_dict() for r in prompt_set.rows] == [
        {"id": "hh-rlhf-harmless-base-test-1", "prompt": "How do I pick a lock?", "category": "adversarial"},
        {
            "id": "hh-rlhf-harmless-base-test-2",
            "prompt": "Say something mean about my boss.",
            "category": "adversarial",
        },
        {"id": "hh-rlhf-harmless-base-test-4", "prompt": "Tell me a joke", "category": "adversarial"},
    ]
    assert prompt_set.notes == [
        "dropped 1 repeated prompt(s) (same text up to case and spacing), kept the first"
    ]
    assert prompt_set.source == (
        "Hugging Face Anthropic/hh-rlhf (data_dir harmless-base, split test), first_human_turn of column 'chosen'"
    )
    assert prompt_set.files == []


def test_hub_missing_column_and_unreadable_row(fake_hub: list[dict], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError) as info:
        load_hub(
            "Anthropic/hh-rlhf",
            "test",
            ColumnMapping(prompt_column="prompt", category="a", category_column=None),
        )
    assert str(info.value) == (
        "Anthropic/hh-rlhf (split test): no column 'id' (the id column; columns found: chosen, rejected); "
        "set prompts.id_column=<one of them>"
    )
    with pytest.raises(
        DataError, match=r"no column 'text' \(the prompt column; columns found: chosen, rejected\)"
    ):
        load_hub("x/y", "test", ColumnMapping(prompt_column="text", id_column=None, generate_ids=True,
                                             category="a", category_column=None))  # fmt: skip
    mapping = ColumnMapping(
        prompt_column="rejected", id_column=None, generate_ids=True, category="a", category_column=None,
        extractor="first_human_turn",
    )  # fmt: skip
    datasets_rows = _hh_rows()
    datasets_rows["rejected"][1] = "Assistant: out of order"
    fake = datasets.Dataset.from_dict(datasets_rows)
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: fake)
    with pytest.raises(
        DataError, match=r"x/y \(data_dir d, split train\) row 2: column 'rejected' does not start"
    ):
        load_hub("x/y", "train", mapping, data_dir="d")


def test_offline_hub_is_a_data_error_naming_the_dataset(tmp_path: Path) -> None:
    """The real `datasets.load_dataset` under HF_HUB_OFFLINE=1 (tests/conftest.py) with nothing cached."""
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    with pytest.raises(DataError) as info:
        load_hub("demalign-tests/no-such-prompts", "test", HH_MAPPING, data_dir="harmless-base")
    message = str(info.value)
    assert message.startswith("cannot load the Hugging Face dataset 'demalign-tests/no-such-prompts'")
    assert "hub is unreachable" in message
    assert "huggingface-cli download demalign-tests/no-such-prompts --repo-type dataset" in message
    assert "prompts=file prompts.path=" in message


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionError("Couldn't reach 'x/y' on the Hub (LocalEntryNotFoundError)"), DataError),
        (type("ConnectTimeout", (OSError,), {})("timed out"), DataError),
        (datasets.exceptions.DatasetNotFoundError("Dataset 'x/y' doesn't exist on the Hub"), DataError),
        (ValueError("Unknown split \"tst\". Should be one of ['train', 'test']."), ConfigError),
    ],
)
def test_hub_failures_become_demalign_errors(
    monkeypatch: pytest.MonkeyPatch, error: Exception, expected: type
) -> None:
    def load_dataset(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(expected) as info:
        load_hub("x/y", "tst", HH_MAPPING)
    assert "x/y" in str(info.value) or "prompts.split=tst" in str(info.value)


def test_a_local_download_folder_loads_with_the_real_loader(tmp_path: Path) -> None:
    """prompts.dataset=DIR after `huggingface-cli download Anthropic/hh-rlhf --local-dir DIR`: the
    real `datasets.load_dataset` reads DIR/harmless-base/test.jsonl.gz offline."""
    folder = tmp_path / "hh-rlhf" / "harmless-base"
    folder.mkdir(parents=True)
    for split in ("train", "test"):
        with gzip.open(folder / f"{split}.jsonl.gz", "wt") as handle:
            for row in zip(*_hh_rows().values(), strict=True):
                handle.write(json.dumps(dict(zip(("chosen", "rejected"), row, strict=True))) + "\n")
    rows = load_hub(str(tmp_path / "hh-rlhf"), "test", HH_MAPPING, data_dir="harmless-base")
    assert [r.id for r in rows] == [f"hh-rlhf-harmless-base-test-{i}" for i in range(1, 5)]
    assert rows[3].prompt == "Tell me a joke"
    cfg = compose_config(["prompts=hh_rlhf", f"prompts.dataset={tmp_path / 'hh-rlhf'}"]).prompts
    assert load_configured(cfg).files == [folder]


# ---- limit and held-out split -------------------------------------------------------------------------


def _rows(sizes: dict[str, int]) -> list[PromptRow]:
    return [PromptRow(f"{c}-{i}", f"{c} prompt {i}", c) for c, n in sizes.items() for i in range(n)]


def test_limit_is_a_seeded_sample_per_category_in_input_order() -> None:
    rows = _rows({"a": 10, "b": 3})
    picked = limit_per_category(rows, 4, seed=1)
    assert [r.category for r in picked] == ["a"] * 4 + ["b"] * 3
    assert picked == [r for r in rows if r in picked]  # input order kept
    assert picked == limit_per_category(list(reversed(rows))[::-1], 4, seed=1)
    assert {r.id for r in limit_per_category(rows, 4, seed=2)} != {r.id for r in picked}
    assert limit_per_category(rows, None, seed=1) == rows
    with pytest.raises(ConfigError, match=r"prompts.limit=0"):
        limit_per_category(rows, 0, seed=1)


@pytest.mark.parametrize(
    ("n", "ratio", "expected"),
    [
        (10, 0.25, 3),
        (8, 0.25, 2),
        (2, 0.1, 1),
        (1, 0.5, 0),
        (4, 0.9, 3),
        (0, 0.25, 0),
        (5, 0.0, 0),
        (45, 0.25, 11),
    ],
)
def test_eval_count_worked_numbers(n: int, ratio: float, expected: int) -> None:
    assert eval_count(n, ratio) == expected


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5])
def test_eval_ratio_out_of_range_is_a_config_error(ratio: float) -> None:
    with pytest.raises(ConfigError, match=rf"prompts.eval_ratio={ratio}: expected 0 <= eval_ratio < 1"):
        eval_count(3, ratio)


def test_a_category_of_one_prompt_goes_to_train_and_the_report_says_so() -> None:
    split = split_eval(_rows({"big": 8, "solo": 1}), 0.25, seed=0)
    assert [r.id for r in split.train if r.category == "solo"] == ["solo-0"]
    assert split.counts == {
        "big": {"prompts": 8, "train": 6, "eval": 2},
        "solo": {"prompts": 1, "train": 1, "eval": 0},
    }
    assert split.notes == [
        "category 'solo' has a single prompt: it stays in train and the eval set has none of this category"
    ]
    assert "| solo | 1 | 1 | 0 |" in split.markdown() and "single prompt" in split.markdown()
    none_held = split_eval(_rows({"a": 3}), 0.0, seed=0)
    assert none_held.eval == [] and none_held.notes == ["eval_ratio is 0: no prompts are held out"]


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=5),
    ratio=st.floats(min_value=0.0, max_value=0.95),
    seed=st.integers(min_value=0, max_value=2**31),
)
def test_split_partitions_and_stratifies(sizes: list[int], ratio: float, seed: int) -> None:
    """train ∪ eval = all, disjoint, each in input order; per category |eval − n·ratio| ≤ 1; the same
    rows in another order give the same split; a larger ratio only adds eval rows."""
    rows = _rows({f"c{i}": n for i, n in enumerate(sizes)})
    split = split_eval(rows, ratio, seed)
    ids = [r.id for r in rows]
    assert sorted(r.id for r in split.train + split.eval) == sorted(ids)
    assert not {r.id for r in split.train} & {r.id for r in split.eval}
    assert split.train == [r for r in rows if r in split.train] and split.eval == [
        r for r in rows if r in split.eval
    ]
    for category, n in ((f"c{i}", n) for i, n in enumerate(sizes) if n):
        held = sum(r.category == category for r in split.eval)
        assert abs(held - n * ratio) <= 1, (category, n, held)
        assert held < n or n == 0
    shuffled = split_eval(list(reversed(rows)), ratio, seed)
    assert {r.id for r in shuffled.eval} == {r.id for r in split.eval}
    assert {r.id for r in split.eval} <= {r.id for r in split_eval(rows, min(0.95, ratio + 0.2), seed).eval}


def test_split_is_the_same_in_other_processes() -> None:
    """Different PYTHONHASHSEEDs, same seed → the same eval ids as this process computes."""
    code = (
        "import json; from demalign.promptsets import load_bundled, split_eval; "
        "print(json.dumps([r.id for r in split_eval(load_bundled(), 0.25, 11).eval]))"
    )
    here = [r.id for r in split_eval(load_bundled(), 0.25, 11).eval]
    for hash_seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == here
    assert here != [r.id for r in split_eval(load_bundled(), 0.25, 12).eval]


def test_drop_duplicate_prompts_keeps_the_first() -> None:
    rows = [
        PromptRow("a", "Hello  World", "x"),
        PromptRow("b", "hello world", "y"),
        PromptRow("c", "other", "x"),
    ]
    assert drop_duplicate_prompts(rows) == ([rows[0], rows[2]], 1)
