"""Shadow mode's report: how often the advice an agent was not shown matched what was
rewarded (`Learning(shadow=True)`: learn and log the block each call would have read,
inject nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..memory import MemoryStore
from ..memory.pending import learn_run_id
from ..prompt.block import advised_actions

__all__ = ["ShadowReport", "shadow_report"]


@dataclass(frozen=True)
class ShadowReport:
    """Over the credited decisions of a suite's invocations: how many had advice, and how
    the advice stood to the actions the rewards judged."""

    decisions: int
    advised: int
    followed: int
    """Advised decisions whose action was the advice (the agent did as it would be told)."""
    rewarded: int
    """Advised decisions that earned a positive reward."""
    rewarded_as_advised: int
    """Of those, the ones whose action the advice named: the advice would have led there."""
    penalized: int
    """Advised decisions that earned a negative reward."""
    penalized_against_advice: int
    """Of those, the ones the advice named another action for: it would have steered away."""

    def to_json(self) -> dict[str, Any]:
        """Counts and the two shares (None: nothing to share)."""
        return {
            **vars(self),
            "advice_matches_rewarded": _share(self.rewarded_as_advised, self.rewarded),
            "advice_avoids_penalized": _share(self.penalized_against_advice, self.penalized),
        }


def shadow_report(memory: MemoryStore, suite: str) -> ShadowReport:
    """The report of a suite's credited invocations (any mode: in shadow mode the block is
    the one the agent did not see, otherwise the one it read)."""
    credited = {e.index: e for e in memory.episodes(learn_run_id(suite))}
    counts = dict.fromkeys(("decisions", "advised", "followed", "rewarded"), 0)
    counts |= dict.fromkeys(("rewarded_as_advised", "penalized", "penalized_against_advice"), 0)
    for invocation in memory.invocations(suite, "credited"):
        episode = credited.get(invocation.number)
        rewards = {} if episode is None else {s.index: s.reward for s in episode.steps}
        for decision in invocation.decisions:
            if decision.index not in rewards:
                continue
            counts["decisions"] += 1
            told = advised_actions(decision.block or "")
            if not told:
                continue
            reward, named = rewards[decision.index], decision.action in told
            counts["advised"] += 1
            counts["followed"] += named
            if reward > 0:
                counts["rewarded"] += 1
                counts["rewarded_as_advised"] += named
            elif reward < 0:
                counts["penalized"] += 1
                counts["penalized_against_advice"] += not named
    return ShadowReport(**counts)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
