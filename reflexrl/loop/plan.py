"""A run's plan: its episodes in a seeded order, made as they are needed."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from ..envs.suite import Suite
from .config import Split


@dataclass(frozen=True)
class PlannedEpisode:
    """One slot of a run's seeded schedule."""

    index: int
    epoch: int
    query: str
    prompt: str


def plan(
    suite: Suite, epochs: int, seed: int, split: Split = "all", holdout: int = 0
) -> Iterator[PlannedEpisode]:
    """The run's episodes, made as they are needed (a long run holds no list of them): each
    epoch shuffles every (query, prompt) of the split with a seeded RNG."""
    pairs = list(suite.prompts(split, holdout))
    for epoch in range(1, epochs + 1):
        order = pairs.copy()
        random.Random(f"reflexrl:order:{seed}:{epoch}").shuffle(order)
        start = (epoch - 1) * len(pairs)
        for offset, (query, prompt) in enumerate(order):
            yield PlannedEpisode(start + offset, epoch, query, prompt)


def plan_size(suite: Suite, epochs: int, split: Split = "all", holdout: int = 0) -> int:
    """How many episodes `plan(suite, epochs, seed, split, holdout)` makes."""
    return epochs * sum(1 for _ in suite.prompts(split, holdout))


def new_run_id() -> str:
    """A sortable, unique run id."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
