"""A small real HTTP server that answers scoring requests in vLLM's and SGLang's documented shapes
(`../shared/SERVERS.md`), with log-probabilities computed by the real embedded model — and faults on demand.

Run as ``python tests/shape_server.py PORT``. ``POST /control`` with ``{"fault": NAME, "times": N}`` makes
the next N scoring requests misbehave: ``wrong-id``, ``null``, ``short``, ``missing-choice`` (one choice
fewer than prompts), ``500``, ``429`` (Retry-After: 1)
or ``hang`` (sleeps 30 s); ``{"order": "first"|"last"}`` puts the sent token first or last among a
position's keys (vLLM changed this between versions).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch

from reer.backends.models import load_model
from reer.config import ModelConfig

MODEL, TOKENIZER = load_model(ModelConfig(device="cpu"))
LOCK = threading.Lock()
STATE = {"fault": None, "times": 0, "order": "first", "requests": 0}


def logprobs(ids: list[int]) -> torch.Tensor:
    """Row j: the log-softmax that predicts token j (row 0 is unused)."""
    with torch.inference_mode():
        logits = MODEL(torch.tensor([ids])).logits[0].double()
    return torch.cat([torch.zeros_like(logits[:1]), torch.log_softmax(logits[:-1], dim=-1)])


def vllm_answer(prompt: list[int] | list[list[int]], fault: str | None) -> dict:
    """A choice per prompt, in order: vLLM takes one prompt or a list of them."""
    batch = prompt if prompt and isinstance(prompt[0], list) else [prompt]
    choices = [vllm_choice(index, ids, fault) for index, ids in enumerate(batch)]  # type: ignore[arg-type]
    if fault == "missing-choice":
        choices = choices[:-1]
    return {"choices": choices, "usage": {"prompt_tokens": sum(map(len, batch)), "completion_tokens": len(batch)}}


def vllm_choice(index: int, ids: list[int], fault: str | None) -> dict:
    table = logprobs(ids)
    entries: list[dict | None] = [None]
    for j in range(1, len(ids)):
        sent = {"logprob": float(table[j, ids[j]]), "rank": 1, "decoded_token": TOKENIZER.decode([ids[j]])}
        other_id = int(torch.argmax(table[j])) if int(torch.argmax(table[j])) != ids[j] else (ids[j] + 1)
        other = {"logprob": float(table[j, other_id]), "rank": 1, "decoded_token": None}
        pairs = [(str(ids[j]), sent), (str(other_id), other)]
        entries.append(dict(pairs if STATE["order"] == "first" else pairs[::-1]))
    returned = list(ids)
    if fault == "wrong-id":
        returned[-2] += 1
    if fault == "null":
        entries[-2] = None
    if fault == "short":
        entries = entries[:-1]
    return {"index": index, "text": "x", "prompt_token_ids": returned, "prompt_logprobs": entries}


def sglang_answer(ids: list[int], start: int, fault: str | None) -> dict:
    table = logprobs(ids)
    entries = [[None, ids[start], None]] + [[float(table[j, ids[j]]), ids[j], None] for j in range(start + 1, len(ids))]
    if fault == "wrong-id":
        entries[-2][1] += 1
    if fault == "null":
        entries[-2][0] = None
    if fault == "short":
        entries = entries[:-1]
    return {"text": "x", "meta_info": {"input_token_logprobs": entries, "prompt_tokens": len(ids)}}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/control":
            with LOCK:
                STATE.update(body)
            return self._send(200, {"ok": True, "requests": STATE["requests"]})
        with LOCK:
            STATE["requests"] += 1
            fault = STATE["fault"] if STATE["times"] > 0 else None
            STATE["times"] = max(0, STATE["times"] - 1)
        if fault == "500":
            return self._send(500, {"error": "internal"})
        if fault == "429":
            return self._send(429, {"error": "slow down"}, {"Retry-After": "1"})
        if fault == "hang":
            time.sleep(30)
        if fault == "echo-headers":  # a careless 4xx body that quotes the request, key included
            return self._send(400, {"error": "bad request", "headers": dict(self.headers)})
        if self.path == "/v1/completions":
            return self._send(200, vllm_answer(body["prompt"], fault))
        if self.path == "/generate":
            return self._send(200, sglang_answer(body["input_ids"], body["logprob_start_len"], fault))
        self._send(404, {"error": f"no route {self.path}"})

    def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # the client gave up (a timeout test)
            self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()
