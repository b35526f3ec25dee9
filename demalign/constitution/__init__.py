"""Constitutions and their questions.

- `principles`: critique/revision request pairs (SL-CAI) with optional few-shot chats.
- `clauses`: load a constitution (bundled default or the user's YAML/text file), clause ranges, the
  offline question bank.
- `questions`: questions per clause from a question writer (prompt, strict parse, cached calls),
  the `questions/clause_XX.json` records, and reading them back as evaluation items.
"""
