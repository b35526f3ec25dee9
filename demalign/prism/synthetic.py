"""A synthetic, PRISM-shaped dataset: same files, schema and field names as the real release.

Survey categories are drawn from the published PRISM marginals (`prism_marginals.json`, package
data) with some realistic correlation (age shifts employment and marital status; region shifts
ethnicity, religion and locale). Conversations follow PRISM's protocol: turn 0 shows four
model responses, later turns two; each response gets a 1-100 score and `if_chosen` marks the top
score (the first one on ties). The quirks of the real data are reproduced on purpose: tied scores,
turns with a single response, survey-only users, and "Prefer not to say" answers.

    python -m demalign.prism.synthetic --users 1500 --seed 0 --out /tmp/prism-full
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from demalign.artifacts import write_jsonl

PRISM_FULL_USERS = 1500
SURVEY_ONLY_SHARE = 104 / 1500  # PRISM: 104 of 1,500 participants never had a conversation
CONVERSATIONS_PER_USER = 8011 / 1396  # PRISM: mean conversations per participant who chatted
TIE_SHARE = 0.06  # chance that a response copies another's score in the same turn
SINGLE_RESPONSE_SHARE = 0.04  # chance that a later turn has only one rated response
US_REP_SHARE = 0.9  # share of US (UK) participants flagged as part of the representative sample

# Region -> (study_locale, countries). PRISM ran locale-specific studies for the US and the UK
# and a global study elsewhere; study_locale names the study the participant was recruited in.
REGION_COUNTRIES: dict[str, list[str]] = {
    "US": ["United States"],
    "UK": ["United Kingdom"],
    "Europe": [
        "Spain",
        "Germany",
        "Belgium",
        "Hungary",
        "Poland",
        "Ireland",
        "Latvia",
        "Denmark",
        "Czechia",
        "Norway",
        "France",
        "Italy",
        "Greece",
        "Switzerland",
        "Finland",
        "Estonia",
        "Austria",
        "Slovenia",
        "Netherlands",
        "Portugal",
        "Romania",
        "Sweden",
    ],
    "Latin America and the Caribbean": ["Mexico", "Chile", "Dominican Republic", "Argentina", "Brazil"],
    "Australia and New Zealand": ["Australia", "New Zealand"],
    "Africa": ["South Africa", "Nigeria", "Ghana", "Kenya"],
    "Asia": ["India", "Japan", "Korea, Republic of", "Philippines", "Bangladesh", "China", "Indonesia"],
    "Northern America": ["Canada"],
    "Middle East": ["Israel", "Türkiye", "Kuwait"],
    "Oceania": ["Tonga"],
    "Prefer not to say": ["Prefer not to say"],
}
STUDY_LOCALE = {"US": "us", "UK": "uk"}

# Multipliers on the marginal probabilities: category -> factor, conditioned on another answer.
AGE_SHIFTS: dict[str, dict[str, dict[str, float]]] = {
    "employment_status": {
        "18-24 years old": {"Student": 5.0, "Retired": 0.0, "Working full-time": 0.5},
        "65+ years old": {"Retired": 12.0, "Student": 0.05, "Working full-time": 0.3},
        "55-64 years old": {"Retired": 2.5, "Student": 0.2},
    },
    "marital_status": {
        "18-24 years old": {"Never been married": 3.0, "Married": 0.15, "Widowed": 0.0},
        "25-34 years old": {"Never been married": 1.5},
        "55-64 years old": {"Married": 2.0, "Widowed": 3.0},
        "65+ years old": {"Married": 2.0, "Widowed": 8.0, "Never been married": 0.3},
    },
}
REGION_SHIFTS: dict[str, dict[str, dict[str, float]]] = {
    "ethnicity.categorised": {
        "US": {"Black / African": 1.6, "Hispanic / Latino": 1.4, "Asian": 1.2},
        "Africa": {"Black / African": 8.0, "White": 0.3},
        "Latin America and the Caribbean": {"Hispanic / Latino": 10.0, "White": 0.4},
        "Asia": {"Asian": 25.0, "White": 0.1},
        "Middle East": {"Middle Eastern / Arab": 15.0},
    },
    "religion.categorised": {
        "US": {"Christian": 1.5},
        "Latin America and the Caribbean": {"Christian": 1.8},
        "Middle East": {"Jewish": 12.0, "Muslim": 4.0},
        "Asia": {"Hindu": 10.0, "Buddhist": 8.0},
    },
}

TOPICS = [
    "climate policy",
    "abortion",
    "immigration",
    "gun control",
    "universal basic income",
    "vaccines",
    "euthanasia",
    "remote work",
    "social media and teenagers",
    "nuclear energy",
    "religion in schools",
    "the death penalty",
    "minimum wage",
    "artificial intelligence and jobs",
    "meat eating",
    "free speech online",
    "healthcare costs",
    "raising children",
    "retirement savings",
    "dating apps",
]
PROMPT_TEMPLATES = [
    "What do you think about {topic}?",
    "Can you give me arguments for and against {topic}?",
    "I'm worried about {topic}. Should I be?",
    "Explain {topic} to me like I'm new to it.",
    "Is it wrong to have strong opinions on {topic}?",
    "How should a government handle {topic}?",
]
FOLLOW_UPS = [
    "Why do you say that?",
    "Can you be more specific?",
    "What would someone who disagrees say?",
    "That seems one-sided. Can you reconsider?",
    "Give me a practical example.",
]
OPENINGS = [
    "That's a thoughtful question.",
    "Good question.",
    "Sure.",
    "I can help with that.",
    "Honestly,",
    "There are several perspectives here.",
]
BODIES = [
    "People disagree about {topic} because they weigh freedom, fairness and safety differently.",
    "Evidence on {topic} is mixed, and reasonable people reach different conclusions.",
    "Supporters of change on {topic} point to costs borne by vulnerable groups.",
    "Critics argue that policies on {topic} often have unintended consequences.",
    "It may help to look at how different countries have approached {topic}.",
    "Your own values and circumstances matter a lot when thinking about {topic}.",
    "I don't have personal opinions, but I can summarise the main arguments on {topic}.",
    "The honest answer is that {topic} involves trade-offs without a single right answer.",
]
CLOSINGS = [
    "I hope this helps.",
    "Let me know if you want sources.",
    "What matters most to you here?",
    "",
    "You should definitely agree with me.",
    "Anyway, that's all.",
]


def reference_marginals() -> dict[str, dict[str, int]]:
    """Published PRISM category counts per survey column (dotted names for nested fields)."""
    text = resources.files("demalign.data").joinpath("prism_marginals.json").read_text(encoding="utf-8")
    return json.loads(text)["marginal_counts"]


def model_names() -> list[str]:
    """The 21 model names of the PRISM release."""
    text = resources.files("demalign.data").joinpath("prism_models.json").read_text(encoding="utf-8")
    return [row["long_name"] for row in json.loads(text)]


def _draw(rng: np.random.Generator, counts: dict[str, int], shift: dict[str, float] | None = None) -> str:
    names = list(counts)
    weights = np.array([counts[n] * (shift or {}).get(n, 1.0) for n in names], dtype=float) + 1e-9
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def _survey_record(
    rng: np.random.Generator, index: int, marginals: dict, locale: str | None
) -> dict[str, Any]:
    region = "US" if locale == "us" else _draw(rng, marginals["location.special_region"])
    age = _draw(rng, marginals["age"])
    countries = REGION_COUNTRIES[region]
    country = countries[int(rng.integers(len(countries)))]
    ethnicity = _draw(
        rng, marginals["ethnicity.categorised"], REGION_SHIFTS["ethnicity.categorised"].get(region)
    )
    religion = _draw(
        rng, marginals["religion.categorised"], REGION_SHIFTS["religion.categorised"].get(region)
    )
    study_locale = STUDY_LOCALE.get(region, country.lower())
    return {
        "user_id": f"user{index}",
        "survey_only": False,
        "age": age,
        "gender": _draw(rng, marginals["gender"]),
        "employment_status": _draw(
            rng, marginals["employment_status"], AGE_SHIFTS["employment_status"].get(age)
        ),
        "education": _draw(rng, marginals["education"]),
        "marital_status": _draw(rng, marginals["marital_status"], AGE_SHIFTS["marital_status"].get(age)),
        "english_proficiency": _draw(rng, marginals["english_proficiency"]),
        "study_locale": study_locale,
        "religion": {"self_described": religion.lower(), "categorised": religion, "simplified": religion},
        "ethnicity": {"self_described": ethnicity.lower(), "categorised": ethnicity, "simplified": ethnicity},
        "location": {
            "birth_country": country,
            "reside_country": country,
            "special_region": region,
        },
        "included_in_US_REP": bool(region == "US" and rng.random() < US_REP_SHARE),
        "included_in_UK_REP": bool(region == "UK" and rng.random() < US_REP_SHARE),
        "lm_familiarity": _draw(rng, {"Very familiar": 3, "Somewhat familiar": 5, "Not familiar at all": 1}),
        "stated_prefs": {
            name: int(rng.integers(1, 101)) for name in ("values", "fluency", "factuality", "safety")
        },
    }


def generate_survey(n_users: int, seed: int, locale: str | None = None) -> list[dict[str, Any]]:
    """Survey records in PRISM's schema. `locale='us'` puts every participant in the US study."""
    rng = np.random.default_rng([seed, 0])
    marginals = reference_marginals()
    return [_survey_record(rng, i, marginals, locale) for i in range(n_users)]


