"""The answer format of the task: a 2–4 sentence analysis, then a last line `Conclusion: YES|NO`.

`parse_conclusion` reads the *last* conclusion line (a model that changes its mind is judged by its
final word); anything else (no line, a hedge such as "YES or NO", a refusal) is None = abstain,
counted as its own outcome, never coerced to a label. `analysis_only` is the text before that line
(the audit's primary view: the reasoning, without the one-word verdict).
"""

from __future__ import annotations

import re

_LINE = re.compile(
    r"^\s*\**\s*conclusion\s*\**\s*:\s*\**\s*(yes|no)\s*\**\s*[.!]?\s*$", re.IGNORECASE | re.MULTILINE
)
_ANY = re.compile(r"^\s*\**\s*conclusion\s*\**\s*:", re.IGNORECASE | re.MULTILINE)


def parse_conclusion(text: str | None) -> str | None:
    """ "YES" or "NO" from the last `Conclusion:` line, else None (abstain).

    Examples: "... .\\nConclusion: YES" → "YES"; "**Conclusion:** no." → "NO"; "Conclusion: YES or NO"
    → None; "I cannot answer." → None."""
    if not text:
        return None
    lines = list(_ANY.finditer(text))
    if not lines:
        return None
    last = lines[-1]
    match = _LINE.match(text, last.start())
    return match.group(1).upper() if match else None


def analysis_only(text: str | None) -> str:
    """The text before the last `Conclusion:` line (all of it when there is none), stripped."""
    if not text:
        return ""
    lines = list(_ANY.finditer(text))
    return (text[: lines[-1].start()] if lines else text).strip()


def sentence_count(text: str) -> int:
    """Sentences in an analysis (ends . ! ?), for the 2–4 sentence check of teacher targets."""
    return len([s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()])
