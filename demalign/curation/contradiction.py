"""Does a critic's reason say the answer is unsafe? For the self-contradiction filter: a critic that
scores an answer as safe while its reason calls it unsafe contradicts itself, and the verdict is not
trusted.

The seed tested `"unsafe" in reason`, which also fires on "not unsafe" and misses "harmful". This
matcher works on words, clause by clause:

1. the reason is lower-cased (curly apostrophes straightened) and cut into clauses at punctuation
   and at contrast words (but, however, although, though, whereas, while, yet);
2. in a clause, an *unsafe cue* (unsafe, harmful, dangerous, toxic, hateful, illegal, unethical,
   inappropriate, offensive, malicious, hazardous, violates/violation, "safety concern(s)/issue(s)/
   risk(s)/problem(s)") says "unsafe" unless it is negated: a negator (not, no, never, nothing, none,
   without, neither, nor, any word ending in n't, cannot, free of, avoids, refuses, declines, refrains,
   rejects, lacks) stands at most `NEGATION_WINDOW` words before it. "not unsafe", "isn't harmful",
   "no safety concerns", "refuses to give dangerous instructions" do not fire;
3. a cue that describes the *request* rather than the answer does not fire: the word after it is
   request, question, prompt, query or topic ("a harmful request"), or the last subject the clause
   names before the cue is the request (request, question, prompt, query, user, asks, asked) rather
   than the answer (response, answer, reply, assistant, output, completion, model): "the user asks for
   something dangerous" does not fire, "the user asked and the response is dangerous" does;
4. a negated *safe cue* (safe, harmless, appropriate, acceptable, benign) says "unsafe": "not safe",
   "isn't appropriate", "is not entirely safe" fire ("not only safe" does not).

It is a heuristic with a stated rule, tested on a table of phrasings (tests/unit/test_selection.py);
what it drops is counted and listed, so a user can see what it caught.
"""

from __future__ import annotations

import re

NEGATION_WINDOW = 3  # words between a negator and the cue it negates
UNSAFE_WORDS = frozenset({
    "unsafe", "harmful", "dangerous", "toxic", "hateful", "illegal", "unethical", "inappropriate", "offensive",
    "malicious", "hazardous", "violates", "violate", "violating", "violation", "violations",
})  # fmt: skip
SAFETY_NOUNS = frozenset({"concern", "concerns", "issue", "issues", "risk", "risks", "problem", "problems"})
SAFE_WORDS = frozenset({"safe", "harmless", "appropriate", "acceptable", "benign"})
NEGATORS = frozenset({
    "not", "no", "never", "nothing", "none", "without", "neither", "nor", "cannot", "free", "avoid", "avoids",
    "avoided", "avoiding", "refuse", "refuses", "refused", "refusing", "decline", "declines", "declined",
    "declining", "refrain", "refrains", "refrained", "rejects", "rejected", "lacks", "lacking",
})  # fmt: skip
REQUEST_NOUNS = frozenset(
    {"request", "requests", "question", "questions", "prompt", "prompts", "query", "topic"}
)
REQUEST_WORDS = REQUEST_NOUNS | {"user", "asks", "asked", "asking"}
ANSWER_WORDS = frozenset({"response", "answer", "reply", "assistant", "output", "completion", "model"})
_CLAUSE_BREAK = re.compile(r"[.;:!?,()\n]|\b(?:but|however|although|though|whereas|while|yet)\b")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _negator(word: str) -> bool:
    return word in NEGATORS or word.endswith("n't")


def _negated(words: list[str], at: int) -> bool:
    return any(_negator(word) for word in words[max(0, at - NEGATION_WINDOW - 1) : at])


def _clause_says_unsafe(words: list[str]) -> bool:
    for at, word in enumerate(words):
        after = words[at + 1] if at + 1 < len(words) else ""
        unsafe_cue = word in UNSAFE_WORDS or (word == "safety" and after in SAFETY_NOUNS)
        if unsafe_cue:
            subjects = [w for w in words[:at] if w in REQUEST_WORDS or w in ANSWER_WORDS]
            about_request = after in REQUEST_NOUNS or (bool(subjects) and subjects[-1] in REQUEST_WORDS)
            if not _negated(words, at) and not about_request:
                return True
        elif word in SAFE_WORDS and at > 0:
            previous = words[max(0, at - 2) : at]
            if any(_negator(w) for w in previous) and "only" not in previous:
                return True
    return False


def says_unsafe(reason: str) -> bool:
    """True when the reason calls the answer unsafe (rules in the module docstring). E.g. "The
    response is unsafe." -> True; "The response is not unsafe." -> False; "It isn't harmful." ->
    False; "No safety concerns." -> False; "It is not harmful, but it is dangerous." -> True."""
    text = reason.lower().replace("\u2019", "'").replace("\u2018", "'")
    return any(_clause_says_unsafe(_WORD.findall(clause)) for clause in _CLAUSE_BREAK.split(text) if clause)


def self_contradicts(safe: bool, reason: str) -> bool:
    """A verdict that scores the answer safe (score >= safe_threshold) while its reason says unsafe."""
    return bool(safe) and says_unsafe(reason)
