"""The learning rule, once for every backend: an episode -> the credits it applies.

Each step of an episode credits its reward to the prompt it is credited to
(`Step.credit_key`: the prompt that started the episode with `credit="origin"`, the one
being handled with `credit="current"`), and, when the step says so (`Step.also_prompt`), to
the one being handled as well: two credits. A store applies a credit by adding the reward to
the prompt's aggregate (reward, visits, clarifications) and to the (prompt, action) record,
and by appending it to its reward events, all in the episode's one transaction.
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
    """The credits an episode applies to the memory, one per prompt a step credits, in step
    order."""
    return tuple(
        RewardCredit(
            step_index=step.index,
            suite=episode.suite,
            prompt=prompt,
            query=episode.query,
            action=step.action,
            reward=step.reward,
            clarification=step.is_clarification,
        )
        for step in episode.steps
        for prompt in step.credit_keys
    )
