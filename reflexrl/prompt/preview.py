"""What the agent would see for one prompt, and what it comes from (`reflexrl memory show
--prompt`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..memory import ActionEstimate, Advice, MemoryReader, Neighbour
from .renderers import focused_block, recall

__all__ = ["PromptMemory", "prompt_memory"]


@dataclass(frozen=True)
class PromptMemory:
    """What the agent would see for a prompt: the rendered block, the rows it comes from and
    the estimate they give (`reflexrl memory show --prompt`)."""

    suite: str
    prompt: str
    lookup: str
    block: str
    neighbours: tuple[Neighbour, ...]
    estimates: Mapping[str, ActionEstimate]
    advice: Advice

    def to_json(self) -> dict[str, Any]:
        """The `memory show --prompt --json` shape."""
        return {
            "suite": self.suite,
            "prompt": self.prompt,
            "lookup": self.lookup,
            "best_action": self.advice.best,
            "untried": list(self.advice.untried),
            "contested": list(self.advice.contested),
            "estimate": {
                a: {"value": round(e.value, 6), "weight": round(e.weight, 6), "n": e.n}
                for a, e in self.estimates.items()
            },
            "neighbours": [
                {"similarity": round(nb.similarity, 6), **nb.row.to_json()}
                for nb in self.neighbours
            ],
            "block": self.block,
        }


def prompt_memory(
    store: MemoryReader,
    suite: str,
    prompt: str,
    *,
    tools: Sequence[str] = (),
    neighbour_text: bool = True,
) -> PromptMemory:
    """The focused block the agent would see for `prompt` (no exploration) when it can call
    `tools`, and its parts."""
    seen = recall(store, suite, prompt, tools=tools)
    block = focused_block(seen, store.lookup_kind, neighbour_text)
    advice = seen.advice or Advice(None)
    return PromptMemory(suite, prompt, store.lookup_kind, block, seen.found, seen.estimates, advice)
