"""Curation (issue 13, seed 002): candidates scored by a critic against the constitution, then selected
into training data.

- `candidates`: the candidates file (`{prompt_id, prompt, candidate_id, candidate, category?}` per line).
- `critiques`: one critic verdict per candidate (the critique stage's `critiques.jsonl`) and its summaries.
- `contradiction`: does a critic's reason say the answer is unsafe (negation-aware)?
- `selection`: pure functions from critiques to SFT rows, DPO pairs and KTO rows (best / margin / diverse),
  with every drop counted by reason, and the seeded train/val split.
"""
