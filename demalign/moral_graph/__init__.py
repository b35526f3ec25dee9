"""Moral graphs (Democratic Fine-Tuning / Moral Graph Elicitation), offline and with documented maths.

- `graph`: read and validate an export JSON, raw upgrade votes (JSONL/CSV) and demographics;
- `aggregate`: votes -> counts -> wiserLikelihood / entropy -> kept edges (`dft_compat` | `corrected`);
- `ranking`: DFT's PageRank and a corrected one (dangling redistribution, tolerance, per context),
  wisest values, per-context winners, cycles, sinks;
- `weighting`: democratic vote weights from a sortition panel (soft / hard), winner changes, bridging;
- `analysis`: one pass of all of it over a graph;
- `constitution`: one clause per context for the questions / evaluate / critique stages;
- `preferences`: value-conditioned DPO pairs;
- `deliberation`: a simulated deliberation by a sortition panel of PRISM users through a model;
- `synthetic`: the bundled example's votes and benchmark-scale graphs.
"""
