"""A scripted OpenAI-compatible server (real HTTP on 127.0.0.1) that answers as the benchmarks' judges answer,
in each benchmark's official output format, and as a model under test; every request body is logged.

Run as ``python tests/judge_server.py PORT LOG``. A verdict's scores are a pure function of the prompt
(:func:`scores_for`), so a test can compute the expected numbers itself from the logged prompts. The first
answer to some prompts is malformed the way real judges fail (:func:`first_try_fails`), so attempts are used.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LB_DIMENSIONS = ("Relevance", "Accuracy", "Coherence", "Clarity", "Breadth and Depth", "Reading Experience")
SERVED = "under-test"
LOCK = threading.Lock()
SEEN: dict[str, int] = {}


def digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


def kind_of(prompt: str) -> str:
    if "<User Request>" in prompt:
        return "longbench-write"
    if '{"checklists":' in prompt:
        return "hellobench"
    if "** Criteria **" in prompt:
        return "writingbench"
    raise ValueError(f"not a judge prompt: {prompt[:80]!r}")


def checklist_count(prompt: str) -> int:
    return int(prompt.split("There are total ", 1)[1].split(" checklists", 1)[0])


def scores_for(prompt: str) -> list[float]:
    """The verdict's scores for a prompt: LongBench-Write six integers 1–5, HelloBench one of 0…1 in quarters per
    checklist item, WritingBench one integer 1–10."""
    seed = digest(prompt)
    kind = kind_of(prompt)
    if kind == "longbench-write":
        return [float(1 + (seed >> (3 * k)) % 5) for k in range(6)]
    if kind == "hellobench":
        return [((seed >> (2 * k)) % 5) / 4 for k in range(checklist_count(prompt))]
    return [float(1 + seed % 10)]


def first_try_fails(prompt: str) -> bool:
    return digest(prompt) % 3 == 0


def verdict(prompt: str, attempt: int) -> str:
    scores = scores_for(prompt)
    kind = kind_of(prompt)
    bad = attempt == 0 and first_try_fails(prompt)
    if kind == "longbench-write":
        body = {"Analysis": "Clear and on topic.", **dict(zip(LB_DIMENSIONS, map(int, scores), strict=True))}
        if bad:  # a dimension missing: eval_quality.py asks again
            body.pop("Coherence")
        return "```json\n" + json.dumps(body, indent=1) + "\n```"
    if kind == "hellobench":
        entries = [{"checklist_id": str(k), "reason": "Meets it.", "evaluation_score": s} for k, s in enumerate(scores)]
        if bad:  # a Python list, which json.loads refuses
            return repr(entries)
        return "```json\n" + json.dumps(entries, indent=2) + "\n```"
    if bad:  # a score out of range
        return '```json\n{"score": 11, "reason": "Too kind."}\n```'
    body = json.dumps({"score": int(scores[0]), "reason": "Concrete and complete."}, indent=4)
    return f"```json\n{body}\n```"


def answer(body: dict) -> str:
    """The model under test: a reply with a thinking block, its length a function of the prompt ids."""
    seed = digest(json.dumps(body["prompt"]))
    words = " ".join(("ink", "river", "lantern")[k % 3] for k in range(20 + seed % 180))
    return f"Plan the piece.\n</think>\n\n{words}."


class Handler(BaseHTTPRequestHandler):
    log_path = ""

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        if self.path == "/v1/models":
            return self._send({"data": [{"id": SERVED, "max_model_len": 65536}]})
        self._send({"error": "no route"}, 404)

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with LOCK, open(self.log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"path": self.path, "body": body}) + "\n")
        if self.path == "/v1/completions":
            text = answer(body)
            return self._send({"choices": [{"index": 0, "text": text, "finish_reason": "stop"}], "usage": {}})
        prompt = body["messages"][-1]["content"]
        with LOCK:
            attempt = SEEN.get(prompt, 0)
            SEEN[prompt] = attempt + 1
        reply = {"role": "assistant", "content": verdict(prompt, attempt)}
        self._send({"choices": [{"index": 0, "message": reply, "finish_reason": "stop"}], "usage": {}})

    def _send(self, payload: dict, status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    Handler.log_path = sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()
