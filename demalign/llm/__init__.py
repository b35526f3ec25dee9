"""One layer for every model call: judges, critics, question writers, generators, teachers.

- `calls`: a call (`ChatCall`, keyed by a hash of model, messages, settings and sample), who answers
  (`Identity`), what comes back (`Completion`, `CallResult`), how calls are sent (`CallPolicy`).
- `cache`: the append-only JSONL call cache (resumable after a kill).
- `dispatch`: async concurrency with rate limit and retries, forked client processes, batches.
- `execute`: answer calls through the cache, re-asking failed and unparseable answers; `usage_summary`.
- `roles`: named callers (`Role`: identity + policy + lazy backend) built from config nodes.
- `specs`: the models that answer prompts (`ModelSpec`), from config or a models file.
- `generation`: responses of a list of models to a list of prompts (`generate_responses`).
- `templates`: prompt templates as data files under `demalign/data/prompts/<name>/`.
- backends: `litellm_backend` (any API), `local` (transformers), `heuristic` (offline, rule-based),
  `scripted` (canned answers for tests).
"""
