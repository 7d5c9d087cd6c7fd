"""Simulated users: who answers `ask_user_for_clarification` during training."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["RephrasingUser", "SimulatedUser"]


@runtime_checkable
class SimulatedUser(Protocol):
    """Answers the agent's clarification question; the answer becomes the current prompt."""

    def answer(self, question: str, current_prompt: str) -> str:
        """The user's next message."""
        ...


@dataclass
class RephrasingUser:
    """The user of Curuksu's paper: on clarification, says another prompt of the same query.

    Args:
        prompts: The prompt variations of the episode's query.
        rng: A seeded random generator (one per episode keeps runs reproducible).
    """

    prompts: Sequence[str]
    rng: random.Random = field(default_factory=random.Random)

    def answer(self, question: str, current_prompt: str) -> str:
        """A uniformly drawn other prompt of the query (the same one if it has no other)."""
        others = [p for p in self.prompts if p != current_prompt]
        return self.rng.choice(others) if others else current_prompt
