"""How a prompt finds its memory: the `Lookup` protocol, the exact lookup, and the estimate
a set of neighbours gives for each action."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..records import MemoryRow, best_by_value
from .protocols import LookupKind, Neighbour


class RowSource(Protocol):
    """What a lookup reads rows from (a store or one of its snapshots)."""

    def lookup(self, suite: str, prompt: str) -> MemoryRow | None:
        """The row of one prompt."""
        ...

    def lookup_many(self, suite: str, prompts: Sequence[str]) -> dict[str, MemoryRow]:
        """The rows of several prompts, by prompt."""
        ...

    def prompts_after(self, suite: str, after: int) -> list[tuple[int, str]]:
        """(id, prompt) of the rows added after id `after`."""
        ...

    def lookup_fresh(
        self, suite: str, prompts: Sequence[str], after: int
    ) -> dict[str, MemoryRow] | None:
        """The rows of several prompts, by prompt, or None if the suite has rows added after
        id `after` (an index that has seen the rows up to `after` is stale): one read, so
        a lookup whose index is current reads a server once."""
        ...


class VectorCache(Protocol):
    """Where a kNN lookup keeps embeddings between processes (the memory file)."""

    read_only: bool

    def index_folder(self) -> Path | None:
        """Where to keep vector indexes too large to rebuild on every open (None: nowhere)."""
        ...

    def bind_embedding_model(self, model_id: str) -> None:
        """Record the embedding model, or refuse a different one."""
        ...

    def cached_vectors(self, model_id: str, hashes: Sequence[str]) -> dict[str, bytes]:
        """Stored float32 vectors by text hash."""
        ...

    def cache_vectors(self, model_id: str, vectors: dict[str, bytes]) -> None:
        """Keep float32 vectors by text hash."""
        ...


class Lookup(Protocol):
    """Finds the rows that inform a prompt. A store is opened with one (`open_memory`)."""

    kind: LookupKind

    def bind(self, cache: VectorCache) -> None:
        """Called once by the store opened with this lookup."""
        ...

    def nearest(self, source: RowSource, suite: str, prompt: str) -> Sequence[Neighbour]:
        """The rows for `prompt`, most similar first."""
        ...


class ExactLookup:
    """The paper's lookup table: a prompt's own row, found by its exact text."""

    kind: LookupKind = "exact"

    def bind(self, cache: VectorCache) -> None:
        """Nothing to bind: the exact lookup needs no embeddings."""

    def nearest(self, source: RowSource, suite: str, prompt: str) -> Sequence[Neighbour]:
        """The prompt's row at similarity 1.0, or nothing."""
        row = source.lookup(suite, prompt)
        return [] if row is None else [Neighbour(row, 1.0)]


@dataclass(frozen=True)
class ActionEstimate:
    """What the neighbours say about one action."""

    value: float
    """The similarity-weighted mean, over the neighbours, of each one's mean reward for the
    action (a neighbour that never took it counts 0: no evidence, the reward of asking)."""
    weight: float
    """Similarity x times taken, summed over the neighbours: how much evidence there is."""
    n: int
    """Times the action was taken on the neighbouring prompts."""


OWN_WEIGHT = 1.0
"""How many of a prompt's own tries of an action count as much as its neighbours' estimate."""


def estimate(
    neighbours: Sequence[Neighbour], prompt: str | None = None
) -> dict[str, ActionEstimate]:
    """Per action: sum(similarity x mean reward) / sum(similarity), over the neighbours; for
    a stored `prompt`, shrunk towards its own record as it grows.

    Averaging the neighbours' means (rather than pooling their rewards) keeps a neighbour
    that found its tool early, and so never tried the others, from being outvoted on those
    others by a neighbour of another query that succeeded with them: a neighbour's silence
    about an action counts as 0. When `prompt` is stored (a neighbour is its own row), that
    row is not one neighbour among k: an action it tried n times is estimated as
    (n x its own mean + `OWN_WEIGHT` x the other neighbours' estimate) / (n + `OWN_WEIGHT`),
    so what this very prompt earned outweighs what similar ones did once it has been tried.
    With one neighbour (the exact lookup) the estimate is its row's mean reward per action.
    """
    own = own_row(neighbours, prompt)
    others = [nb for nb in neighbours if nb.row is not own]
    prior = _weighted_means(others)
    if own is None:
        return prior
    if not others:
        return _weighted_means([Neighbour(own, 1.0)])
    merged = dict(prior)
    for action, stats in own.actions.items():
        base = prior.get(action, ActionEstimate(0.0, 0.0, 0))
        value = (stats.n * stats.mean + OWN_WEIGHT * base.value) / (stats.n + OWN_WEIGHT)
        merged[action] = ActionEstimate(value, base.weight + stats.n, base.n + stats.n)
    return dict(sorted(merged.items()))


def own_row(neighbours: Sequence[Neighbour], prompt: str | None) -> MemoryRow | None:
    """The row of `prompt` itself among the rows found for it (None: it is not stored)."""
    return next((nb.row for nb in neighbours if nb.row.prompt == prompt), None)


def _weighted_means(neighbours: Sequence[Neighbour]) -> dict[str, ActionEstimate]:
    total = sum(nb.similarity for nb in neighbours)
    sums: dict[str, list[float]] = {}
    for nb in neighbours:
        for action, stats in nb.row.actions.items():
            t = sums.setdefault(action, [0.0, 0.0, 0.0])
            t[0] += nb.similarity * stats.mean
            t[1] += nb.similarity * stats.n
            t[2] += stats.n
    return {
        a: ActionEstimate(value / total if total else 0.0, weight, int(n))
        for a, (value, weight, n) in sorted(sums.items())
    }


def best_estimated(estimates: Mapping[str, ActionEstimate]) -> str | None:
    """The action of highest estimated reward (ties: the most evidence); an action not tried
    yet counts at its known reward (asking: 0).

    The rule of `MemoryRow.best_action` (`best_by_value`), applied to what the rows found
    for a prompt say (`estimate`) instead of to one row's own means: with the exact lookup
    both name the same action; with kNN the neighbours count too.
    """
    return best_by_value({a: (e.value, e.weight) for a, e in estimates.items()})
