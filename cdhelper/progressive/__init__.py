"""Progressive delivery: strategies (what to do), rollout (wiring them to hooks), analyses."""
