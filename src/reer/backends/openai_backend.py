"""Any OpenAI-compatible server (vLLM, SGLang, llama-cpp-python's server, …): generation and scoring over HTTP.

Prompts are rendered and tokenized here, with a local tokenizer of the served model, exactly as the
in-process backends do: a pre-filled assistant turn works, and the scored span is known to the token.
Scoring sends the tokenized string and reads the prompt log-probabilities back in the server's dialect
(:mod:`reer.backends.dialects`). Traffic — in-flight bound, timeouts, retries — is in
:mod:`reer.backends.http`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, TypeVar

from reer.backends.base import (
    FinishReason,
    Generation,
    GenerationRequest,
    Sampling,
    ScoreRequest,
    ScoreResult,
    context_budget,
    cut_at_stop,
)
from reer.backends.dialects import read_logprobs, request_body
from reer.backends.http import ServerError, Traffic
from reer.backends.models import counting, load_tokenizer
from reer.backends.render import encode, encode_prompt
from reer.config import DEFAULT_CONTEXT, ModelConfig
from reer.errors import BackendError, ConfigError, ModelNotFoundError

Result = TypeVar("Result")
# Prompts vLLM scores in one request: a search step's candidates (``num_expansion``, 2 by default) travel together,
# which saves the driver a request and a thread per candidate; an evaluation's chunk is split so that several
# requests still run at once.
PROMPTS_PER_REQUEST = 8


class OpenAIBackend:
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "score", "tokenize"})
    local_compute: ClassVar[bool] = False  # concurrent items call it directly: no cross-item batcher, no lock

    @classmethod
    def capabilities_of(cls, config: ModelConfig) -> frozenset[str]:
        """A chat-only API returns no prompt log-probabilities, and needs a tokenizer only to count tokens."""
        if config.chat_only:
            return frozenset({"generate", "tokenize"} if config.tokenizer else {"generate"})
        return cls.capabilities

    @staticmethod
    def token_counter(config: ModelConfig) -> Callable[[str], int]:
        return counting(_tokenizer(config))

    @staticmethod
    def context_length_of(config: ModelConfig) -> int:
        traffic = _traffic(config)
        try:
            return served_context(traffic, config)
        finally:
            traffic.close()

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        # A chat-only API (a hosted judge) renders its own prompts: a local tokenizer only counts tokens there.
        self.tokenizer = _tokenizer(config, required=not config.chat_only)
        self.count = counting(self.tokenizer) if self.tokenizer is not None else None
        self.traffic = _traffic(config)
        self.context_length = served_context(self.traffic, config)
        self.pool = ThreadPoolExecutor(config.max_concurrency, thread_name_prefix="reer-openai")

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Generation]]:
        return self._each(self._chat if self.config.chat_only else self._complete, requests)

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """vLLM scores up to ``PROMPTS_PER_REQUEST`` prompts in one request (a search step's candidates go together);
        the other dialects one per request, in parallel."""
        size = PROMPTS_PER_REQUEST if self.config.scoring == "vllm" else 1
        batches = [requests[k : k + size] for k in range(0, len(requests), size)]
        return [result for batch in self._each(self._score, batches) for result in batch]

    def _each(self, one: Callable[[Any], Result], requests: Sequence[Any]) -> list[Result]:
        """``one`` over the requests: the first in the calling thread, the others in the pool, each in a copy
        of the caller's context (retries count toward the caller's stage: :func:`reer.backends.base.tally_retries`).
        Most calls carry one request, which then costs no thread at all."""
        futures = [self.pool.submit(contextvars.copy_context().run, one, request) for request in requests[1:]]
        first = [one(requests[0])] if requests else []
        return first + [future.result() for future in futures]

    def _complete(self, request: GenerationRequest) -> list[Generation]:
        encoding = encode_prompt(self.tokenizer, request.messages, request.prefill)
        prompt, ids = encoding.text, encoding.ids
        s = request.sampling
        body = {
            "model": self.config.model,
            # Token ids where the server takes them (exactly what was rendered); text for the others.
            "prompt": ids if self.config.scoring in ("vllm", "sglang") else prompt,
            "max_tokens": context_budget(s.max_new_tokens, len(ids), self.context_length),
            "temperature": s.temperature,
            **_sampling_fields(s),
            "n": request.n,
            **({"stop": list(s.stop)} if s.stop else {}),
            **({"seed": s.seed} if s.seed is not None else {}),
            **self._penalties(s),
        }
        choices = self._all_choices("/completions", body, request.n)
        return [self._generation(choice["text"], choice, tokens, s.stop) for choice, tokens in choices]

    def _chat(self, request: GenerationRequest) -> list[Generation]:
        if request.prefill:
            raise BackendError(
                "a chat-only API cannot continue a pre-filled assistant turn, which the REER search needs: "
                "use a server with /v1/completions (chat_only: false)"
            )
        s = request.sampling
        body = {
            "model": self.config.model,
            "messages": list(request.messages),
            "max_tokens": s.max_new_tokens,
            "temperature": s.temperature,
            **_sampling_fields(s),
            "n": request.n,
            **({"stop": list(s.stop)} if s.stop else {}),
            **({"seed": s.seed} if s.seed is not None else {}),
            **self._penalties(s),
        }
        choices = self._all_choices("/chat/completions", body, request.n)
        return [
            self._generation(choice["message"]["content"] or "", choice, tokens, s.stop) for choice, tokens in choices
        ]

    def _penalties(self, s: Sampling) -> dict[str, float]:
        """Only the penalties switched on (a hosted API may reject a field it does not know). Frequency and
        presence are OpenAI's own fields; the multiplicative one is ``repetition_penalty`` to vLLM and SGLang and
        ``repeat_penalty`` to llama.cpp's servers (the ``echo`` dialect)."""
        body: dict[str, float] = {}
        if s.frequency_penalty:
            body["frequency_penalty"] = s.frequency_penalty
        if s.presence_penalty:
            body["presence_penalty"] = s.presence_penalty
        if s.repetition_penalty != 1.0:
            llama_server = self.config.scoring == "echo" and not self.config.chat_only
            body["repeat_penalty" if llama_server else "repetition_penalty"] = s.repetition_penalty
        return body

    def _all_choices(self, path: str, body: dict[str, Any], n: int) -> list[tuple[dict[str, Any], int]]:
        """``n`` completions; asked for one by one (seeds stepped) from servers that ignore ``n``, like
        llama-cpp-python's."""
        choices = _choices(self.traffic.post(path, body))
        for k in range(len(choices), n):
            seed = {"seed": body["seed"] + k} if "seed" in body else {}
            choices += _choices(self.traffic.post(path, body | {"n": 1} | seed))[:1]
        if len(choices) != n:
            raise ServerError(f"asked for {n} completions, the server returned {len(choices)}")
        return choices

    def _generation(self, text: str, choice: dict[str, Any], tokens: int, stops: Sequence[str]) -> Generation:
        """``tokens``: the server's count, used only without a local tokenizer."""
        text, stopped = cut_at_stop(text, stops)  # servers cut at stop strings too; this makes it certain
        if self.count is not None:
            tokens = self.count(text)
        return Generation(text, tokens, _finish(choice, stopped, stops))

    def _score(self, batch: Sequence[ScoreRequest]) -> list[ScoreResult]:
        encoded = [encode(self.tokenizer, request) for request in batch]
        path, body, root = request_body(self.config.scoring, self.config.model, encoded)
        answer = self.traffic.post(path, body, root=root, parse=False)
        values = read_logprobs(self.config.scoring, answer, encoded, self.tokenizer.bos_token_id)
        return [
            ScoreResult(token_logprobs=logprobs, tokens=one.tokens, context_tokens=one.scored[0])
            for logprobs, one in zip(values, encoded, strict=True)
        ]


