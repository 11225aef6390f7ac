"""Benchmarks of the REER engine against naive baselines; run with ``python -m bench`` (or ``make bench``)."""
