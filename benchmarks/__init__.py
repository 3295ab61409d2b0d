"""Benchmarks of the deployable, every figure measured side by side in one run."""
