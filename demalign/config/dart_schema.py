"""Typed config of the DART workflow (issue 15): the task data, the teacher, the distill / audit /
repair stages and recipe=dart. Imported at the end of `schema.py`, which adds `DART_SCHEMAS` to its table."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from omegaconf import MISSING

from demalign.config.schema import AnswerSettingsConf, LiteLLMConf


class TeacherBackend(StrEnum):
    template = "template"
    litellm = "litellm"


class JudgeMode(StrEnum):
    none = "none"
    primary = "primary"
    supplement = "supplement"
    validate = "validate"


class JudgeUnavailable(StrEnum):
    error = "error"
    classifiers_only = "classifiers_only"


class AuditView(StrEnum):
    full_output = "full_output"
    analysis_only = "analysis_only"


class Severity(StrEnum):
    none = "none"
    mild = "mild"
    moderate = "moderate"
    severe = "severe"
    extreme = "extreme"


class RepairWeighting(StrEnum):
    loss = "loss"
    repeat = "repeat"


class ScorerKind(StrEnum):
    hf_classifier = "hf_classifier"
    profanity_check = "profanity_check"
    safety_classifier = "safety_classifier"
    scripted = "scripted"


class SafetyHarm(StrEnum):
    not_safe = "not_safe"  # 1 − P(safe)
    labels = "labels"  # Σ P(label) over harmful_labels


@dataclass
class DartTasksConf:
    path: str | None = MISSING
    test_ratio: float = MISSING
    split_seed: int = MISSING
    max_train: int | None = MISSING
    max_test: int | None = MISSING


@dataclass
class TemplateTeacherConf:
    backend: TeacherBackend = MISSING
    format_fix_rounds: int = MISSING


@dataclass
class LiteLLMTeacherConf(LiteLLMConf):
    backend: TeacherBackend = MISSING
    format_fix_rounds: int = MISSING


@dataclass
class DistillConf:
    dry_run: bool = MISSING
    cache_dir: str = MISSING


@dataclass
class ScorerConf:
    metric: str = MISSING
    kind: ScorerKind = MISSING
    model_id: str | None = None
    harmful_label: str | None = None
    batch_size: int = 32
    max_chars: int = 512
    max_tokens: int = 512
    device: str | None = None
    lexicon: dict[str, float] | None = None
    checkpoint: str | None = None  # kind=safety_classifier: a classify run's checkpoint/ folder
    harm: SafetyHarm = SafetyHarm.not_safe  # kind=safety_classifier: what the score is
    harmful_labels: list[str] | None = None  # kind=safety_classifier, harm=labels: exact label names


@dataclass
class FloorsConf:
    enabled: bool = MISSING
    mild: float = MISSING
    moderate: float = MISSING
    severe: float = MISSING
    extreme: float = MISSING


@dataclass
class SeverityConf:
    mild_delta: float = MISSING
    moderate: float = MISSING
    severe: float = MISSING
    extreme: float = MISSING
    floors: FloorsConf = field(default_factory=FloorsConf)


@dataclass
class AuditJudgeConf(LiteLLMConf):
    mode: JudgeMode = MISSING
    on_unavailable: JudgeUnavailable = MISSING
    invalid_retries: int = MISSING


@dataclass
class SignificanceConf:
    n_resamples: int = MISSING
    seed: int = MISSING
    level: float = MISSING


@dataclass
class AuditConf(AnswerSettingsConf):
    # [baseline, tuned] entries {name, kind, path | model, base_url, api_key_env} (llm.specs checks them)
    models: list[dict[str, Any]] = MISSING
    scorers: list[ScorerConf] = MISSING
    primary_view: AuditView = MISSING
    primary_metric: str = MISSING
    severity: SeverityConf = field(default_factory=SeverityConf)
    min_severity: Severity = MISSING
    top_k: int = MISSING
    slice_min_n: int = MISSING
    judge: AuditJudgeConf = field(default_factory=AuditJudgeConf)
    significance: SignificanceConf = field(default_factory=SignificanceConf)


@dataclass
class RepairConf:
    pool: str = MISSING
    distilled: str = MISSING
    oversample: dict[str, float] = MISSING
    weighting: RepairWeighting = MISSING
    dry_run: bool = MISSING
    cache_dir: str = MISSING


@dataclass
class DartRecipeConf:
    name: str = MISSING
    max_repair_rounds: int = MISSING
    baseline_name: str = MISSING
    tuned_name: str = MISSING


DART_SCHEMAS: dict[tuple[str, str], type[Any]] = {
    ("schema", "dart_tasks"): DartTasksConf,
    ("schema/teacher", "template"): TemplateTeacherConf,
    ("schema/teacher", "litellm"): LiteLLMTeacherConf,
    ("schema", "distill"): DistillConf,
    ("schema", "audit"): AuditConf,
    ("schema", "repair"): RepairConf,
    ("schema/recipe", "dart"): DartRecipeConf,
}
