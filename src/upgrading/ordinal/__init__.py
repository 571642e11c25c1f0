"""Ordered-logit (proportional-odds) models: one engine for single and batched fits, separation checks,
Jeffreys-penalised fits, profile intervals and diagnostics. Knows nothing of the study."""
