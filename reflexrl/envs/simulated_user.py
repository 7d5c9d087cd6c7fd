"""Simulated users: who answers `ask_user_for_clarification` during training."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast, runtime_checkable

from ..errors import BadInputError
from .users import ATTITUDES, Attitude, TemplateUser, UserGoal, user_controls

__all__ = ["USERS", "AttitudeUser", "RephrasingUser", "SimulatedUser", "check_user", "suite_user"]


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


class AttitudeUser:
    """Curuksu's user with a PolyAI attitude: a question is answered with another prompt of
    the query (as `RephrasingUser`), said in the attitude's words (`TemplateUser`'s rephrase
    templates: "Look, I just want: ..."), and past its patience (fewer questions when
    impatient or frustrated) it gives up with `USER_STOP`, which ends the episode.

    Args:
        prompts: The prompt variations of the episode's query.
        rng: Draws the prompt it says next.
        attitude: One of `ATTITUDES`.
        seed: Picks among its templates.
    """

    def __init__(
        self, prompts: Sequence[str], rng: random.Random, attitude: Attitude, seed: int
    ) -> None:
        self.rephrasing = RephrasingUser(prompts, rng)
        goal = UserGoal(intent="query", request=prompts[0] if prompts else "?")
        # no slot words: a suite's query has no slots, so every question gets a rephrasing
        self.template = TemplateUser(goal, user_controls(attitude=attitude), seed, slot_words={})

    def answer(self, question: str, current_prompt: str) -> str:
        """Another prompt of the query in the attitude's words, or `USER_STOP`."""
        other = self.rephrasing.answer(question, current_prompt)
        self.template.goal = UserGoal(intent="query", request=other)
        return self.template.answer(question, current_prompt)


USERS = ("rephrase", *(f"template:{attitude}" for attitude in ATTITUDES))
"""Who answers a suite's clarification questions: `rephrase` (Curuksu's user, the default),
or `template:ATTITUDE` (`AttitudeUser`)."""


def check_user(spec: str) -> None:
    """Refuse a user that `USERS` does not name.

    Raises:
        BadInputError: an unknown user.
    """
    if spec not in USERS:
        raise BadInputError(f"no user '{spec}' (choose {', '.join(USERS)})", setting="user")


def suite_user(spec: str, prompts: Sequence[str], rng: random.Random, seed: int) -> SimulatedUser:
    """The user `spec` (see `USERS`) over a query's prompts."""
    check_user(spec)
    if spec == "rephrase":
        return RephrasingUser(prompts, rng)
    attitude = cast("Attitude", spec.partition(":")[2])  # checked above
    return AttitudeUser(prompts, rng, attitude, seed)
