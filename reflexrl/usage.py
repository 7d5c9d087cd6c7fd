"""Tokens, calls and cost of model calls, and the price list they are costed with.

Prices come from LiteLLM's price map (read from the installed package, never fetched): input,
output, prompt-cache reads and prompt-cache writes per token. `fake:` and `local:` models cost
nothing; a model the map does not know has an unknown cost (None).
"""

from __future__ import annotations

import functools
import importlib.util
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage


@dataclass(frozen=True)
class Usage:
    """What some model calls consumed. `cost` is in USD, None when the price is unknown."""

    calls: int = 0
    input_tokens: int = 0
    """Every prompt token, cached ones included."""
    output_tokens: int = 0
    cache_read_tokens: int = 0
    """Prompt tokens the provider served from its prefix cache."""
    cache_write_tokens: int = 0
    """Prompt tokens written to the provider's prefix cache (Anthropic bills them extra)."""
    cache_hits: int = 0
    """Calls that read at least one token from the provider's prefix cache."""
    cached_responses: int = 0
    """Calls answered by reflexrl's own response cache (no request sent, no cost)."""
    retries: int = 0
    cost: float | None = 0.0

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost is None or other.cost is None else self.cost + other.cost
        summed = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in _COUNTS}
        return Usage(**summed, cost=cost)

    def __sub__(self, other: Usage) -> Usage:
        """What was consumed since `other` (an earlier total of the same counter)."""
        cost = None if self.cost is None or other.cost is None else self.cost - other.cost
        left = {f.name: getattr(self, f.name) - getattr(other, f.name) for f in _COUNTS}
        return Usage(**left, cost=cost)

    def to_json(self) -> dict[str, Any]:
        """Plain dict (cost rounded to 1e-6 USD)."""
        data = asdict(self)
        data["cost"] = None if self.cost is None else round(self.cost, 6)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Usage:
        """Inverse of `to_json` (missing keys are zero)."""
        return cls(**{k: v for k, v in (data or {}).items() if k in _NAMES})


_COUNTS = tuple(f for f in fields(Usage) if f.name != "cost")
_NAMES = frozenset(f.name for f in fields(Usage))


def message_usage(message: BaseMessage) -> Usage:
    """The tokens one model reply reports (LangChain's normalized `usage_metadata`)."""
    meta = getattr(message, "usage_metadata", None) or {}
    details = meta.get("input_token_details") or {}
    read = int(details.get("cache_read") or 0)
    return Usage(
        calls=1,
        input_tokens=int(meta.get("input_tokens") or 0),
        output_tokens=int(meta.get("output_tokens") or 0),
        cache_read_tokens=read,
        cache_write_tokens=int(details.get("cache_creation") or 0),
        cache_hits=int(read > 0),
    )


@dataclass(frozen=True)
class Price:
    """USD per token, from LiteLLM's price map."""

    model: str
    input: float
    output: float
    cache_read: float
    cache_write: float

    def cost(self, usage: Usage) -> float:
        """The cost of `usage` (uncached input, cache reads, cache writes, output)."""
        uncached = max(0, usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens)
        return (
            uncached * self.input
            + usage.cache_read_tokens * self.cache_read
            + usage.cache_write_tokens * self.cache_write
            + usage.output_tokens * self.output
        )


FREE = Price("free", 0.0, 0.0, 0.0, 0.0)
PRICE_FILE = "model_prices_and_context_window_backup.json"


def price_for(spec: str) -> Price | None:
    """The price of a model spec: free for `fake:`/`local:`, LiteLLM's map for hosted ones."""
    provider, _, name = spec.partition(":")
    if provider in ("fake", "local"):
        return FREE
    entry = _price_entry(provider, name)
    if entry is None:
        return None
    base_in = float(entry.get("input_cost_per_token") or 0.0)
    return Price(
        model=name,
        input=base_in,
        output=float(entry.get("output_cost_per_token") or 0.0),
        cache_read=float(entry.get("cache_read_input_token_cost") or base_in),
        cache_write=float(entry.get("cache_creation_input_token_cost") or base_in),
    )


def _price_entry(provider: str, name: str) -> dict[str, Any] | None:
    prices = _price_map()
    candidates = [name, f"{provider}/{name}", name.split("/", 1)[-1]]
    return next((prices[c] for c in candidates if c in prices), None)


@functools.cache
def _price_map() -> dict[str, Any]:
    """The price map LiteLLM ships (the file `litellm.model_cost` is loaded from offline),
    read without importing LiteLLM: that import takes seconds and doubles the heap the
    garbage collector walks during a run. Empty without LiteLLM installed."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(spec.submodule_search_locations[0], PRICE_FILE)
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}
