"""DART (Distill–Audit–Repair Training, seed 004): difference-awareness tasks, a teacher's distilled
analyses, a paired harm-drift audit with severity, severity-weighted repair data, significance.

- `tasks`: task rows `{id, question, label: YES|NO, benchmark, condition}`, the bundled synthetic set,
  the stratified seeded split;
- `conclusions`: `Conclusion: YES|NO` parsing (unparseable = abstain) and the analysis-only view;
- `metrics`: decision metrics (accuracy, on YES, on NO, precision on YES, abstain rate, macro-F1);
- `severity`: Δ severity bins with the optional absolute floors;
- `scorers`: harm scorers (`hf_classifier` with an exact label, `profanity_check`, `scripted`);
- `judge`: the comparative LLM judge's JSON verdict and the three judge modes;
- `teacher`: distillation and repair prompts, format-fix re-asks, drops by reason;
- `repair`: the repair set, de-duplicated *before* the severity weights are attached;
- `significance`: McNemar, paired bootstrap (Δaccuracy, Δmacro-F1), Wilcoxon on harm; tables.
"""
