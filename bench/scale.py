"""A simulated DeepWriting-20K-sized run: reer's driver against simulated vLLM servers (`bench.sim_server`).

Every run is the real `reer synthesize` command in a process of its own (its CPU time and peak memory are
read from the kernel when it exits) with the `openai` backend, the vLLM scoring dialect and the published
search settings (REER.md: 10 steps, 2 candidates). The server's latencies are divided by ``scale``; the
driver's own costs are not, so every overhead measured here is ``scale`` times larger, relative to the
servers, than it would be against real ones. The extrapolation to real latencies uses the driver CPU time
per item.
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.sim_server import WORDS
from reer.records import Pair
from reer.records.trajectory import Candidate, Scored, Step
from reer.store import RunStore
from reer.store.db import DB_NAME
from tests.conftest import free_port, trajectories_of

REPO = Path(__file__).resolve().parent.parent
SLOTS = 256  # vLLM's default max_num_seqs


def run(
    levels: tuple[int, ...] = (1, 8, 32, 128, 512),
    items: int = 20_000,
    full_level: int | None = None,
    scale: float = 100.0,
    ray_workers: tuple[int, ...] = (2, 4),
    full_length: float = 0.25,
) -> dict[str, Any]:
    """``full_length``: the texts of the all-items run, relative to the sweep's (a quarter: 20,000 items of full
    length take about 2.5 hours of this machine's 2 cores). The step structure is the same; the driver's CPU per
    item at full length, which the extrapolation uses, comes from the sweep."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pairs = _pairs(root / "pairs.jsonl", items)
        with _simulated(scale) as url:
            config = _config(root / "config.yaml", f"{url}/v1")
            sweep = []
            for level in levels:
                count = min(items, max(16, 4 * level))
                sweep.append(_synthesize(url, pairs, config, root / f"c{level}", level, count, scale))
                print(json.dumps(sweep[-1]), flush=True)
            ray = []
            for workers in ray_workers:
                ray.append(_on_ray(url, pairs, config, root / f"ray{workers}", workers, 64, 256, scale))
                print(json.dumps(ray[-1]), flush=True)
            # The largest run: the one of the sweep where it already covers every item (short runs), else a
            # run of all of them, 128 in flight: on 2 cores more threads only add contention (CPU per item at 256
            # in flight was 0.8 s against 0.5 s at 128).
            full_level = full_level or min(128, items // 4)
            done = [row for row in sweep if row["items"] == items and row["in_flight_items"] == full_level]
            full = (
                done[0]
                if done
                else _synthesize(
                    url, _pairs(root / "pairs-full.jsonl", items, full_length), config, root / "full", full_level,
                    items, scale, length=full_length,
                )
            )  # fmt: skip
            print(json.dumps(full), flush=True)
            full = full | _readers(root / f"c{full_level}" if done else root / "full", root, scale)
    print(
        f"driver CPU per item: local {full['driver_cpu_ms_per_item']:.0f} ms; "
        + ", ".join(
            f"Ray {r['ray_workers']} workers {r['driver_cpu_ms_per_item']:.0f} ms "
            f"({full['driver_cpu_ms_per_item'] / r['driver_cpu_ms_per_item']:.1f}× less)"
            for r in ray
        )
    )
    return {
        "scale": scale,
        "server_slots": SLOTS,
        "commits_per_s_alone": _commit_rates(),
        "sweep": sweep,
        "ray": ray,
        "full": full,
        "extrapolation": _extrapolate(_basis(sweep, full), ray, scale),
    }


def driver(
    baseline: Path,
    levels: tuple[int, ...] = (1, 8, 32, 128, 512),
    ray_workers: tuple[int, ...] = (2, 4),
    scale: float = 100.0,
) -> dict[str, Any]:
    """The driver's CPU per full-length item, this checkout against ``baseline`` (another checkout's ``src``,
    e.g. a ``git worktree`` of the previous release), level by level against the same simulated server: 16 or
    4 × level items per run, start-up included; then on Ray (64 in flight, 256 items; the workers run the same
    checkout as their driver). Both arms must produce the same scores (checked)."""
    rows, rays = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pairs = _pairs(root / "pairs.jsonl", max(256, 4 * max(levels)))
        with _simulated(scale) as url:
            config = _config(root / "config.yaml", f"{url}/v1")
            for level in levels:
                count = max(16, 4 * level)
                runs = _both(baseline, root / f"c{level}", lambda out, source, level=level, count=count: _synthesize(
                    url, pairs, config, out, level, count, scale, source=source))  # fmt: skip
                rows.append(runs | {"in_flight_items": level, "items": count})
            for workers in ray_workers:
                runs = _both(baseline, root / f"ray{workers}", lambda out, source, workers=workers: _on_ray(
                    url, pairs, config, out, workers, 64, 256, scale, source=source))  # fmt: skip
                rays.append(runs | {"ray_workers": workers, "in_flight_items": 64, "items": 256})
    version = re.search(r'^version = "(.+)"', (baseline.parent / "pyproject.toml").read_text(), re.M)
    return {"scale": scale, "baseline": version.group(1) if version else str(baseline), "levels": rows, "ray": rays}


def _both(baseline: Path, out: Path, arm_run: Any) -> dict[str, Any]:
    """One run per arm (``arm_run(run directory, source)``), the previous release first; their ratio and whether
    they agree."""
    runs = {}
    for arm, source in (("before", baseline), ("after", None)):
        arm_out = out.with_name(f"{arm}-{out.name}")
        runs[arm] = arm_run(arm_out, source) | {"scores": _scores(arm_out)}
    same = runs["before"].pop("scores") == runs["after"].pop("scores")
    before, after = (runs[a]["driver_cpu_ms_per_item"] for a in ("before", "after"))
    steady = [runs[a]["driver_cpu_ms_per_item_after_startup"] for a in ("before", "after")]
    print(
        f"{before:.0f} → {after:.0f} ms per item ({before / after:.2f}×); at scale {steady[0]:.0f} → {steady[1]:.0f} "
        f"ms ({steady[0] / steady[1]:.2f}×); same scores: {same}",
        flush=True,
    )
    return {"before": runs["before"], "after": runs["after"], "ratio": before / after, "same_scores": same}


def ray_memory(items: int = 20_000, workers: int = 2, length: float = 0.25, scale: float = 100.0) -> dict[str, Any]:
    """Every item on Ray (64 in flight), for the driver's peak memory over a DeepWriting-20K-sized run: texts a
    quarter of full length (full length takes several hours of this machine's 2 cores); the driver's memory
    grows with the items it tracks, not with their length, which only the 64 in flight hold."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pairs = _pairs(root / "pairs.jsonl", items, length)
        with _simulated(scale) as url:
            config = _config(root / "config.yaml", f"{url}/v1")
            result = _on_ray(url, pairs, config, root / "run", workers, 64, items, scale, length=length)
            return result | {"store_mb": sum(p.stat().st_size for p in (root / "run").glob(f"{DB_NAME}*")) / 2**20}


def _scores(run_dir: Path) -> list[Any]:
    """Every trajectory's status, scores, choices and final thinking, in id order: what two drivers must agree on."""
    return [
        (t.item_id, t.status, t.initial and t.initial.scored and t.initial.scored.score,
         [(s.chosen, s.best_score) for s in t.steps], t.final_trace)
        for t in sorted(trajectories_of(run_dir), key=lambda t: (t.item_id, t.rollout))
    ]  # fmt: skip


def _basis(sweep: list[dict[str, Any]], full: dict[str, Any]) -> dict[str, Any]:
    """The run the extrapolation starts from: the largest full-length one at the all-items run's level."""
    same = [
        row
        for row in [*sweep, full]
        if row.get("text_length", 1.0) == 1.0 and row["in_flight_items"] == full["in_flight_items"]
    ]
    return max(same, key=lambda row: row["items"]) if same else full


@contextmanager
def _simulated(scale: float) -> Iterator[str]:
    """A simulated vLLM server (`bench.sim_server`) on 127.0.0.1 while the block runs: its root URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.sim_server", str(port), "--scale", str(scale), "--slots", str(SLOTS)], cwd=REPO
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/v1/models")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _pairs(path: Path, items: int, length: float = 1.0) -> Path:
    """Requests with the marker the server recognises items by; references of about 600 words × ``length``
    (8 paragraphs)."""
    lines = []
    size = round(75 * length)
    for k in range(items):
        words = [WORDS[(k * 7 + j * 13) % len(WORDS)] for j in range(8 * size)]
        reference = "\n\n".join(" ".join(words[p * size : (p + 1) * size]).capitalize() + "." for p in range(8))
        query = f"Write a short story about the lighthouse keeper {k:05d} and the night of the storm."
        lines.append(json.dumps({"id": f"item-{k:05d}", "query": query, "reference": reference}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _config(path: Path, base_url: str) -> Path:
    model = {
        "backend": "openai",
        "base_url": base_url,
        "model": "sim",
        "tokenizer": "smollm2-135m-instruct",
        "scoring": "vllm",
        "context_length": 32768,
        "max_concurrency": 1024,
    }
    path.write_text(yaml.safe_dump({"generator": model}), encoding="utf-8")
    return path


def _synthesize(
    url: str,
    pairs: Path,
    config: Path,
    out: Path,
    level: int,
    count: int,
    scale: float,
    *extra: str,
    workers: int = 1,
    length: float = 1.0,
    source: Path | None = None,
) -> dict[str, Any]:
    """``count`` items, ``level`` in flight (per worker, on Ray), texts ``length`` times the full length;
    ``source``: another checkout's ``src`` instead of this one."""
    httpx.post(f"{url}/reset", params={"length": length})
    command = ["synthesize", str(pairs), "-o", str(out), "-c", str(config), "--concurrency", str(level)]
    samples: list[tuple[float, float]] = []
    measured = measure_reer([*command, "--limit", str(count), *extra], source, samples)
    stats = httpx.get(f"{url}/stats", timeout=60).json()
    server_s, item_s = stats["server_seconds"], stats["item_seconds"]
    wall = measured["wall_s"]
    startup = _cpu_at(samples, stats["first_request"])
    return {
        "in_flight_items": level * workers,
        "items": count,
        "text_length": length,
        **measured,
        "requests": stats["requests"],
        "items_per_hour": count / (wall * scale) * 3600,
        "theoretical_items_per_hour": min(level * workers, SLOTS) / (server_s / count * scale) * 3600,
        "driver_share": (item_s - server_s) / item_s,
        "driver_cpu_ms_per_item": measured["cpu_s"] / count * 1000,
        "startup_cpu_s": startup,
        "driver_cpu_ms_per_item_after_startup": (measured["cpu_s"] - startup) / count * 1000,
        "server_s_per_item": server_s / count,
        "commits_per_s": count * (2 + stats["requests"]["generate"] / count) / wall,
    }


def measure_reer(
    args: list[str], source: Path | None = None, samples: list[tuple[float, float]] | None = None
) -> dict[str, Any]:
    """``reer ARGS`` to its end: wall time, CPU time and peak memory of that process alone. The peak is its
    VmHWM, sampled until it exits: a forked child's ru_maxrss starts at its parent's size. ``source``: another
    checkout's ``src`` to run instead of this one (a baseline). ``samples`` gets (``time.monotonic()``, its CPU
    seconds so far) every 50 ms."""
    before = _children_cpu()  # nothing else is reaped while this runs
    started = time.perf_counter()
    command = [sys.executable, "-m", "reer"] if source else [Path(sys.executable).with_name("reer")]
    env = {**os.environ, "PYTHONPATH": str(source)} if source else None
    process = subprocess.Popen(
        [*command, *args], cwd=source or REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak_kb = 0
    status_file, stat_file = Path(f"/proc/{process.pid}/status"), Path(f"/proc/{process.pid}/stat")
    samples = [] if samples is None else samples
    while process.poll() is None:
        try:
            hwm = next(line for line in status_file.read_text().splitlines() if line.startswith("VmHWM"))
            peak_kb = max(peak_kb, int(hwm.split()[1]))
            user, system = stat_file.read_text().rsplit(")", 1)[1].split()[11:13]
            samples.append((time.monotonic(), (int(user) + int(system)) / os.sysconf("SC_CLK_TCK")))
        except (OSError, StopIteration):
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"reer {' '.join(args)} failed: {process.stderr.read().decode()[-2000:]}")
    return {"wall_s": wall, "cpu_s": _children_cpu() - before, "peak_mb": peak_kb / 1024}


def _cpu_at(samples: list[tuple[float, float]], moment: float | None) -> float:
    """The process's CPU seconds by ``moment`` (the last sample before it): its start-up, where ``moment`` is the
    server's first request."""
    return max((cpu for at, cpu in samples if moment is not None and at <= moment), default=0.0)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _commit_rates(count: int = 400, full_run: Path | None = None) -> dict[str, float]:
    """The store alone: published-size steps (2 candidates, 1,000 scored tokens each), committed one per
    transaction and in group commits of 16 (the Ray driver's, when stages arrive together). ``full_run``: into
    a copy of that run's store rather than an empty one (a store that slowed as it grew would show here)."""
    with tempfile.TemporaryDirectory() as tmp:
        if full_run is not None:
            with sqlite3.connect(full_run / DB_NAME) as source, sqlite3.connect(Path(tmp) / DB_NAME) as copy:
                source.backup(copy)
        store = RunStore(Path(tmp))
        try:
            store.add_items([Pair(id="bench-commits", query="Write about a keeper.", reference="The keeper. " * 40)], 1)
            trajectory = next(t for pair, t in store.unfinished() if pair.id == "bench-commits")
            rng = random.Random(0)
            scored = Scored(score=1.0, token_logprobs=[-rng.expovariate(1.2) for _ in range(1000)])
            candidate = Candidate(raw="x " * 300, text="x " * 280, num_tokens=300, finish_reason="stop", scored=scored)
            steps = [
                Step(step=k, segment_index=0, original="o " * 150, candidates=[candidate] * 2, chosen=0,
                     best_score=1.0, generate_seconds=0.0, score_seconds=0.0)
                for k in range(2 * count)
            ]  # fmt: skip
            started = time.perf_counter()
            for step in steps[:count]:
                store.save_step(trajectory, step)
            single = count / (time.perf_counter() - started)
            started = time.perf_counter()
            for k in range(count, 2 * count, 16):
                with store.batch():
                    for step in steps[k : k + 16]:
                        store.save_step(trajectory, step)
            grouped = count / (time.perf_counter() - started)
        finally:
            store.close()
    return {"one_per_commit": single, "group_commits_of_16": grouped}


def _pace(run_dir: Path, scale: float, parts: int = 10) -> list[float]:
    """Items/hour (real-latency terms) in each tenth of the run, from the commit times of the finished
    trajectories, first to last: a driver or store that slowed as the run grew would show as a falling pace."""
    store = RunStore.open_existing(run_dir, readonly=True)
    try:
        rows = store.db.execute("SELECT updated_at FROM trajectories WHERE status = 'done' ORDER BY updated_at")
        times = [datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() for (at,) in rows]
    finally:
        store.close()
    if len(times) < 2 or times[-1] == times[0]:
        return []  # too short a run to have a pace
    width = (times[-1] - times[0]) / parts
    counts = [0] * parts
    for at in times[1:]:
        counts[min(parts - 1, int((at - times[0]) / width))] += 1
    return [count / (width * scale) * 3600 for count in counts]


def _on_ray(
    url: str,
    pairs: Path,
    config: Path,
    out: Path,
    workers: int,
    level: int,
    count: int,
    scale: float,
    source: Path | None = None,
    length: float = 1.0,
) -> dict[str, Any]:
    """The same run on a local Ray cluster of ``workers`` worker processes; the driver is measured alone.
    ``source``: another checkout's ``src`` for the driver and, through the cluster's environment, its workers."""
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="reer-ray-", dir="/tmp"))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"} | ({"PYTHONPATH": str(source)} if source else {})
    head = subprocess.Popen(
        [Path(sys.executable).with_name("ray"), "start", "--head", "--block", "--port", str(port),
         "--node-ip-address", "127.0.0.1", "--num-cpus", str(workers), "--include-dashboard", "false",
         "--temp-dir", str(temp)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=source or REPO,
    )  # fmt: skip
    try:
        time.sleep(10)
        os.environ["RAY_AUTH_MODE"] = "disabled"
        per_worker = max(1, level // workers)
        address = f"127.0.0.1:{port}"
        result = _synthesize(
            url, pairs, config, out, per_worker, count, scale, "--ray", address, workers=workers, length=length,
            source=source,
        )  # fmt: skip
        return result | {"ray_workers": workers}
    finally:
        os.environ.pop("RAY_AUTH_MODE", None)
        head.send_signal(signal.SIGTERM)
        head.wait(timeout=60)
        shutil.rmtree(temp, ignore_errors=True)


def _readers(run_dir: Path, out: Path, scale: float) -> dict[str, Any]:
    """What a user runs on the finished run, its size on disk, its pace, and the store's commit rate at its size."""
    return {
        "status": measure_reer(["status", str(run_dir)]),
        "filter": measure_reer(["filter", str(run_dir)]),
        "export": measure_reer(["export", str(run_dir), "-o", str(out / "export"), "--no-filter"]),
        "report": measure_reer(["report", str(run_dir), "-o", str(out / "report.html")]),
        "store_mb": sum(p.stat().st_size for p in run_dir.glob(f"{DB_NAME}*")) / 2**20,
        "pace_items_per_hour": _pace(run_dir, scale),
        "commits_per_s_at_this_size": _commit_rates(full_run=run_dir),
    }


def _extrapolate(basis: dict[str, Any], ray: list[dict[str, Any]], scale: float) -> dict[str, Any]:
    """The published setting on real servers. One 8-GPU node is taken as one vLLM deployment with ``SLOTS``
    sequences in flight; each item holds the servers for its measured server time (times ``scale``: real
    latencies). The driver is one core (its Python holds the GIL): busy = CPU per item × items per second.
    While it keeps up, it delays an item by about its CPU per item / (1 − busy), a queueing estimate."""
    server_s = basis["server_s_per_item"] * scale
    node_items_per_hour = SLOTS * 3600 / server_s
    stages = 1 + basis["requests"]["generate"] / basis["items"]  # initial, one per step, finish
    result: dict[str, Any] = {
        "basis": f"{basis['items']:,} items, {basis['in_flight_items']} in flight, full-length texts",
        "server_s_per_item": server_s,
        "node_items_per_hour": node_items_per_hour,
        "commits_needed_per_node": node_items_per_hour * stages / 3600,
    }
    drivers = {"local": basis["driver_cpu_ms_per_item"]} | {
        f"Ray, {r['ray_workers']} workers": r["driver_cpu_ms_per_item"] for r in ray
    }
    for name, cpu_ms in drivers.items():
        busy = node_items_per_hour * cpu_ms / 1000 / 3600
        result[name] = {
            "driver_cpu_ms_per_item": cpu_ms,
            "driver_busy_at_one_node": busy,
            "driver_share_at_one_node": cpu_ms / 1000 / (1 - busy) / server_s if busy < 1 else None,
            "nodes_until_driver_saturates": 1 / busy,
        }
    return result


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer")
