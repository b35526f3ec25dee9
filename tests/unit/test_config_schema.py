"""Typed config: every option validates against its schema at compose time; errors name the key; the
litellm call keys and the panel mechanics are defined once; nothing falls back silently."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from demalign.config import check_complete, schema
from demalign.errors import ConfigError
from demalign.prism.loading import load_configured
from tests.conftest import CONF_DIR, compose_config

ROOT = CONF_DIR.parent
UNTYPED = {"trainer"}  # any DPOConfig field may be added with +trainer.<field>=...
TOP_GROUPS = sorted(
    next(iter(entry))
    for entry in OmegaConf.to_container(OmegaConf.load(CONF_DIR / "config.yaml"))["defaults"]
    if isinstance(entry, dict) and not next(iter(entry)).startswith(("optional", "experiment"))
)
OPTIONS = [(g, p.stem) for g in TOP_GROUPS for p in sorted((CONF_DIR / g).glob("*.yaml"))]


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _own_keys(path: Path) -> set[str]:
    """Top-level keys a YAML file sets itself (its defaults list aside)."""
    return set(yaml.safe_load(path.read_text()) or {}) - {"defaults"}


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`demalign <args>` from this checkout, run folders under tmp_path."""
    return subprocess.run(
        [sys.executable, "-m", "demalign.run", *args, f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_is_typed_by_a_schema(group: str, option: str) -> None:
    cfg = compose_config([f"{group}={option}"])
    node_type = OmegaConf.get_type(cfg[group])
    if group in UNTYPED:
        assert node_type is dict
        return
    assert dataclasses.is_dataclass(node_type) and node_type.__module__.startswith("demalign.config."), (
        group,
        node_type,
    )
    # every schema field has a value in YAML (no key left to a code default)
    missing = sorted(k for k in _fields(node_type) if OmegaConf.is_missing(cfg[group], k))
    mandatory = ([], ["questions_dir"], ["responses_dir"], ["dataset"], ["sweep_dir"], ["root"], ["path"],
                 ["candidates"], ["critiques"], ["winners"], ["models"], ["distilled", "pool"])  # fmt: skip
    assert missing in mandatory, (group, missing)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("evaluate.num_judges=three", "Integer"),
        ("rank.bootstrap_samples=many", "Integer"),
        ("panel.tolerance=wide", "Float"),
        ("dataset.max_pairs=lots", "Integer"),
    ],
)
def test_wrong_type_fails_at_compose_naming_the_key(override: str, expected: str) -> None:
    with pytest.raises(Exception) as info:
        compose_config([override])
    message = str(info.value.__cause__)
    assert f"could not be converted to {expected}" in message
    assert f"full_key: {override.split('=')[0]}" in message


def test_wrong_type_on_the_cli_is_short_and_has_no_traceback(tmp_path: Path) -> None:
    done = _cli(tmp_path, "stage=evaluate", "evaluate.num_judges=three")
    assert done.returncode != 0
    assert "Value 'three' of type 'str' could not be converted to Integer" in done.stderr
    assert "full_key: evaluate.num_judges" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "run").exists()  # rejected before any run folder is made


@pytest.mark.parametrize(
    ("override", "choices"),
    [
        ("evaluate.mode=pairs", "[pairwise, listwise, both]"),
        ("questions.backend=openai", "[bank, litellm]"),
        ("rank.ties=draw", "[half, davidson]"),
        ("rank.methods=[borda,elo]", "[bradley_terry, plackett_luce, borda, copeland, kemeny]"),
        ("dataset_mode.name=mixed", "[full, us_rep, hard, soft]"),
        ("dataset.pairs=best", "[all_lower, chosen_vs_worst]"),
        ("dataset.format=text", "[chat, raw]"),
        ("panel.algorithm=greedy", "[legacy, leximin, random]"),
        ("judge.backend=gpt", "[heuristic, litellm, hf]"),
        ("data.source=hub", "[bundled, folder]"),
        ("select.policy=top", "[best, margin, diverse]"),
        ("select.format=chat", "[prompt_completion, messages, raw]"),
    ],
)
def test_wrong_choice_lists_the_valid_values(override: str, choices: str) -> None:
    with pytest.raises(Exception) as info:
        compose_config([override])
    message = str(info.value.__cause__)
    assert choices in message and f"full_key: {override.split('=')[0]}" in message