def _sampling_fields(s: Sampling) -> dict[str, Any]:
    """top_p and top_k only when set: a benchmark's script that does not set one does not send it (and a hosted
    API may reject top_k)."""
    return {
        **({"top_p": s.top_p} if s.top_p is not None else {}),
        **({"top_k": s.top_k} if s.top_k is not None else {}),
    }


def _traffic(config: ModelConfig) -> Traffic:
    return Traffic(
        config.base_url,
        config.api_key_env,
        config.max_concurrency,
        config.connect_timeout,
        config.read_timeout,
        config.retries,
    )


def served_context(traffic: Traffic, config: ModelConfig) -> int:
    """The context budgets are capped by. vLLM and SGLang report each model's ``max_model_len`` in
    ``/v1/models``: unset, it is the smallest the servers report; set larger than a server's, it is an error
    here rather than a refused request per item. A server that reports nothing (llama-cpp-python's, a hosted
    chat API) leaves the configured value or the default."""
    if config.chat_only:  # a hosted judge: its API caps its own answers
        return config.context_length or DEFAULT_CONTEXT
    try:
        answers = traffic.get_each("/models")
    except ServerError as exc:
        raise BackendError(f"could not ask the server which models it serves: {exc}. Is it running?") from exc
    reported = {}
    for url, answer in answers.items():
        listed = answer.get("data") if isinstance(answer, dict) else None
        models = {m.get("id"): m for m in listed or [] if isinstance(m, dict)}
        if any("max_model_len" in m for m in models.values()) and config.model not in models:
            raise BackendError(
                f"{url} serves {', '.join(map(str, models))}, not '{config.model}': set model: to the served "
                "name (vLLM's --served-model-name)"
            )
        if isinstance(limit := models.get(config.model, {}).get("max_model_len"), int):
            reported[url] = limit
    if not reported:
        return config.context_length or DEFAULT_CONTEXT
    smallest = min(reported.values())
    if config.context_length and config.context_length > smallest:
        url = min(reported, key=reported.__getitem__)
        raise ConfigError(
            f"context_length is {config.context_length} but {url} serves '{config.model}' with max_model_len "
            f"{smallest}: lower context_length, leave it unset to use the server's, or restart the server with a "
            "larger --max-model-len"
        )
    return config.context_length or smallest


