"""Pairs in: building (request, reference) pairs from bundled sources, user files and reference-only texts."""
