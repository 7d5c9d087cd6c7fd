"""Reward sources: where the rewards of an invocation outside training come from.

A source reads a logged invocation (`PendingEpisode`) and answers, per decision, the reward
it knows (a decision it has no opinion on is left out). Several sources combine in a stated
precedence: for each decision, the first source in the list that rewards it wins
(`combine`), so explicit feedback, listed first, overrides outcomes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..records import PendingEpisode
from .answer_key import RewardModel

__all__ = ["AnswerKey", "Outcomes", "RewardSource", "combine"]


@runtime_checkable
class RewardSource(Protocol):
    """Rewards per decision of an invocation: an episode in, {decision index: reward} out."""

    @property
    def name(self) -> str:
        """Recorded with each credited invocation (`settled_by`)."""
        ...

    def rewards(self, episode: PendingEpisode) -> Mapping[int, float]:
        """The rewards this source knows, by decision index (missing: no opinion)."""
        ...


OutcomeRule = Callable[[PendingEpisode], Mapping[int, float]]
"""A user's rule over what happened: rewards by decision index."""


@dataclass(frozen=True)
class Outcomes:
    """Rewards from what the tools returned: a call whose tool raised or returned an error
    earns `error_reward`; then each of `rules` (a callable per rule), earlier ones first.

    Known when the invocation ends, so they are logged with it (`PendingEpisode.proposed`)
    and credited under the feedback, or alone when no feedback arrives in time."""

    error_reward: float = -1.0
    rules: Sequence[OutcomeRule] = ()
    name: str = "outcomes"

    def rewards(self, episode: PendingEpisode) -> Mapping[int, float]:
        """Per failed call, `error_reward`; then what each rule adds for other decisions."""
        found = {d.index: self.error_reward for d in episode.decisions if d.failed}
        for rule in self.rules:
            for index, reward in rule(episode).items():
                found.setdefault(index, float(reward))
        return found


@dataclass(frozen=True)
class AnswerKey:
    """The answer key as a source: a prompt's query (`queries`, prompt -> query) and the
    reward model say what each decision earned. A decision on a prompt the key does not
    know is left to other sources."""

    reward_model: RewardModel
    queries: Mapping[str, str]
    name: str = "answer_key"

    def rewards(self, episode: PendingEpisode) -> Mapping[int, float]:
        """The key's reward for every decision whose prompt (or request) it knows."""
        found: dict[int, float] = {}
        for d in episode.decisions:
            query = self.queries.get(d.prompt, self.queries.get(episode.prompt))
            if query is not None:
                found[d.index] = self.reward_model.reward(query, d.action)
        return found


def combine(
    sources: Iterable[RewardSource], episode: PendingEpisode
) -> dict[int, tuple[float, str]]:
    """Per decision, the reward of the first source (in order) that has one, and its name."""
    found: dict[int, tuple[float, str]] = {}
    for source in sources:
        for index, reward in source.rewards(episode).items():
            found.setdefault(index, (float(reward), source.name))
    return found
