"""Run the benchmarks in one process, print the ratios, write docs/performance.md.

python -m bench                     # everything (about 15 minutes on 2 CPU cores)
python -m bench scoring generation  # a subset
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import date
from pathlib import Path

import torch

from bench import end_to_end, generation, scoring
from bench.roofline import matmul_peak
from reer.backends.transformers_backend import TransformersBackend
from reer.config import ModelConfig

REPORT = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def machine() -> str:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else ""
    )
    return (
        f"{cpu}; {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"Python {platform.python_version()}"
    )


def main(selected: list[str]) -> None:
    backend = TransformersBackend(ModelConfig(device="cpu"))
    peak = matmul_peak()
    print(f"machine: {machine()}\nfp32 matmul peak: {peak:.1f} GFLOP/s", flush=True)
    results = {"machine": machine(), "date": date.today().isoformat(), "matmul_peak_gflops": peak}
    runs = {
        "scoring": lambda: scoring.run(backend, peak),
        "generation": lambda: generation.run(backend),
        "e2e": lambda: end_to_end.run(backend),
    }
    for name in selected or list(runs):
        print(f"\n== {name} ==", flush=True)
        results[name] = runs[name]()
        print(json.dumps(results[name], indent=2), flush=True)
    REPORT.parent.mkdir(exist_ok=True)
    (REPORT.parent / "performance.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults written to {REPORT.parent / 'performance.json'}")


if __name__ == "__main__":
    main(sys.argv[1:])
