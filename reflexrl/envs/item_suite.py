"""A suite of items: requests that each come with their own tools and expect a behaviour
(call one of the gold tools, ask, or decline), read from a JSON Lines file
(`reflexrl.envs.items`): `Suite.load("items:FILE.jsonl")`.

Each item is a query with one prompt, its question. Its tools are only schemas: the agent
is offered them in place of its own (`EpisodeContext.offered`) and the episode ends at its
first decision, scored by `BehaviourReward`. A split of the items (for `reflexrl bench`) is
a subset of the suite under the same name, so that training and evaluation share one memory
namespace.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool

from ..errors import SuiteError
from ..records import CLARIFY, DECLINE
from ..rewards.behaviour import BehaviourReward
from .items import Item, read_items
from .suite import ITEMS_PREFIX, Suite

__all__ = ["ItemSuite", "stratified_split"]


class ItemSuite(Suite):
    """Items as a suite (see the module docstring)."""

    declines = True

    def __init__(self, items: Sequence[Item], path: Path, name: str) -> None:
        # No `SuiteSpec`: every method of `Suite` that reads one is overridden here.
        self.items = {item.id: item for item in items}
        self.path = path
        self.name = name
        self.reward_model = BehaviourReward(
            {i.id: i.expected for i in items}, {i.id: frozenset(i.gold_tools) for i in items}
        )

    @classmethod
    def from_file(cls, path: str | Path) -> ItemSuite:
        """The items of a JSON Lines file; the suite is named after the file."""
        resolved = Path(path).resolve()
        name = "items-" + "".join(c if c.isalnum() or c in "._-" else "_" for c in resolved.stem)
        return cls(read_items(resolved), resolved, name)

    @property
    def source(self) -> str:
        """How to load this suite again (what a run logs)."""
        return f"{ITEMS_PREFIX}{self.path}"

    def subset(self, ids: Collection[str]) -> ItemSuite:
        """The items with these ids (in file order), under this suite's name."""
        return ItemSuite([i for i in self.items.values() if i.id in ids], self.path, self.name)

    def prompts(self, split: str = "all", holdout: int = 0) -> Iterator[tuple[str, str]]:
        """Every (item id, question), in file order."""
        self.check_holdout(holdout)
        for item in self.items.values():
            yield item.id, item.question

    def prompts_of(self, query: str, split: str = "all", holdout: int = 0) -> list[str]:
        """An item's one prompt: its question."""
        return [self.items[query].question]

    def check_holdout(self, holdout: int) -> None:
        """Items have one prompt each: hold out items instead (`stratified_split`)."""
        if holdout:
            msg = (
                f"holdout {holdout}: the items of {self.name} have one prompt each; hold out "
                "items instead (reflexrl bench splits them by behaviour)"
            )
            raise SuiteError(msg)

    @property
    def tool_names(self) -> list[str]:
        """No tools of the suite's own: each request offers its own."""
        return []

    @property
    def tools(self) -> list[BaseTool]:
        """No tools of the suite's own: each request offers its own."""
        return []

    def valid_actions(self, query: str) -> frozenset[str]:
        """An item's right actions: its gold tools, or asking, or declining."""
        item = self.items[query]
        if item.expected == "call":
            return frozenset(item.gold_tools)
        return frozenset({CLARIFY if item.expected == "ask" else DECLINE})

    def offered_tools(self, query: str) -> tuple[dict[str, Any], ...]:
        """The item's tools as OpenAI function specs."""
        return tuple(tool.to_openai() for tool in self.items[query].tools)

    def request_context(self, query: str) -> str:
        """The item's `context` (ACEBench's `time`)."""
        return self.items[query].context


def stratified_split(suite: ItemSuite, share: float, seed: int) -> tuple[ItemSuite, ItemSuite]:
    """`suite` split in two with each behaviour (and each source subset) in the same
    proportions: `share` of each group's items (rounded; at least one in each part when it
    has two) go to the first part, the rest to the second; which ones is seeded."""
    if not 0 < share < 1:
        raise SuiteError(f"split share {share}: expected a number between 0 and 1")
    rng = random.Random(f"reflexrl:split:{seed}")
    first: set[str] = set()
    for group in sorted({(i.expected, i.source) for i in suite.items.values()}):
        ids = [i.id for i in suite.items.values() if (i.expected, i.source) == group]
        rng.shuffle(ids)
        cut = min(len(ids) - 1, max(1, round(share * len(ids)))) if len(ids) > 1 else len(ids)
        first.update(ids[:cut])
    rest = set(suite.items) - first
    return suite.subset(first), suite.subset(rest)
