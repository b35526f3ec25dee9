"""Judging protocols: what a judge or critic is asked and how its answers become rows.

- `prompts`: the labelled-response block and the judge messages (templates in `data/prompts/`).
- `pairwise`: both presentation orders per pair, strict verdict parsing, rows, preferences, order effects.
- `listwise`: seeded shuffles, strict ranking parsing, rows, per-model summary.
- `pointwise`: a critic's score + reason on an integer scale; invalid answers are recorded, never scored.
- `budget`: call and token counts for dry runs.

Calls go through `demalign.llm`; each protocol builds its calls together with what they judge, so
answers attach to the right pair, question or response whatever order they come back in.
"""
