"""Constitution questions and LLM-judge evaluation.

- `constitution`: load a constitution (bundled default or the user's YAML/text file) and its question bank.
- `calls`: chat calls keyed by a hash, an append-only JSONL cache, retries, concurrency and rate limits.
- `backends`: who answers a call: litellm (any API), a local transformers model, the heuristic judge.
- `prompts`: judge and question-generation prompts, and the strict parsers of their answers.
- `evaluation`: pairwise (both orders) and listwise judgements, aggregation, call-count formulas.
"""
