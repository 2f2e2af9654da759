"""Benchmarks: berthd side by side with a stock dockerd and podman, on identical workloads.

`python -m bench` (or `sudo scripts/bench.sh`) starts a private berthd, a private dockerd and a
private podman, runs each workload on all three in the same run, prints a table of medians,
spreads and ratios, and saves it as JSON under artifacts/bench/. Figures only: nothing fails on
a threshold.
"""