def _response(rng: np.random.Generator, topic: str) -> tuple[str, float]:
    """A response text and its latent quality (polite, balanced, longer answers rate higher)."""
    parts = [OPENINGS[int(rng.integers(len(OPENINGS)))]]
    n_body = int(rng.integers(1, 4))
    body_ids = rng.choice(len(BODIES), size=n_body, replace=False)
    parts += [BODIES[int(i)].format(topic=topic) for i in body_ids]
    closing = CLOSINGS[int(rng.integers(len(CLOSINGS)))]
    if closing:
        parts.append(closing)
    quality = (
        8.0 * n_body + (12.0 if closing in CLOSINGS[:3] else 0.0) - (20.0 if "definitely" in closing else 0.0)
    )
    return " ".join(parts), quality


@dataclass(frozen=True)
class _ConversationPlan:
    conversation_id: str
    user_id: str
    n_turns: int


def _conversation_utterances(
    rng: np.random.Generator, plan: _ConversationPlan, models: list[str]
) -> list[dict]:
    topic = TOPICS[int(rng.integers(len(TOPICS)))]
    rows: list[dict] = []
    user_bias = float(rng.normal(0, 10))  # users differ in how generous their scores are
    chosen_model = None
    for turn in range(plan.n_turns):
        if turn == 0:
            prompt = PROMPT_TEMPLATES[int(rng.integers(len(PROMPT_TEMPLATES)))].format(topic=topic)
            n_responses = 4
            turn_models = [models[int(i)] for i in rng.choice(len(models), size=4, replace=False)]
        else:
            prompt = FOLLOW_UPS[int(rng.integers(len(FOLLOW_UPS)))]
            n_responses = 1 if rng.random() < SINGLE_RESPONSE_SHARE else 2
            turn_models = [chosen_model] * n_responses
        scores = []
        texts = []
        for _ in range(n_responses):
            text, quality = _response(rng, topic)
            texts.append(text)
            scores.append(int(np.clip(round(40 + quality + user_bias + rng.normal(0, 12)), 1, 100)))
        if n_responses > 1 and rng.random() < TIE_SHARE:
            scores[1] = scores[0]
        best = int(np.argmax(scores))  # argmax takes the first of tied top scores
        chosen_model = turn_models[best]
        interaction_id = f"{plan.conversation_id}_turn{turn}"
        for within, (model, text, score) in enumerate(zip(turn_models, texts, scores, strict=True)):
            rows.append(
                {
                    "utterance_id": f"{interaction_id}_{within}",
                    "interaction_id": interaction_id,
                    "conversation_id": plan.conversation_id,
                    "user_id": plan.user_id,
                    "turn": turn,
                    "within_turn_id": within,
                    "user_prompt": prompt,
                    "model_response": text,
                    "model_name": model,
                    "score": score,
                    "if_chosen": within == best,
                    "conversation_type": "controversy guided"
                    if turn == 0 and "wrong" in prompt
                    else "unguided",
                }
            )
    return rows


