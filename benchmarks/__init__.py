"""Benchmarks: ``python -m benchmarks.features --ravdess DIR`` and friends."""
