"""Epsilon resets: in a fraction of episodes the agent sees every memory value as zero."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..errors import BadInputError

__all__ = ["EpsilonSchedule", "as_schedule"]


@dataclass(frozen=True)
class EpsilonSchedule:
    """Probability of an exploration episode: constant, or decaying linearly over the run.

    Args:
        start: Epsilon at the first episode (0.05, as in Curuksu's paper).
        end: Epsilon at the last episode; None keeps `start` throughout (Curuksu's PPO
            runs decay from 0.10 to 0.01).
    """

    start: float = 0.05
    end: float | None = None

    def __post_init__(self) -> None:
        for name, value in (("start", self.start), ("end", self.end)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise BadInputError(f"epsilon {name}: {value} is not between 0 and 1")

    def epsilon(self, episode_index: int, total_episodes: int) -> float:
        """Epsilon for one episode of a run."""
        if self.end is None or total_episodes <= 1:
            return self.start
        progress = min(episode_index / (total_episodes - 1), 1.0)
        return self.start + (self.end - self.start) * progress

    def explores(self, seed: int, episode_index: int, total_episodes: int) -> bool:
        """Whether an episode explores: a seeded draw, the same on every rerun."""
        draw = random.Random(f"reflexrl:explore:{seed}:{episode_index}").random()
        return draw < self.epsilon(episode_index, total_episodes)

    def describe(self) -> str:
        """`0.05` or `0.1->0.01`, for logs and reports."""
        return f"{self.start:g}" if self.end is None else f"{self.start:g}->{self.end:g}"


def as_schedule(epsilon: float | EpsilonSchedule) -> EpsilonSchedule:
    """A schedule from a number (constant) or a schedule."""
    return epsilon if isinstance(epsilon, EpsilonSchedule) else EpsilonSchedule(float(epsilon))
