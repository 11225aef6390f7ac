"""Reasoning written in another markup, turned into the ``<think>`` block every REER sample uses.

Public reasoning sets mark the thinking their own way (OpenThoughts and Bespoke-Stratos:
``<|begin_of_thought|>…<|end_of_thought|>`` then ``<|begin_of_solution|>…<|end_of_solution|>``). Read as a plain
assistant turn, such a sample has no thinking and the markup inside its answer: a model trained on it learns to
write the markup. Each sample is converted when its markup is unambiguous and refused otherwise.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable

from reer.records.sample import SftSample

# name → (thinking open, close), (answer open, close) or None when the answer simply follows.
MARKUPS: dict[str, tuple[tuple[str, str], tuple[str, str] | None]] = {
    "<|begin_of_thought|>": (
        ("<|begin_of_thought|>", "<|end_of_thought|>"),
        ("<|begin_of_solution|>", "<|end_of_solution|>"),
    ),
    "<thinking>": (("<thinking>", "</thinking>"), None),
    "<reasoning>": (("<reasoning>", "</reasoning>"), None),
    "<thought>": (("<thought>", "</thought>"), None),
    "<seed:think>": (("<seed:think>", "</seed:think>"), None),
    "◁think▷": (("◁think▷", "◁/think▷"), None),
}
ALREADY = "<think>"
NONE = "no thinking"


def to_think(sample: SftSample) -> tuple[SftSample | None, str]:
    """(the sample with its thinking in ``<think>``, or None if refused; what was found or why it was refused)."""
    if "<think>" in sample.answer or "</think>" in sample.answer:
        return None, "refused: a <think> block not at the start of the answer"
    if sample.thinking:
        return sample, ALREADY
    text = sample.answer.strip()
    for name, (thought, solution) in MARKUPS.items():
        if thought[0] not in text and thought[1] not in text:
            continue
        if text.count(thought[0]) != 1 or text.count(thought[1]) != 1 or not text.startswith(thought[0]):
            return None, f"refused: {name} is not one block at the start"
        thinking, _, rest = text.removeprefix(thought[0]).partition(thought[1])
        answer = rest.strip()
        if solution and (solution[0] in answer or solution[1] in answer):
            if answer.count(solution[0]) != 1 or answer.count(solution[1]) != 1:
                return None, f"refused: {solution[0]} is not one block"
            answer = answer.partition(solution[0])[2].partition(solution[1])[0].strip()
        if not thinking.strip() or not answer:
            return None, f"refused: {name} leaves no thinking or no answer"
        return dataclasses.replace(sample, thinking=thinking.strip(), answer=answer), name
    return sample, NONE


def convert_all(samples: Iterable[SftSample]) -> tuple[list[SftSample], Counter[str]]:
    """The samples that convert (refused ones left out) and how many of each outcome."""
    kept: list[SftSample] = []
    outcomes: Counter[str] = Counter()
    for sample in samples:
        converted, outcome = to_think(sample)
        outcomes[outcome] += 1
        if converted is not None:
            kept.append(converted)
    return kept, outcomes


def describe(outcomes: Counter[str]) -> str:
    """One line: 'converted 20 from <|begin_of_thought|>; 60 already in <think>; 3 refused (…)'."""
    parts = [f"{n} already in <think>" for k, n in outcomes.items() if k == ALREADY]
    parts += [f"converted {n} from {k}" for k, n in outcomes.items() if k in MARKUPS]
    parts += [f"{n} without thinking" for k, n in outcomes.items() if k == NONE]
    parts += [f"{n} {k}" for k, n in outcomes.items() if k.startswith("refused")]
    return "; ".join(parts)
