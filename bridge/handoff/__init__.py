"""Lead handoff: the agreed rules (score, stage, temperature, exclusions, criteria) and their evaluation."""
