"""Every option of every config group composes, and every experiment overlay too."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from demalign.stages import STAGE_NAMES, stage_module
from tests.conftest import CONF_DIR, compose_config

# Folders that are not option groups: building blocks included by other options' defaults lists
# (api: the litellm call keys; panel_mechanics: how panels are drawn).
BUILDING_BLOCKS = {"api", "panel_mechanics"}
GROUPS = sorted(
    p.name
    for p in CONF_DIR.iterdir()
    if p.is_dir() and p.name not in {"hydra", "local", "experiment", *BUILDING_BLOCKS}
)
OPTIONS = [(group, path.stem) for group in GROUPS for path in sorted((CONF_DIR / group).glob("*.yaml"))]
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def _defaults() -> list:
    return OmegaConf.to_container(OmegaConf.load(CONF_DIR / "config.yaml"))["defaults"]


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_group_option_composes(group: str, option: str) -> None:
    cfg = compose_config([f"{group}={option}"])
    assert cfg[group] is not None
    OmegaConf.to_container(cfg, resolve=False)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_says_how_to_run_it(experiment: str) -> None:
    first_lines = (CONF_DIR / "experiment" / f"{experiment}.yaml").read_text().splitlines()[:3]
    assert first_lines[0] == "# @package _global_"
    assert any("demalign" in line for line in first_lines[1:]), "an experiment starts with its run command"
    compose_config([f"experiment={experiment}"])


def test_every_stage_reads_an_options_group_of_the_defaults_list() -> None:
    listed = {next(iter(entry)) for entry in _defaults() if isinstance(entry, dict)}
    for name in STAGE_NAMES:
        module = stage_module(name)
        assert module.OPTIONS in listed, name
        assert set(module.SHARED) <= listed, name
    assert stage_module("prepare").OPTIONS == "dataset"  # prepare's options are the dataset group


def test_default_groups_all_exist() -> None:
    for entry in _defaults():
        if isinstance(entry, dict):
            ((group, option),) = entry.items()
            if option is not None and not group.startswith("optional"):
                assert (Path(CONF_DIR) / group / f"{option}.yaml").is_file(), f"{group}={option}"


@pytest.mark.parametrize("block", sorted(BUILDING_BLOCKS))
def test_every_building_block_is_used(block: str) -> None:
    users = "\n".join(p.read_text() for p in CONF_DIR.rglob("*.yaml") if p.parent.name != block)
    for path in sorted((CONF_DIR / block).glob("*.yaml")):
        assert f"/{block}/{path.stem}@" in users or f"  - {path.stem}@" in users, path
