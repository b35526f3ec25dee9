"""Structured-config schemas: the type of every config key and the choices of every option.

The YAML files under `conf/` hold the values and the one-line comments; these dataclasses hold only
types (every field is MISSING here, so a value exists in exactly one place). Each YAML option names its
schema first in its defaults list (`- /schema/<group>@_here_`), so Hydra checks types and choices at
compose time: `evaluate.num_judges=three` or `evaluate.mode=pairs` fails before any stage runs,
naming the key and the expected type or the valid values.

Enum members are named by their YAML spelling (OmegaConf matches names) and are `StrEnum`s, so code
reading a key gets a value that compares, hashes, formats and serialises as the plain string.
Imported by `demalign.run` before composing: keep it free of heavy imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from omegaconf import MISSING

# ---- choices ----------------------------------------------------------------------------------------


class DataSource(StrEnum):
    bundled = "bundled"  # the synthetic sample shipped in demalign/data/sample
    folder = "folder"  # PRISM-schema files under data.root


class PanelAlgorithm(StrEnum):
    legacy = "legacy"
    leximin = "leximin"
    random = "random"


class UnlistedCategories(StrEnum):
    error = "error"
    slack = "slack"
    exclude = "exclude"


class Solver(StrEnum):
    cbc = "cbc"
    highs = "highs"


class DatasetModeName(StrEnum):
    full = "full"
    us_rep = "us_rep"
    hard = "hard"
    soft = "soft"


class PairStrategy(StrEnum):
    all_lower = "all_lower"
    chosen_vs_worst = "chosen_vs_worst"


class PromptFormat(StrEnum):
    chat = "chat"
    raw = "raw"


class Context(StrEnum):
    none = "none"
    history = "history"


class ModelSource(StrEnum):
    tiny = "tiny"
    hub = "hub"


class TorchDtype(StrEnum):
    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class AttnImplementation(StrEnum):
    eager = "eager"
    sdpa = "sdpa"
    flash_attention_2 = "flash_attention_2"
    flash_attention_3 = "flash_attention_3"
    flex_attention = "flex_attention"


class JudgeBackend(StrEnum):
    heuristic = "heuristic"
    litellm = "litellm"
    hf = "hf"


class QuestionsBackend(StrEnum):
    bank = "bank"
    litellm = "litellm"


class EvaluateMode(StrEnum):
    pairwise = "pairwise"
    listwise = "listwise"
    both = "both"


class RankMethod(StrEnum):
    bradley_terry = "bradley_terry"
    plackett_luce = "plackett_luce"
    borda = "borda"
    copeland = "copeland"
    kemeny = "kemeny"


class TieModel(StrEnum):
    half = "half"
    davidson = "davidson"


class PromptSource(StrEnum):
    bundled = "bundled"  # the prompt sets shipped in demalign/data/prompt_sets
    file = "file"  # a JSONL or CSV file at prompts.path
    hub = "hub"  # a Hugging Face dataset, loaded with datasets.load_dataset


class BundledPromptCategory(StrEnum):
    adversarial = "adversarial"
    borderline = "borderline"
    cooperative = "cooperative"


class PromptFileFormat(StrEnum):
    auto = "auto"
    jsonl = "jsonl"
    csv = "csv"


class PromptExtractor(StrEnum):
    none = "none"
    first_human_turn = "first_human_turn"


# ---- shared groups ----------------------------------------------------------------------------------


@dataclass
class PathsConf:
    output_dir: str = MISSING
    cache_dir: str = MISSING


@dataclass
class DataConf:
    name: str = MISSING
    source: DataSource = MISSING
    root: str | None = MISSING


@dataclass
class PanelAttributeConf:
    name: str = MISSING
    column: str = MISSING
    population_proportions: dict[str, float] = MISSING
    slack_categories: list[str] = field(default_factory=list)


@dataclass
class PanelMechanicsConf:
    """How panels are drawn (conf/panel_mechanics/default.yaml); the same for every panel spec."""

    tolerance: float = MISSING
    locale_column: str = MISSING
    algorithm: PanelAlgorithm = MISSING
    seed: int = MISSING
    num_panel_samples: int = MISSING
    num_workers: int = MISSING
    max_attempts: int = MISSING
    random_max_attempts: int = MISSING
    unlisted_categories: UnlistedCategories = MISSING
    solver: Solver = MISSING
    leximin_tolerance: float = MISSING
    leximin_initial_committees: int = MISSING


@dataclass
class PanelConf(PanelMechanicsConf):
    """A panel spec (conf/panel/*.yaml): who is eligible and the quotas, on top of the mechanics."""

    panel_size: int = MISSING
    locale_filter: str | None = MISSING
    attributes: list[PanelAttributeConf] = MISSING


@dataclass
class DatasetModeConf:
    name: DatasetModeName = MISSING


@dataclass
class DatasetConf:
    pairs: PairStrategy = MISSING
    format: PromptFormat = MISSING
    context: Context = MISSING
    system_prompt: str | None = MISSING
    max_pairs: int | None = MISSING


@dataclass
class ModelLoadingConf:
    """from_pretrained settings shared by the model group and the hf judge."""

    torch_dtype: TorchDtype = MISSING
    attn_implementation: AttnImplementation | None = MISSING
    trust_remote_code: bool = MISSING
    revision: str | None = MISSING


@dataclass
class ModelConf(ModelLoadingConf):
    name: str = MISSING
    source: ModelSource = MISSING
    name_or_path: str | None = MISSING


@dataclass
class TinySpecConf:
    vocab_size: int = MISSING
    hidden_size: int = MISSING
    intermediate_size: int = MISSING
    num_hidden_layers: int = MISSING
    num_attention_heads: int = MISSING
    num_key_value_heads: int = MISSING
    max_position_embeddings: int = MISSING
    seed: int = MISSING
    warmup_steps: int = MISSING


@dataclass
class TinyModelConf(ModelConf):
    tiny: TinySpecConf = field(default_factory=TinySpecConf)


@dataclass
class ConstitutionConf:
    path: str | None = MISSING
    start_clause: int | None = MISSING
    end_clause: int | None = MISSING
    principles: str | None = MISSING


@dataclass
class PromptsConf:
    """Keys every prompt source shares (conf/prompts/*.yaml)."""

    name: str = MISSING
    source: PromptSource = MISSING
    dedupe: bool = MISSING
    limit: int | None = MISSING
    eval_ratio: float = MISSING
    seed: int = MISSING


@dataclass
class BundledPromptsConf(PromptsConf):
    categories: list[BundledPromptCategory] = MISSING


@dataclass
class PromptColumnsConf(PromptsConf):
    """A file or dataset: which columns hold the id, the prompt and the category."""

    id_column: str | None = MISSING
    generate_ids: bool = MISSING
    prompt_column: str = MISSING
    extractor: PromptExtractor = MISSING
    category_column: str | None = MISSING
    category: str | None = MISSING
    categories: list[str] | None = MISSING


@dataclass
class FilePromptsConf(PromptColumnsConf):
    path: str = MISSING
    format: PromptFileFormat = MISSING


@dataclass
class HubPromptsConf(PromptColumnsConf):
    dataset: str = MISSING
    data_dir: str | None = MISSING
    split: str = MISSING
    revision: str | None = MISSING


# ---- API calls (conf/api/): defined once, reused by judge=litellm, questions and evaluate.api ----------


@dataclass
class ApiCallsConf:
    """How calls are sent to an API (conf/api/calls.yaml)."""

    api_key_env: str | None = MISSING
    concurrency: int = MISSING
    requests_per_minute: float | None = MISSING
    client_processes: int = MISSING
    max_retries: int = MISSING
    retry_backoff: float = MISSING
    max_backoff: float = MISSING
    timeout: float = MISSING


@dataclass
class LiteLLMConf(ApiCallsConf):
    """Which model answers through litellm, and how (conf/api/litellm.yaml)."""

    model: str = MISSING
    base_url: str | None = MISSING
    temperature: float | None = MISSING
    max_output_tokens: int | None = MISSING
    seed: int | None = MISSING


# ---- judge variants -----------------------------------------------------------------------------------


@dataclass
class HeuristicJudgeConf:
    backend: JudgeBackend = MISSING
    relevance_weight: float = MISSING
    length_weight: float = MISSING
    diversity_weight: float = MISSING
    min_words: int = MISSING
    max_words: int = MISSING
    tie_margin: float = MISSING


@dataclass
class LiteLLMJudgeConf(LiteLLMConf):
    backend: JudgeBackend = MISSING
    invalid_retries: int = MISSING


@dataclass
class HFJudgeConf(ModelLoadingConf):
    backend: JudgeBackend = MISSING
    name_or_path: str | None = MISSING
    max_new_tokens: int = MISSING
    do_sample: bool = MISSING
    temperature: float = MISSING
    seed: int = MISSING
    batch_size: int = MISSING
    invalid_retries: int = MISSING


# ---- stage options ------------------------------------------------------------------------------------


@dataclass
class ExploreConf:
    columns: list[str] = MISSING
    locale_filter: str | None = MISSING


@dataclass
class WandbConf:
    project: str = MISSING
    entity: str | None = MISSING
    group: str | None = MISSING


@dataclass
class TrainConf:
    dataset: str = MISSING
    eval_ratio: float = MISSING
    split_seed: int = MISSING
    resume_from_checkpoint: str | None = MISSING
    checkpoints_dir: str = MISSING
    wandb: WandbConf = field(default_factory=WandbConf)


@dataclass
class SftConf:
    dataset: str = MISSING
    eval_dataset: str | None = MISSING
    eval_ratio: float = MISSING
    split_seed: int = MISSING
    resume_from_checkpoint: str | None = MISSING
    init_adapter: str | None = MISSING
    checkpoints_dir: str = MISSING
    wandb: WandbConf = field(default_factory=WandbConf)


@dataclass
class QuestionsConf(LiteLLMConf):
    backend: QuestionsBackend = MISSING
    n_questions: int = MISSING
    invalid_retries: int = MISSING
    min_question_chars: int = MISSING
    cache_dir: str = MISSING


@dataclass
class AnswerSettingsConf:
    """How a stage's model answers prompts (generate, value_pairs, revise, helpful, cai_eval, audit):
    the keys `llm.generation.generate_responses` reads, and where its calls are cached."""

    seed: int = MISSING
    max_new_tokens: int = MISSING
    do_sample: bool = MISSING
    temperature: float = MISSING
    top_p: float = MISSING
    batch_size: int = MISSING
    cache_dir: str = MISSING
    api: ApiCallsConf = field(default_factory=ApiCallsConf)


@dataclass
class GenerateConf(AnswerSettingsConf):
    questions_dir: str | None = MISSING
    prompts_file: str | None = MISSING
    num_gen_candidates: int = MISSING
    # entries {name, kind, path | model, base_url, api_key_env}: checked by llm.specs.parse_model_specs,
    # which names the entry (a typed list would refuse the plain dicts a collect run writes)
    models: list[dict[str, Any]] = MISSING
    models_file: str | None = MISSING
    questions_per_clause: int | None = MISSING
    max_questions: int | None = MISSING
    system_prompt: str | None = MISSING
    overwrite_responses: bool = MISSING
    dry_run: bool = MISSING


@dataclass
class EvaluateConf:
    responses_dir: str = MISSING
    mode: EvaluateMode = MISSING
    num_judges: int = MISSING
    seed: int = MISSING
    dry_run: bool = MISSING
    cache_dir: str = MISSING


@dataclass
class RankConf:
    pairwise: str | None = MISSING
    listwise: str | None = MISSING
    preferences: str | None = MISSING
    methods: list[RankMethod] = MISSING
    ties: TieModel = MISSING
    anchor: str | None = MISSING
    base_score: float = MISSING
    scale: float = MISSING
    prior: float = MISSING
    bootstrap_samples: int = MISSING
    ci: float = MISSING
    seed: int | None = MISSING
    style_control: bool = MISSING
    kemeny_exact_max: int = MISSING


class SelectPolicy(StrEnum):
    best = "best"
    margin = "margin"
    diverse = "diverse"


class CurationFormat(StrEnum):
    prompt_completion = "prompt_completion"
    messages = "messages"
    raw = "raw"


@dataclass
class CritiqueConf:
    candidates: str = MISSING
    clauses: list[int] | None = MISSING
    scale_low: int = MISSING
    scale_high: int = MISSING
    safe_threshold: int = MISSING
    dry_run: bool = MISSING
    cache_dir: str = MISSING


@dataclass
class SelectConf:
    critiques: str = MISSING
    policy: SelectPolicy = MISSING
    margin: int = MISSING
    top_k: int = MISSING
    bottom_k: int = MISSING
    min_score: int | None = MISSING
    format: CurationFormat = MISSING
    val_ratio: float = MISSING
    seed: int = MISSING


class ScoringRule(StrEnum):
    single = "single"
    best_of_n = "best_of_n"


class WilcoxonZeroMethod(StrEnum):
    wilcox = "wilcox"
    pratt = "pratt"
    zsplit = "zsplit"


@dataclass
class CompareConf:
    critiques: str = MISSING
    baseline: str = MISSING
    candidate: str = MISSING
    scoring: ScoringRule = MISSING
    safe_threshold: float | None = MISSING
    tie_tolerance: float = MISSING
    n_resamples: int = MISSING
    level: float = MISSING
    alpha: float = MISSING
    zero_method: WilcoxonZeroMethod = MISSING
    seed: int = MISSING


class PanelDpoStep(StrEnum):
    prepare = "prepare"
    train = "train"
    questions = "questions"
    generate = "generate"
    evaluate = "evaluate"
    rank = "rank"


@dataclass
class PanelDpoRecipeConf:
    name: str = MISSING
    stages: list[PanelDpoStep] = MISSING
    dataset_modes: list[DatasetModeName] | None = MISSING
    max_pairs_per_mode: int | None = MISSING
    base_model_name: str = MISSING


@dataclass
class CurateSftRecipeConf:
    name: str = MISSING
    generator: Any = MISSING  # a model entry or null, checked by llm.specs.parse_model_specs (a typed Optional dict refuses a command-line dict over null)
    num_gen_candidates: int = MISSING
    temperature: float = MISSING
    top_p: float = MISSING
    max_new_tokens: int = MISSING
    eval_candidates: int = MISSING
    base_model_name: str = MISSING
    tuned_model_name: str = MISSING


@dataclass
class CollectConf:
    sweep_dir: str = MISSING


# (group under schema/, name) -> schema; a YAML option uses it with `- /schema/<group>/<name>@_here_`.
# The trainer group stays untyped: any DPOConfig/SFTConfig field may be added with +trainer.<field>=...
SCHEMAS: dict[tuple[str, str], type[Any]] = {
    ("schema", "paths"): PathsConf,
    ("schema", "data"): DataConf,
    ("schema", "panel"): PanelConf,
    ("schema", "dataset_mode"): DatasetModeConf,
    ("schema", "dataset"): DatasetConf,
    ("schema/model", "hub"): ModelConf,
    ("schema/model", "tiny"): TinyModelConf,
    ("schema", "constitution"): ConstitutionConf,
    ("schema/prompts", "bundled"): BundledPromptsConf,
    ("schema/prompts", "file"): FilePromptsConf,
    ("schema/prompts", "hub"): HubPromptsConf,
    ("schema/judge", "heuristic"): HeuristicJudgeConf,
    ("schema/judge", "litellm"): LiteLLMJudgeConf,
    ("schema/judge", "hf"): HFJudgeConf,
    ("schema", "explore"): ExploreConf,
    ("schema", "train"): TrainConf,
    ("schema", "sft"): SftConf,
    ("schema", "questions"): QuestionsConf,
    ("schema", "generate"): GenerateConf,
    ("schema", "evaluate"): EvaluateConf,
    ("schema", "rank"): RankConf,
    ("schema", "critique"): CritiqueConf,
    ("schema", "select"): SelectConf,
    ("schema", "compare"): CompareConf,
    ("schema/recipe", "panel_dpo"): PanelDpoRecipeConf,
    ("schema/recipe", "curate_sft"): CurateSftRecipeConf,
    ("schema", "collect"): CollectConf,
}


# ---- moral graph (issue 16) -------------------------------------------------------------------------


class MoralGraphMode(StrEnum):
    dft_compat = "dft_compat"  # DFT's numbers exactly
    corrected = "corrected"  # entropy over votes, dangling redistribution, per-context votes


class VoteWeighting(StrEnum):
    none = "none"
    soft = "soft"
    hard = "hard"


@dataclass
class MoralGraphThresholdsConf:
    min_marked_wiser: float = MISSING
    min_wiser_likelihood: float = MISSING
    max_entropy: float = MISSING


@dataclass
class MoralGraphRankingConf:
    damping: float = MISSING
    iterations: int = MISSING
    tolerance: float = MISSING
    max_iter: int = MISSING
    weighted: bool = MISSING


@dataclass
class MoralGraphWeightingConf:
    how: VoteWeighting = MISSING
    panel: PanelConf = field(default_factory=PanelConf)


@dataclass
class MoralGraphBridgingConf:
    attribute: str | None = MISSING
    groups: list[str] | None = MISSING
    min_votes: int = MISSING


@dataclass
class MoralGraphConf:
    path: str | None = MISSING
    votes: str | None = MISSING
    demographics: str | None = MISSING
    prompts: str | None = MISSING
    mode: MoralGraphMode = MISSING
    thresholds: MoralGraphThresholdsConf = field(default_factory=MoralGraphThresholdsConf)
    ranking: MoralGraphRankingConf = field(default_factory=MoralGraphRankingConf)
    min_wisdom: float = MISSING
    max_cycle_length: int = MISSING
    include_all_edges: bool = MISSING
    weighting: MoralGraphWeightingConf = field(default_factory=MoralGraphWeightingConf)
    bridging: MoralGraphBridgingConf = field(default_factory=MoralGraphBridgingConf)
    plot: bool = MISSING
    plot_seed: int = MISSING


SCHEMAS.update({("schema", "moral_graph"): MoralGraphConf})


@dataclass
class ValuePairsConf(AnswerSettingsConf):
    winners: str = MISSING
    answerer: dict[str, Any] = MISSING  # checked by stages.value_pairs.answerer_spec, which names the key
    prompts_per_context: int | None = MISSING
    system_prompt: str | None = MISSING


SCHEMAS.update({("schema", "value_pairs"): ValuePairsConf})


class MoralGraphStep(StrEnum):
    deliberate = "deliberate"
    moral_graph = "moral_graph"
    value_pairs = "value_pairs"
    train = "train"
    questions = "questions"
    generate = "generate"
    evaluate = "evaluate"
    rank = "rank"


@dataclass
class MoralGraphRecipeConf:
    name: str = MISSING
    stages: list[MoralGraphStep] = MISSING
    base_model_name: str = MISSING
    trained_model_name: str = MISSING


SCHEMAS.update({("schema/recipe", "moral_graph"): MoralGraphRecipeConf})


class DeliberationBackend(StrEnum):
    scripted = "scripted"  # simulated participants (offline)
    litellm = "litellm"  # an API model plays each participant


@dataclass
class DeliberateConf(LiteLLMConf):
    backend: DeliberationBackend = MISSING
    archetypes: str | None = MISSING
    question: str = MISSING
    contexts: list[str] = MISSING
    persona_columns: list[str] = MISSING
    max_conversations: int = MISSING
    draw_size: int = MISSING
    transitions_per_participant: int = MISSING
    invalid_retries: int = MISSING
    cache_dir: str = (
        MISSING  # `seed` (int | None, from LiteLLMConf) seeds the draws and is sent to the provider
    )


SCHEMAS.update({("schema", "deliberate"): DeliberateConf})


# ---- Constitutional AI (issue 14) -----------------------------------------------------------------------


class PrincipleSampling(StrEnum):
    random = "random"
    without_replacement = "without_replacement"
    fixed = "fixed"


class PromptSplitPart(StrEnum):
    train = "train"
    eval = "eval"
    all = "all"


@dataclass
class ReviseConf(AnswerSettingsConf):
    generator: dict[str, Any] = (
        MISSING  # {name, kind, path | model, ...}: checked by stages.revise.generator_spec
    )
    split: PromptSplitPart = MISSING
    categories: list[str] | None = MISSING
    limit: int | None = MISSING
    rounds: int = MISSING
    principle_sampling: PrincipleSampling = MISSING
    fixed_principle: int = MISSING
    few_shot: bool = MISSING
    system_prompt: str | None = MISSING
    skip_if_no_critique: bool = MISSING
    no_critique_phrases: list[str] = MISSING
    critic_check: bool = MISSING
    sft_share: float = MISSING
    helpful_set: str | None = MISSING
    helpful_weight: float = MISSING


SCHEMAS[("schema", "revise")] = ReviseConf


class EncoderSource(StrEnum):
    tiny = "tiny"
    hub = "hub"


@dataclass
class TinyEncoderConf:
    vocab_size: int = MISSING
    hidden_size: int = MISSING
    num_hidden_layers: int = MISSING
    num_attention_heads: int = MISSING
    intermediate_size: int = MISSING
    max_position_embeddings: int = MISSING
    seed: int = MISSING


@dataclass
class EncoderConf:
    source: EncoderSource = MISSING
    name_or_path: str | None = MISSING
    tiny: TinyEncoderConf = field(default_factory=TinyEncoderConf)


@dataclass
class ClassifyConf:
    data: str | None = MISSING
    labels: list[str] = MISSING
    eval_ratio: float = MISSING
    split_seed: int = MISSING
    encoder: EncoderConf = field(default_factory=EncoderConf)
    epochs: float = MISSING
    learning_rate: float = MISSING
    batch_size: int = MISSING
    max_length: int = MISSING
    weight_decay: float = MISSING
    seed: int = MISSING


SCHEMAS[("schema", "classify")] = ClassifyConf


@dataclass
class CaiEvalConf(AnswerSettingsConf):
    # entries {name, kind, path | model, ...}: checked by llm.specs.parse_model_specs, which names the entry
    models: list[dict[str, Any]] = MISSING
    classifier: str | None = MISSING
    split: PromptSplitPart = MISSING
    limit: int | None = MISSING
    principles: list[str] = MISSING
    llm_critic: bool = MISSING
    red_team_categories: list[str] = MISSING
    safety_system_prompt: str = MISSING
    jailbreak_prefix: str = MISSING
    rule_safe_threshold: float = MISSING
    system_prompt: str | None = MISSING
    n_resamples: int = MISSING
    level: float = MISSING


SCHEMAS[("schema", "cai_eval")] = CaiEvalConf


@dataclass
class HelpfulConf(AnswerSettingsConf):
    generator: dict[str, Any] = (
        MISSING  # {name, kind, path | model, ...}: checked by cai.generator.generator_spec
    )
    split: PromptSplitPart = MISSING
    categories: list[str] | None = MISSING
    limit: int | None = MISSING
    system_prompt: str | None = MISSING


class CaiStep(StrEnum):
    classify = "classify"
    helpful = "helpful"
    helpful_sft = "helpful_sft"
    revise = "revise"
    cai_sft = "cai_sft"
    dpo = "dpo"
    evaluate = "evaluate"


@dataclass
class CaiRecipeConf:
    name: str = MISSING
    stages: list[CaiStep] = MISSING
    sft_trainer: dict[str, Any] = MISSING  # a trainer option (conf/trainer/sft*.yaml) for the two SFT steps
    helpful_prompts: Any = (
        MISSING  # a prompts option (conf/prompts/*.yaml, typed by its own schema) for the helpful step
    )
    base_model_name: str = MISSING


SCHEMAS[("schema", "helpful")] = HelpfulConf
SCHEMAS[("schema/recipe", "cai")] = CaiRecipeConf


# ---- DART (issue 15): its schemas live in their own module -------------------------------------------
from demalign.config.dart_schema import DART_SCHEMAS  # noqa: E402  (imports the classes above)

SCHEMAS.update(DART_SCHEMAS)