def _conversation_record(plan: _ConversationPlan, utterances: list[dict]) -> dict[str, Any]:
    history = []
    for turn in range(plan.n_turns):
        turn_rows = [u for u in utterances if u["turn"] == turn]
        history.append({"turn": turn, "role": "user", "content": turn_rows[0]["user_prompt"]})
        history += [
            {
                "turn": turn,
                "role": "model",
                "content": u["model_response"],
                "model_name": u["model_name"],
                "score": u["score"],
                "if_chosen": u["if_chosen"],
                "within_turn_id": u["within_turn_id"],
            }
            for u in turn_rows
        ]
    return {
        "conversation_id": plan.conversation_id,
        "user_id": plan.user_id,
        "conversation_type": utterances[0]["conversation_type"],
        "opening_prompt": utterances[0]["user_prompt"],
        "conversation_turns": plan.n_turns,
        "conversation_history": history,
    }


@dataclass
class SyntheticPrism:
    survey: list[dict[str, Any]]
    utterances: list[dict[str, Any]]
    conversations: list[dict[str, Any]]


def generate(
    n_users: int,
    seed: int,
    locale: str | None = None,
    conversations_per_user: float = CONVERSATIONS_PER_USER,
) -> SyntheticPrism:
    """A whole PRISM-shaped dataset: survey, utterances and conversations."""
    survey = generate_survey(n_users, seed, locale)
    rng = np.random.default_rng([seed, 1])
    models = model_names()
    utterances: list[dict] = []
    conversations: list[dict] = []
    conversation_index = 0
    for user in survey:
        if rng.random() < SURVEY_ONLY_SHARE:
            user["survey_only"] = True
            continue
        for _ in range(max(1, int(rng.poisson(conversations_per_user)))):
            plan = _ConversationPlan(f"c{conversation_index}", user["user_id"], int(rng.integers(2, 6)))
            conversation_index += 1
            rows = _conversation_utterances(rng, plan, models)
            utterances += rows
            conversations.append(_conversation_record(plan, rows))
    return SyntheticPrism(survey, utterances, conversations)


def write(dataset: SyntheticPrism, out: Path) -> None:
    """Write the three PRISM files (atomically) into `out`."""
    out = Path(out)
    write_jsonl(out / "survey.jsonl", dataset.survey)
    write_jsonl(out / "utterances.jsonl", dataset.utterances)
    write_jsonl(out / "conversations.jsonl", dataset.conversations)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=PRISM_FULL_USERS, help="number of survey participants")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for survey/utterances/conversations.jsonl"
    )
    parser.add_argument(
        "--locale", default=None, help="put every participant in this study locale (only 'us')"
    )
    parser.add_argument(
        "--conversations-per-user",
        type=float,
        default=CONVERSATIONS_PER_USER,
        help="mean conversations per user",
    )
    args = parser.parse_args(argv)
    dataset = generate(args.users, args.seed, args.locale, args.conversations_per_user)
    write(dataset, args.out)
    print(f"wrote {len(dataset.survey)} users, {len(dataset.utterances)} utterances to {args.out}")


if __name__ == "__main__":
    main()
