"""The tokenizer a model is trained with: its chat template and the token that ends a turn.

A base model may have no chat template (Gemma 3 270M base) or one whose turn end is not its eos (Qwen3-Base's
turns end in ``<|im_end|>``, its eos is ``<|endoftext|>``). Either way the trained model must stop where its
trained turns stop, so the turn end becomes the tokenizer's eos (TRL then sets it in the model's configs) and
``final/`` keeps the template it was trained with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reer.config import TrainConfig
from reer.errors import ConfigError


def base_template(tokenizer: Any) -> str:
    """reer's template for a model without one: ``<|role|>`` lines, each turn closed by the tokenizer's own eos
    (a token every base model has and every tool already stops at), led by its bos if it normally adds one. The
    assistant turn carries the thinking inline (``<think>…</think>`` then the answer), as every REER sample does.
    """
    lead = "{{ bos_token }}" if _adds_bos(tokenizer) else ""
    return (
        lead + "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
        "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    )


def _adds_bos(tokenizer: Any) -> bool:
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("a")["input_ids"][:1] == [bos]


def training_tokenizer(config: TrainConfig) -> Any:
    """The base model's tokenizer with the template it is trained with: ``train.chat_template`` if given, else its
    own, else :func:`base_template`."""
    from transformers import AutoTokenizer

    from reer.backends.models import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(config.base_model), local_files_only=True)
    if config.chat_template:
        tokenizer.chat_template = _read(config.chat_template)
    elif not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = base_template(tokenizer)
    if tokenizer.eos_token is None:
        raise ConfigError(f"{config.base_model}'s tokenizer has no eos token: a trained model could never stop")
    return tokenizer


def _read(template: str) -> str:
    """A Jinja string, or a path to one (anything without template markup that names a file)."""
    if "{%" in template or "{{" in template:
        return template
    path = Path(template).expanduser()
    if not path.is_file():
        raise ConfigError(f"train.chat_template: {template} is neither a Jinja template nor a file")
    return path.read_text(encoding="utf-8")


def turn_end(tokenizer: Any) -> int | None:
    """The token that ends an assistant turn in the chat template (``<|im_end|>``, ``<end_of_turn>``, or the eos in
    :func:`base_template`): a model trained on chat turns stops there, which a base model's eos may never mark."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    marker = "REER-TURN-END-PROBE"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": marker}], tokenize=False
    )
    tail = text.split(marker, 1)[1] if marker in text else ""
    special = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}))
    return next((i for i in tokenizer(tail, add_special_tokens=False)["input_ids"] if i in special), None)


def turn_end_token(tokenizer: Any) -> str | None:
    """The turn end as a token string when it is not already the eos (TRL's ``eos_token`` makes it so)."""
    turn = turn_end(tokenizer)
    return tokenizer.convert_ids_to_tokens(turn) if turn is not None and turn != tokenizer.eos_token_id else None


def stop_tokens(tokenizer: Any, model_eos: int | list[int] | None) -> list[int]:
    """The turn's end first, then the base model's own eos ids (kept: text after a turn still ends there)."""
    base = [model_eos] if isinstance(model_eos, int) else list(model_eos or [])
    ids = [turn_end(tokenizer), *base, tokenizer.eos_token_id]
    return list(dict.fromkeys(i for i in ids if i is not None))
