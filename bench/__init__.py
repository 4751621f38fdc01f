"""Benchmarks: each prints our rate beside the raw limit measured in the same run, and the ratio."""