def test_wrong_choice_on_the_cli_lists_the_valid_values(tmp_path: Path) -> None:
    done = _cli(tmp_path, "stage=evaluate", "evaluate.mode=pairs")
    assert done.returncode != 0
    assert "Invalid value 'pairs', expected one of [pairwise, listwise, both]" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_missing_mandatory_key_is_one_line_naming_it(tmp_path: Path) -> None:
    done = _cli(tmp_path, "stage=evaluate")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "demalign: error: missing mandatory config key evaluate.responses_dir: set it on the command line "
        "(evaluate.responses_dir=...), or run a recipe that hands it over"
    ]


def test_prism_without_root_is_an_error_naming_data_root(tmp_path: Path) -> None:
    """data=prism without data.root used to load the bundled sample without a word."""
    done = _cli(tmp_path, "stage=prepare", "data=prism")
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("demalign: error: data.root is not set")
    assert "huggingface.co/datasets/HannahRoseKirk/prism-alignment" in line and "data=sample" in line
    assert not (tmp_path / "run" / "dataset.jsonl").exists()


def test_data_source_is_explicit() -> None:
    """The sample is selected by `data.source: bundled`, not by an absent root; a root given with the
    bundled source, or no root with the folder source, is an error."""
    assert compose_config([]).data.source == "bundled"
    assert compose_config(["data=prism", "data.root=/x"]).data.source == "folder"
    with pytest.raises(ConfigError, match=r"data.root=/somewhere is set but data.source=bundled"):
        load_configured(compose_config(["data.root=/somewhere"]).data)
    with pytest.raises(ConfigError, match=r"data.root is not set"):
        load_configured({"name": "mine", "source": "folder", "root": None})
    assert len(load_configured(compose_config([]).data).survey) == 200


def test_litellm_call_keys_are_defined_once() -> None:
    """conf/api/calls.yaml and conf/api/litellm.yaml set every call key; judge=litellm, questions and
    generate.api take them from there (Hydra defaults) and repeat none."""
    call_keys, model_keys = (
        _fields(schema.ApiCallsConf),
        _fields(schema.LiteLLMConf) - _fields(schema.ApiCallsConf),
    )
    assert _own_keys(CONF_DIR / "api" / "calls.yaml") == call_keys
    assert _own_keys(CONF_DIR / "api" / "litellm.yaml") == model_keys
    for consumer in ("judge/litellm.yaml", "questions/default.yaml"):
        assert not _own_keys(CONF_DIR / consumer) & (call_keys | model_keys), consumer
    assert "api" not in _own_keys(CONF_DIR / "generate" / "default.yaml")
    for text in (p.read_text() for p in CONF_DIR.rglob("*.yaml") if p.parent.name != "api"):
        for key in (
            "requests_per_minute",
            "client_processes",
            "retry_backoff",
            "max_backoff",
            "num_workers: 8",
        ):
            assert f"\n{key}" not in text and f" {key}:" not in text
    cfg = compose_config(["judge=litellm"])
    for node in (cfg.judge, cfg.questions, cfg.generate.api):
        assert {k: node[k] for k in call_keys} == {k: cfg.judge[k] for k in call_keys}
    assert cfg.questions.model == cfg.judge.model


def test_panel_mechanics_are_defined_once() -> None:
    mechanics = _fields(schema.PanelMechanicsConf)
    assert _own_keys(CONF_DIR / "panel_mechanics" / "default.yaml") == mechanics
    specs = sorted((CONF_DIR / "panel").glob("*.yaml"))
    assert len(specs) >= 2
    for spec in specs:
        assert not _own_keys(spec) & mechanics, spec.name
        assert "/panel_mechanics/default@_here_" in spec.read_text()
        panel = compose_config([f"panel={spec.stem}"]).panel
        assert panel.algorithm == "leximin" and panel.tolerance == 0.10


def test_enum_values_read_as_plain_strings() -> None:
    """Readers compare, format and serialise choices as strings (StrEnum members named by value)."""
    cfg = compose_config(["evaluate.mode=both"])
    assert cfg.evaluate.mode == "both" and f"{cfg.evaluate.mode}" == "both" and str(cfg.rank.ties) == "half"
    assert OmegaConf.to_yaml(cfg.evaluate).count("mode: both") == 1


def test_a_panel_spec_without_the_mechanics_is_an_error_not_library_defaults() -> None:
    """A user's spec from --config-dir that skips the defaults list used to get PanelSpec's library
    defaults (seed 0 instead of the global seed, ...) without a word."""
    own_spec = OmegaConf.create({"panel_size": 5, "locale_filter": None, "attributes": []})
    with pytest.raises(ConfigError, match=r"panel.algorithm, panel.leximin_initial_committees.*panel.seed"):
        check_complete(own_spec, schema.PanelConf, "panel", "include the mechanics")
    check_complete(compose_config([]).panel, schema.PanelConf, "panel", "")
