"""Achieved FLOP/s of a forward pass against this machine's measured fp32 matmul peak."""

from __future__ import annotations

import time

import torch


def matmul_peak(sizes: tuple[int, ...] = (1024, 2048, 3072), seconds: float = 2.0) -> float:
    """Best fp32 GFLOP/s of square matmuls on all threads torch uses.

    On a shared virtual machine the clock and the neighbours vary, so the benchmark measures this before
    and after its runs and keeps the best: a peak measured in a slow moment would flatter every ratio.
    """
    best = 0.0
    for size in sizes:
        a, b = torch.randn(size, size), torch.randn(size, size)
        torch.mm(a, b)
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * size**3 / (time.perf_counter() - start) / 1e9)
    return best


def forward_flops(config, tokens: int, context: int, head_positions: int) -> float:
    """FLOPs of a decoder forward over ``tokens`` new tokens attending to ``context`` earlier ones,
    with the vocabulary head applied at ``head_positions`` positions (2 FLOPs per multiply-add)."""
    h, layers = config.hidden_size, config.num_hidden_layers
    head_dim = getattr(config, "head_dim", None) or h // config.num_attention_heads
    q = config.num_attention_heads * head_dim
    kv = config.num_key_value_heads * head_dim
    projections = h * (q + 2 * kv) + q * h
    mlp = 3 * h * config.intermediate_size
    per_token = 2 * layers * (projections + mlp)
    # scores and weighted sum: each new token attends to context + its predecessors among the new ones
    attended = tokens * context + tokens * (tokens + 1) / 2
    attention = 2 * 2 * layers * q * attended
    return per_token * tokens + attention + 2 * h * config.vocab_size * head_positions
