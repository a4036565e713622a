"""Benchmarks behind ``sana-wm bench``: each returns a result record and prints ratios measured in one run."""
