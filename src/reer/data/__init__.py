"""Pairs in: loading, validating and sourcing (request, reference) pairs."""

from reer.data.pairs import LoadResult, Pair, RowProblem, load_pairs, write_pairs

__all__ = ["LoadResult", "Pair", "RowProblem", "load_pairs", "write_pairs"]
