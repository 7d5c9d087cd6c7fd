"""The learning rule, once for every backend: an episode -> the credits it applies.

Every step of an episode is one credit: its reward goes to the prompt the step is credited
to (`Step.credit_key`: the prompt that started the episode with `credit="origin"`, the one
being handled with `credit="current"`). A store applies a credit by adding the reward to the
prompt's aggregate (reward, visits, clarifications) and to the (prompt, action) record, and
by appending it to its reward events, all in the episode's one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..records import Episode


@dataclass(frozen=True)
class RewardCredit:
    """One reward, and the memory row and action it updates."""

    step_index: int
    suite: str
    prompt: str
    query: str
    action: str
    reward: float
    clarification: bool


def credits(episode: Episode) -> tuple[RewardCredit, ...]:
    """The credits an episode applies to the memory, one per step, in step order."""
    return tuple(
        RewardCredit(
            step_index=step.index,
            suite=episode.suite,
            prompt=step.credit_key,
            query=episode.query,
            action=step.action,
            reward=step.reward,
            clarification=step.is_clarification,
        )
        for step in episode.steps
    )
