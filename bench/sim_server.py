"""A simulated vLLM server for `bench scale`: real HTTP on 127.0.0.1, vLLM's response shapes, no model.

It answers the `openai` backend's two requests (``/v1/completions`` for generation, and with
``prompt_logprobs`` for scoring) after a latency drawn from the cost model below, divided by ``--scale`` so
that a 20,000-item run fits in a benchmark. Texts are plausible thinking (paragraphs of English words, the
refinement tags of the method), so the search's segmentation, parsing, tokenization and scoring code all run
for real on the driver. Their length can be scaled per run (``POST /reset?length=0.25``: paragraphs of a
quarter of the words).

Cost model (per request; a vLLM server with continuous batching, up to ``--slots`` sequences at once):
  generation  0.2 s to the first token + new tokens / 40 tok/s (the n sequences of a request in parallel)
  scoring     0.05 s + prompt tokens / 20,000 tok/s (prefill only)
Requests beyond ``--slots`` queue at the server, as on vLLM.

The server also keeps, per item (recognised by the ``keeper NNNNN`` marker in the query), the union of the
intervals during which one of its requests was at the server: an item's *server time*. Everything else of
an item's life (from its first request to its last answer) is time the driver added.
``GET /stats`` returns the totals and when the first request came (``time.monotonic()``, which another process
on this machine reads alike); ``POST /reset`` clears them.

python -m bench.sim_server PORT --scale 100 --slots 256
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import time
from collections import defaultdict

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reer.backends.models import load_tokenizer

TTFT, DECODE_TOK_S = 0.2, 40.0
SCORE_BASE, PREFILL_TOK_S = 0.05, 20_000.0
INITIAL_PARAGRAPHS, PARAGRAPH_WORDS, ANALYSIS_WORDS = 10, 150, 120
MARKER = re.compile(r"keeper (\d+)")
VOCABULARY = (
    "the keeper light tower sea night ship storm rope lamp stairs window wind voice letter harbour morning "
    "reader scene want feel maybe should first then because show quiet tension ending detail start image "
    "paragraph character slow build reveal rhythm sentence tone warm cold memory promise boat girl island"
)
WORDS = VOCABULARY.split()
OPENING = ["Hmm,", "Wait,", "Maybe", "I think", "Let me see,", "Alternatively,", "Now,", "So"]


class Simulation:
    def __init__(self, scale: float, slots: int) -> None:
        self.scale = scale
        self.slots = asyncio.Semaphore(slots)
        self.tokenizer = load_tokenizer("smollm2-135m-instruct")
        self.reset()

    def reset(self, length: float = 1.0) -> None:
        self.length = length
        self.intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.requests = {"generate": 0, "score": 0}
        self.simulated = {"generate": 0.0, "score": 0.0}
        self.first: float | None = None  # time.monotonic() of the first request: the driver's start-up ends there

    def item(self, ids: list[int]) -> str:
        found = MARKER.search(self.tokenizer.decode(ids[:600]))
        return found.group(1) if found else "?"

    async def handle(self, request: Request) -> Response:
        body = json.loads(await request.body())
        ids = body["prompt"]
        batch = ids if ids and isinstance(ids[0], list) else [ids]  # vLLM takes several prompts in one request
        arrived = time.monotonic()
        self.first = self.first or arrived
        item = self.item(batch[0])
        kind = "score" if body.get("prompt_logprobs") else "generate"
        async with self.slots:
            if kind == "score":
                seconds = SCORE_BASE + sum(map(len, batch)) / PREFILL_TOK_S
                answer = _scored(batch)
            else:
                texts = [_text(body, k, self.length) for k in range(body.get("n", 1))]
                seconds = TTFT + max(len(t.split()) for t in texts) / DECODE_TOK_S
                answer = _generated(texts, len(ids))
            await asyncio.sleep(seconds / self.scale)
        self.intervals[item].append((arrived, time.monotonic()))
        self.requests[kind] += 1
        self.simulated[kind] += seconds
        return Response(answer, media_type="application/json")

    def stats(self) -> dict:
        busy = span = 0.0
        for intervals in self.intervals.values():
            intervals.sort()
            span += intervals[-1][1] - intervals[0][0]
            end = intervals[0][0]
            for start, stop in intervals:  # the union: parallel requests of one item count once
                busy += max(0.0, stop - max(start, end))
                end = max(end, stop)
        return {
            "items": len(self.intervals),
            "requests": self.requests,
            "simulated_seconds": self.simulated,
            "server_seconds": busy,
            "item_seconds": span,
            "first_request": self.first,
        }


def paragraph(rng: random.Random, words: int) -> str:
    return " ".join([rng.choice(OPENING), *rng.choices(WORDS, k=words - 1)]) + "."


def _text(body: dict, k: int, length: float) -> str:
    rng = random.Random(f"{body.get('seed')}/{k}")
    words = round(PARAGRAPH_WORDS * length)
    if "</refine>" in body.get("stop", []):
        analysis = paragraph(rng, round(ANALYSIS_WORDS * length))
        return f"{analysis}\n</analyze>\n<refine>\n{paragraph(rng, words)}\n"
    return "\n\n".join(paragraph(rng, words) for _ in range(INITIAL_PARAGRAPHS))


def _generated(texts: list[str], prompt_tokens: int) -> bytes:
    choices = [{"index": k, "text": t, "finish_reason": "stop", "logprobs": None} for k, t in enumerate(texts)]
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": sum(len(t.split()) for t in texts)}
    return json.dumps({"object": "text_completion", "model": "sim", "choices": choices, "usage": usage}).encode()


def _scored(batch: list[list[int]]) -> bytes:
    """vLLM's prompt_logprobs as vLLM 0.32 writes them, a choice per prompt: null first, then per position a dict
    keyed by token id with the sent token (its log-probability, rank and decoded text) and, where it is not the
    top token, the top one as well (``prompt_logprobs: 1``)."""
    choices = []
    for index, ids in enumerate(batch):
        rng = random.Random(hash(tuple(ids[-64:])))
        entries = []
        for i in ids[1:]:
            lp = -rng.expovariate(1.2)
            if lp > -0.7:  # the sent token is the top one
                entries.append(f'{{"{i}":{{"logprob":{lp!r},"rank":1,"decoded_token":" keeper"}}}}')
            else:
                top = f'"{(i * 7) % 49152}":{{"logprob":-0.6931471805599453,"rank":1,"decoded_token":" the"}}'
                rank = rng.randint(2, 400)
                entries.append(f'{{"{i}":{{"logprob":{lp!r},"rank":{rank},"decoded_token":" light"}},{top}}}')
        choice = f'{{"index":{index},"text":"x","finish_reason":"length","prompt_token_ids":{json.dumps(ids)},'
        choices.append(choice + f'"prompt_logprobs":[null,{",".join(entries)}]}}')
    usage = json.dumps({"prompt_tokens": sum(map(len, batch)), "completion_tokens": len(batch)})
    return f'{{"object":"text_completion","model":"sim","choices":[{",".join(choices)}],"usage":{usage}}}'.encode()


def app(scale: float, slots: int) -> Starlette:
    simulation = Simulation(scale, slots)

    async def stats(request: Request) -> Response:
        return JSONResponse(simulation.stats())

    async def reset(request: Request) -> Response:
        simulation.reset(float(request.query_params.get("length", 1.0)))
        return JSONResponse({"reset": True})

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "sim", "object": "model", "max_model_len": 32768}]})

    return Starlette(
        routes=[
            Route("/v1/completions", simulation.handle, methods=["POST"]),
            Route("/v1/models", models),
            Route("/stats", stats),
            Route("/reset", reset, methods=["POST"]),
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--scale", type=float, default=100.0)
    parser.add_argument("--slots", type=int, default=256)
    args = parser.parse_args()
    uvicorn.run(app(args.scale, args.slots), host="127.0.0.1", port=args.port, log_level="warning", backlog=2048)
