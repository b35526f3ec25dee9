"""Shared fixtures: compose the real config, generate small PRISM-shaped folders, run stages."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

import demalign.config  # noqa: F401  (registers the config schemas, as demalign.run does)
from demalign.prism import synthetic

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def compose_config(overrides: list[str] | None = None, output_dir: Path | None = None) -> DictConfig:
    """The real config as `demalign` would compose it, with overrides; outputs under output_dir."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides or []))
    if output_dir is not None:
        given = {o.split("=", 1)[0].lstrip("+~") for o in overrides or []}
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
            if "paths.cache_dir" not in given:  # a test naming a cache (a shared tiny model) keeps it
                cfg.paths.cache_dir = str(output_dir / "cache")
    return cfg


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    return lambda *overrides: compose_config(list(overrides), tmp_path / "outputs")


@pytest.fixture(scope="session")
def small_prism(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 120-user synthetic PRISM folder (all three files), shared read-only by tests."""
    out = tmp_path_factory.mktemp("prism-small")
    synthetic.write(synthetic.generate(120, seed=7, conversations_per_user=2.0), out)
    return out
