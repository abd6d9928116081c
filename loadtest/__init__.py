"""Benchmarks (``python -m loadtest.bench_*``) that print their figures as JSON lines, each
compared with a ceiling measured in the same run, and locust scenarios for load testers."""
