"""Call, ask or decline on items: a stratified split, training on one part, frozen
evaluations of both parts with the memory off and on, and the metrics the field reports.

Each evaluated item's predicted behaviour is the kind of its first decision (a tool call,
asking, or declining: `reflexrl.records.kind_of`). Per behaviour: precision, recall and F1;
their macro mean; accuracy (the expected behaviour, and for a call one of the gold tools);
the tool-hallucination rate (a tool called on an item that expected declining); the ask
rate; the advised rate (the items whose first block advised something: how far the memory
reached, which on items it never saw is those with a near stored item); and the accuracy per
source subset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable

from .. import event_loop
from ..envs.item_suite import ItemSuite, stratified_split
from ..memory import MemoryStore
from ..prompt.block import KIND_CALL, advised_actions
from ..records import DECLINE, KINDS, Episode, Kind, kind_of
from ..usage import Usage
from .config import RunConfig
from .evaluate import aevaluate
from .train import TrainResult, atrain

__all__ = [
    "BehaviourMetrics",
    "BenchResult",
    "abench",
    "behaviour_metrics",
    "behaviour_scores",
    "bench",
]


@dataclass(frozen=True)
class BehaviourMetrics:
    """How well the decisions on some items matched their expected behaviour."""

    items: int
    f1: dict[Kind, float]
    precision: dict[Kind, float]
    recall: dict[Kind, float]
    accuracy: float
    hallucination_rate: float
    """Share of the items that expected declining on which a tool was called."""
    ask_rate: float
    per_source: dict[str, float]
    """Accuracy per source subset."""
    advised_rate: float = 0.0
    """Share of the items whose first memory block advised something (0 with the memory
    off). Only those can decide otherwise than with the memory off: a block without advice
    shows the model what it reads without memory."""

    @property
    def macro_f1(self) -> float:
        """The mean F1 over the behaviours the items expect."""
        return sum(self.f1.values()) / len(self.f1) if self.f1 else 0.0

    def headline(self) -> dict[str, float]:
        """Macro-F1, accuracy and the rates, rounded for display."""
        return {
            "macro_f1": round(self.macro_f1, 4),
            "accuracy": round(self.accuracy, 4),
            "hallucination_rate": round(self.hallucination_rate, 4),
            "ask_rate": round(self.ask_rate, 4),
            "advised_rate": round(self.advised_rate, 4),
        }

    def flat(self) -> dict[str, float]:
        """The headline numbers, then F1 per behaviour, as one flat mapping (a recorded
        evaluation's shape, which the run page shows)."""
        return self.headline() | {f"f1_{kind}": f1 for kind, f1 in _rounded(self.f1).items()}

    def to_json(self) -> dict[str, Any]:
        """The `bench --json` shape."""
        return {
            "items": self.items,
            **self.headline(),
            "f1": _rounded(self.f1),
            "precision": _rounded(self.precision),
            "recall": _rounded(self.recall),
            "per_source": _rounded(self.per_source),
        }


def _rounded(values: dict[Any, float]) -> dict[str, float]:
    return {str(k): round(v, 4) for k, v in values.items()}


def predicted(episode: Episode) -> Kind:
    """The behaviour of an episode's first decision (no decision: declining)."""
    return kind_of(episode.steps[0].action if episode.steps else DECLINE)


def behaviour_scores(
    pairs: Sequence[tuple[Kind, Kind]],
) -> tuple[dict[Kind, float], dict[Kind, float], dict[Kind, float]]:
    """Precision, recall and F1 of each behaviour expected, from (expected, predicted)."""
    precision, recall, f1 = {}, {}, {}
    for kind in [k for k in KINDS if any(x == k for x, _ in pairs)]:
        hits = sum(x == kind and y == kind for x, y in pairs)
        said = sum(y == kind for _, y in pairs)
        true = sum(x == kind for x, _ in pairs)
        precision[kind] = hits / said if said else 0.0
        recall[kind] = hits / true
        both = precision[kind] + recall[kind]
        f1[kind] = 2 * precision[kind] * recall[kind] / both if both else 0.0
    return precision, recall, f1


def behaviour_metrics(episodes: Sequence[Episode], suite: ItemSuite) -> BehaviourMetrics:
    """The metrics of `episodes` on `suite`'s items (see the module docstring)."""
    pairs = [(suite.items[e.query].expected, predicted(e)) for e in episodes]
    precision, recall, f1 = behaviour_scores(pairs)
    declines = [y for x, y in pairs if x == "decline"]
    sources: dict[str, list[bool]] = {}
    for e in episodes:
        sources.setdefault(suite.items[e.query].source, []).append(e.success)
    n = len(episodes)
    return BehaviourMetrics(
        items=n,
        f1=f1,
        precision=precision,
        recall=recall,
        accuracy=sum(e.success for e in episodes) / n if n else 0.0,
        hallucination_rate=sum(y == "call" for y in declines) / len(declines) if declines else 0.0,
        ask_rate=sum(y == "ask" for _, y in pairs) / n if n else 0.0,
        per_source={s: sum(v) / len(v) for s, v in sorted(sources.items())},
        advised_rate=sum(_advised(e) for e in episodes) / n if n else 0.0,
    )


def _advised(episode: Episode) -> bool:
    """Whether the episode's first memory block advised something."""
    return advice_of(episode.memory_blocks[0] if episode.memory_blocks else None) != "none"


@dataclass(frozen=True)
class BenchResult:
    """A bench run: the split, the training, and each part's metrics with memory off and on."""

    train: TrainResult
    parts: dict[str, ItemSuite]
    """"train" and "heldout": the items of each part."""
    metrics: dict[tuple[str, bool], BehaviourMetrics]
    """(part, memory on) -> the frozen evaluation's metrics."""
    episodes: dict[tuple[str, bool], tuple[Episode, ...]]
    usage: Usage

    def mistakes(self, part: str = "heldout") -> list[dict[str, Any]]:
        """The items of `part` the agent got wrong with the memory on, and what the memory
        advised on each (`none`: no advice; `call`: the kind, no tool named)."""
        suite = self.parts[part]
        return [
            {
                "id": e.query,
                "source": suite.items[e.query].source,
                "expected": suite.items[e.query].expected,
                "decided": e.steps[0].action if e.steps else DECLINE,
                "advised": advice_of(e.memory_blocks[0] if e.memory_blocks else None),
            }
            for e in self.episodes[(part, True)]
            if not e.success
        ]

    def to_json(self) -> dict[str, Any]:
        """The `bench --json` shape."""
        return {
            "run_id": self.train.run_id,
            "items": {part: len(s.items) for part, s in self.parts.items()},
            "metrics": {
                part: {
                    "off": self.metrics[(part, False)].to_json(),
                    "on": self.metrics[(part, True)].to_json(),
                }
                for part in self.parts
            },
            "usage": self.usage.to_json(),
            "heldout_mistakes": self.mistakes(),
        }


def advice_of(block: str | None) -> str:
    """What a memory block advised, in a word: the actions, `call` (the kind), or `none`."""
    if block is None:
        return "none"
    if KIND_CALL in block:
        return "call"
    actions = advised_actions(block)
    return "none" if actions is None else ",".join(sorted(actions))


async def abench(
    agent: Runnable[Any, Any],
    suite: ItemSuite,
    memory: MemoryStore,
    config: RunConfig,
    *,
    frozen_agent: Runnable[Any, Any] | None = None,
    share: float = 0.5,
) -> BenchResult:
    """Split `suite` (stratified by behaviour and source, seeded by `config.seed`), train
    `agent` into `memory` on the `share` part, then evaluate both parts with `frozen_agent`
    (the same model greedy, as a frozen evaluation runs it; None: `agent`), once with the
    memory off and once on, and record both evaluations in `memory` after the training run
    (splits `bench:train` and `bench:heldout`; the run's page shows them). `bench` runs it
    on reflexrl's event loop."""
    train_part, heldout = stratified_split(suite, share, config.seed)
    trained = await atrain(agent, train_part, memory, config.with_(lookup=memory.lookup_kind))
    parts = {"train": train_part, "heldout": heldout}
    metrics, episodes, usage = {}, {}, trained.usage
    frozen = config.with_(epochs=1, lookup=memory.lookup_kind)
    for name, part in parts.items():
        for on in (False, True):
            result = await aevaluate(
                frozen_agent or agent, part, frozen, use_memory=on, memory=memory.location
            )
            metrics[(name, on)] = behaviour_metrics(result.episodes, part)
            episodes[(name, on)] = result.episodes
            usage = usage + result.usage
        results = {"before": metrics[(name, False)].flat(), "after": metrics[(name, True)].flat()}
        memory.record_evaluation(suite.name, config.model, f"bench:{name}", results)
    return BenchResult(trained, parts, metrics, episodes, usage)


bench = event_loop.blocking(abench)