def _tokenizer(config: ModelConfig, required: bool = True) -> Any:
    """The served model's tokenizer, read locally: prompts are rendered and tokenized here."""
    try:
        return load_tokenizer(config.tokenizer or config.model)
    except ModelNotFoundError as exc:
        if config.tokenizer:
            raise
        if not required:
            return None
        raise BackendError(
            f"the openai backend renders and tokenizes prompts itself and found no local tokenizer named "
            f"'{config.model}': set tokenizer: to the embedded name, a model folder or a cached Hugging Face id"
        ) from exc


def _choices(response: Any) -> list[tuple[dict[str, Any], int]]:
    """The choices in order, each with its share of the server's completion-token count."""
    try:
        choices = sorted(response["choices"], key=lambda c: c.get("index", 0))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ServerError(f"the server's answer has no choices: {str(response)[:200]}") from exc
    usage = response.get("usage") or {}
    tokens = int(usage.get("completion_tokens") or 0) // max(len(choices), 1)
    return [(choice, tokens) for choice in choices]


def _finish(choice: dict[str, Any], stopped: bool, stops: Sequence[str]) -> FinishReason:
    """The contract's reason. OpenAI says "stop" for a stop string and for end-of-sequence alike; vLLM's
    ``stop_reason`` tells them apart (a string: the stop string; null: end-of-sequence)."""
    if choice.get("finish_reason") == "length":
        return "length"
    if stopped or isinstance(choice.get("stop_reason"), str):
        return "stop"
    if "stop_reason" in choice or not stops:
        return "eos"
    return "stop"  # a server that cannot tell: with stop strings asked for, assume one ended it
