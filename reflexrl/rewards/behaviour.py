"""The reward model of requests that expect a behaviour: call one of the right tools, ask
(a required parameter is missing or wrong), or decline (no offered tool serves it).

Rewards (`BehaviourWeights`, configurable): the expected behaviour earns `right` (+1: a gold
tool on a `call` request, asking on an `ask` one, declining on a `decline` one); any tool
call that is not a gold tool earns `wrong_call` (-1), also where asking or declining was
right; asking where it was not needed earns `needless_ask` (0: a question costs a turn, as in
Curuksu's paper); declining a request that could be served earns `wrong_decline` (-1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from ..records import CLARIFY, DECLINE, Kind, kind_of
from .answer_key import MAX_REWARD

__all__ = ["BehaviourReward", "BehaviourWeights"]


class BehaviourWeights(BaseModel):
    """Rewards of a request that expects a behaviour (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    right: float = Field(default=1.0, ge=-MAX_REWARD, le=MAX_REWARD)
    wrong_call: float = Field(default=-1.0, ge=-MAX_REWARD, le=MAX_REWARD)
    needless_ask: float = Field(default=0.0, ge=-MAX_REWARD, le=MAX_REWARD)
    wrong_decline: float = Field(default=-1.0, ge=-MAX_REWARD, le=MAX_REWARD)


@dataclass(frozen=True)
class BehaviourReward:
    """Per query, its expected behaviour and (for `call`) its gold tools."""

    expected: Mapping[str, Kind]
    gold_tools: Mapping[str, frozenset[str]]
    weights: BehaviourWeights = field(default_factory=BehaviourWeights)

    def is_valid(self, query: str, action: str) -> bool:
        """Whether `action` is the behaviour `query` expects (a gold tool, for a call)."""
        expected = self.expected.get(query)
        if expected == "call":
            return action in self.gold_tools.get(query, frozenset())
        return expected is not None and kind_of(action) == expected

    def reward(self, query: str, action: str) -> float:
        """`right` for the expected behaviour; otherwise by what the action was."""
        w = self.weights
        if self.is_valid(query, action):
            return w.right
        if action == CLARIFY:
            return w.needless_ask
        return w.wrong_decline if action == DECLINE else w.wrong_call
