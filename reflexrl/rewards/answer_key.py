"""Reward models: the mapping from a query and an action to a scalar reward."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from ..records import CLARIFY

MAX_REWARD = 1e6
"""The largest reward (in size) a suite may give one action."""


class RewardWeights(BaseModel):
    """Reward for a valid tool, a wrong tool, and a clarification (Curuksu's paper: +1, -1, 0).

    Each is finite and at most `MAX_REWARD` in size: sums of them are stored and compared."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    valid: float = Field(default=1.0, ge=-MAX_REWARD, le=MAX_REWARD)
    wrong: float = Field(default=-1.0, ge=-MAX_REWARD, le=MAX_REWARD)
    clarify: float = Field(default=0.0, ge=-MAX_REWARD, le=MAX_REWARD)


@runtime_checkable
class RewardModel(Protocol):
    """What a reward model answers. Implement it to plug in your own (an LLM judge, say)."""

    def reward(self, query: str, action: str) -> float:
        """Reward for taking `action` (a tool name or the clarification tool) on `query`."""
        ...

    def is_valid(self, query: str, action: str) -> bool:
        """Whether `action` fulfils `query` (a valid tool ends the episode)."""
        ...


@dataclass(frozen=True)
class ToolMappingReward:
    """The paper's reward model: each query maps to its set of valid tools."""

    valid_tools: Mapping[str, frozenset[str]]
    weights: RewardWeights = field(default_factory=RewardWeights)

    @classmethod
    def from_pairs(
        cls, pairs: Iterable[tuple[str, Iterable[str]]], weights: RewardWeights | None = None
    ) -> ToolMappingReward:
        """Build from (query, valid tools) pairs."""
        mapping = {query: frozenset(tools) for query, tools in pairs}
        return cls(mapping, weights or RewardWeights())

    def is_valid(self, query: str, action: str) -> bool:
        """Whether `action` is one of the query's valid tools."""
        return action in self.valid_tools.get(query, frozenset())

    def reward(self, query: str, action: str) -> float:
        """+valid for a valid tool, clarify for asking, wrong for anything else."""
        if action == CLARIFY:
            return self.weights.clarify
        return self.weights.valid if self.is_valid(query, action) else self.weights.wrong
