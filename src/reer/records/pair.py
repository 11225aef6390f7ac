"""A (request, reference) pair: the input of every stage."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Pair(BaseModel):
    id: str
    query: str
    reference: str
    source: dict[str, Any] = Field(default_factory=dict, description="Provenance: dataset, licence, …")
