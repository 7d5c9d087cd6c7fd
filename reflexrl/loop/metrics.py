"""Metrics of a set of episodes: success, steps to a valid tool, clarifications, wrong tools,
and what they spent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import reduce
from itertools import islice
from operator import add
from statistics import mean, pstdev
from typing import Any

from ..prompt.block import advised_actions
from ..records import Episode, Failure
from ..usage import Usage


@dataclass(frozen=True)
class Metrics:
    """Aggregates over episodes. Rates are fractions; `*_rate` of steps are per action taken."""

    episodes: int
    success_rate: float
    success_within_2: float
    mean_steps: float
    steps_to_valid: float
    """Mean step at which the valid tool was called, over the successful episodes."""
    clarifications: int
    wrong_tools: int
    clarification_rate: float
    wrong_tool_rate: float
    reward: float
    mean_reward: float
    advised_steps: int
    """Steps taken after a memory block that gave advice (0 with memory off)."""
    advice_following_rate: float
    """Of those, the fraction whose action was one the block advised: low with good advice
    means the model did not follow it; high with a poor result, that the memory advised
    wrong."""

    def to_json(self) -> dict[str, Any]:
        """Plain dict, floats rounded for display."""
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def summarize(episodes: Sequence[Episode]) -> Metrics:
    """Aggregate metrics; an empty list gives zeros."""
    return from_counts(
        [
            (e.success, len(e.steps), e.clarifications, e.wrong_tools, e.reward, e.steps_to_valid)
            for e in episodes
        ],
        [taken for e in episodes for taken in advice_taken(e)],
    )


EpisodeCounts = tuple[bool, int, int, int, float, "int | None"]
"""(success, steps, clarifications, wrong tools, reward, steps to the valid tool) of one
episode: what its metrics are made of."""


def from_counts(episodes: Sequence[EpisodeCounts], followed: Sequence[bool] = ()) -> Metrics:
    """The metrics of episodes given as their counts, and of the advised steps (`followed`:
    whether each took an advised action)."""
    n = len(episodes)
    steps = sum(e[1] for e in episodes)
    clarifications = sum(e[2] for e in episodes)
    wrong = sum(e[3] for e in episodes)
    reward = sum(e[4] for e in episodes)
    to_valid = [e[5] for e in episodes if e[5] is not None]
    within_2 = sum(1 for s in to_valid if s <= 2)
    return Metrics(
        episodes=n,
        success_rate=_ratio(sum(e[0] for e in episodes), n),
        success_within_2=_ratio(within_2, n),
        mean_steps=_ratio(steps, n),
        steps_to_valid=_ratio(sum(to_valid), len(to_valid)),
        clarifications=clarifications,
        wrong_tools=wrong,
        clarification_rate=_ratio(clarifications, steps),
        wrong_tool_rate=_ratio(wrong, steps),
        reward=reward,
        mean_reward=_ratio(reward, n),
        advised_steps=len(followed),
        advice_following_rate=_ratio(sum(followed), len(followed)),
    )


def advice_taken(episode: Episode) -> list[bool]:
    """For each step taken after a block that advised (`block.advised_actions`): whether
    its action was advised. The k-th model reply read the k-th block of the episode."""
    taken: list[bool] = []
    steps = iter(episode.steps)
    replies = [m.get("data", {}) for m in episode.messages if m.get("type") == "ai"]
    for block, reply in zip(episode.memory_blocks, replies, strict=False):
        advised = advised_actions(block)
        calls = len(reply.get("tool_calls") or []) + len(reply.get("invalid_tool_calls") or [])
        for step in islice(steps, calls):
            if advised is not None:
                taken.append(step.action in advised)
    return taken


def by_query(episodes: Iterable[Episode]) -> dict[str, Metrics]:
    """Metrics per query, sorted by query id."""
    groups: dict[str, list[Episode]] = {}
    for episode in episodes:
        groups.setdefault(episode.query, []).append(episode)
    return {query: summarize(groups[query]) for query in sorted(groups)}


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation (0, 0 for no values)."""
    return (mean(values), pstdev(values)) if values else (0.0, 0.0)


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def total_usage(records: Sequence[Episode | Failure]) -> Usage:
    """What a set of episodes and failed attempts spent in all."""
    return reduce(add, (r.usage for r in records), Usage())
