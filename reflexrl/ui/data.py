"""What each page shows, read from a memory (a SQLite file or a PostgreSQL database): paged
queries for what grows (rows, episodes; `reflexrl.memory.queries`), the library's own readers
(`build_report`, `rows_at`, `nearest`) for the rest."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import BadInputError
from ..loop.metrics import Metrics, from_counts
from ..loop.report import QueryBeforeAfter, before_after_of
from ..loop.train import EpochMetrics
from ..memory import Neighbour, queries
from ..memory.history import Event
from ..memory.queries import InspectableMemory
from ..records import Episode, MemoryRow, RunInfo
from ..usage import Usage

PER_PAGE = 50
SORTS = queries.PAGE_SORTS
"""The memory table's sortable columns."""


@dataclass(frozen=True)
class Paging:
    """Which slice of a long list a page shows."""

    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages the list has (at least 1)."""
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def offset(self) -> int:
        """The first item's position."""
        return (self.page - 1) * self.per_page


@dataclass(frozen=True)
class MemoryPage:
    """The memory table, one page of it."""

    rows: tuple[MemoryRow, ...]
    paging: Paging
    query: str
    sort: str
    descending: bool


def paging(page: int, total: int) -> Paging:
    """The slice for `page`, PER_PAGE long (clamped to the pages there are)."""
    last = max(1, math.ceil(total / PER_PAGE))
    return Paging(min(max(1, page), last), PER_PAGE, total)


def memory_page(
    store: InspectableMemory,
    *,
    search: str = "",
    sort: str = "visits",
    descending: bool = True,
    page: int = 1,
) -> MemoryPage:
    """Rows whose prompt or query holds `search`, sorted, one page of them."""
    if sort not in SORTS:
        raise BadInputError(f"sort: no column '{sort}' (choose {', '.join(SORTS)})")
    slice_ = paging(page, queries.count_matching(store, search))
    rows = queries.matching_rows(
        store,
        search,
        sort=sort,
        descending=descending,
        limit=slice_.per_page,
        offset=slice_.offset,
    )
    return MemoryPage(rows, slice_, search, sort, descending)


def counts(store: InspectableMemory) -> dict[str, int]:
    """Rows, runs and episodes in the memory."""
    return queries.counts(store)


def runs(store: InspectableMemory) -> list[dict[str, Any]]:
    """Every run, newest first, with its episode count."""
    return queries.runs_with_episodes(store)


@dataclass(frozen=True)
class Credit:
    """One reward event of a prompt, with the row right after it."""

    number: int
    episode_id: int
    action: str
    reward: float
    row: MemoryRow


@dataclass(frozen=True)
class PromptPage:
    """A prompt's page."""

    row: MemoryRow | None
    credits: tuple[Credit, ...]
    episodes: tuple[dict[str, Any], ...]
    paging: Paging
    neighbours: tuple[Neighbour, ...] | None
    """None: the memory has no kNN lookup."""


def prompt_page(store: InspectableMemory, suite: str, prompt: str, *, page: int = 1) -> PromptPage:
    """A prompt's row, its credits in log order, the episodes that credited it (one page),
    and its neighbours when the memory has a kNN lookup."""
    row = store.lookup(suite, prompt)
    history: list[Credit] = []

    def keep(event: Event, after: MemoryRow) -> None:
        history.append(Credit(len(history) + 1, event.episode, event.action, event.reward, after))

    queries.replay_prompt(store, suite, prompt, keep)
    if row is None and not history:
        raise BadInputError(f"no prompt {prompt!r} in suite '{suite}'")
    episodes, slice_ = _crediting(store, suite, prompt, page)
    neighbours = tuple(store.nearest(suite, prompt)) if store.lookup_kind == "knn" else None
    return PromptPage(row, tuple(history), episodes, slice_, neighbours)


def _crediting(
    store: InspectableMemory, suite: str, prompt: str, page: int
) -> tuple[tuple[dict[str, Any], ...], Paging]:
    slice_ = paging(page, queries.crediting_count(store, suite, prompt))
    found = queries.crediting_episodes(
        store, suite, prompt, limit=slice_.per_page, offset=slice_.offset
    )
    return found, slice_


@dataclass(frozen=True)
class Turn:
    """One message of a trajectory, and the memory block of the model call that wrote it."""

    role: str
    content: str
    tool_calls: tuple[tuple[str, str], ...]
    """(tool name, its arguments as JSON)."""
    memory_block: str | None


@dataclass(frozen=True)
class EpisodePage:
    """An episode: where it sits, its steps and its trajectory."""

    id: int
    episode: Episode
    turns: tuple[Turn, ...]


def episode_page(store: InspectableMemory, episode_id: int) -> EpisodePage:
    """The episode with this id (`episodes.id`)."""
    episode = store.episode(episode_id)
    if episode is None:
        raise BadInputError(f"no episode {episode_id} in {store.location}")
    return EpisodePage(episode_id, episode, _turns(episode))


def _turns(episode: Episode) -> tuple[Turn, ...]:
    blocks = iter(episode.memory_blocks)
    turns = []
    for message in episode.messages:
        data = message.get("data", message) if isinstance(message, dict) else {}
        role = str(message.get("type", "?")) if isinstance(message, dict) else "?"
        calls = tuple(
            (str(c.get("name", "")), json.dumps(c.get("args", {}), ensure_ascii=False))
            for c in data.get("tool_calls") or ()
        )
        block = next(blocks, None) if role == "ai" else None
        turns.append(Turn(role, _text(data.get("content", "")), calls, block))
    return tuple(turns)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in content or ()]
    return "\n".join(parts)


@dataclass(frozen=True)
class Fig4:
    """Fig. 4 of Curuksu's paper: per prompt (columns) and epoch (rows), the mean episode
    reward and the mean number of clarifications (fallbacks)."""

    columns: tuple[str, ...]
    """A short label per prompt: its query and its number within the query."""
    prompts: tuple[tuple[str, str, str], ...]
    """(label, query, prompt) of each column."""
    epochs: tuple[int, ...]
    reward: tuple[tuple[float | None, ...], ...]
    fallbacks: tuple[tuple[float | None, ...], ...]
    hidden: int
    """Prompts left out (only the MAX_COLUMNS most visited are drawn)."""


MAX_COLUMNS = 60


def fig4(rows: Sequence[dict[str, Any]]) -> Fig4:
    """The Fig. 4 grid of a run's per-episode rows (`run_view`'s)."""
    cells: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault((r["query"], r["prompt"], r["epoch"]), []).append(r)
    visits: dict[tuple[str, str], int] = {}
    for (query, prompt, _), group in cells.items():
        visits[(query, prompt)] = visits.get((query, prompt), 0) + len(group)
    keys = sorted(sorted(visits, key=lambda k: -visits[k])[:MAX_COLUMNS])
    epochs = tuple(sorted({epoch for _, _, epoch in cells}))
    labels: list[str] = []
    numbers: dict[str, int] = {}
    for query, _ in keys:
        numbers[query] = numbers.get(query, 0) + 1
        labels.append(f"{query} {numbers[query]}")

    def panel(field: str) -> tuple[tuple[float | None, ...], ...]:
        return tuple(tuple(_mean(cells.get((q, p, e)), field) for q, p in keys) for e in epochs)

    prompts = tuple((label, q, p) for label, (q, p) in zip(labels, keys, strict=True))
    hidden = len(visits) - len(keys)
    return Fig4(tuple(labels), prompts, epochs, panel("reward"), panel("clarifications"), hidden)


def _mean(group: list[dict[str, Any]] | None, field: str) -> float | None:
    return None if not group else round(sum(r[field] for r in group) / len(group), 3)


def evaluations(store: InspectableMemory, run_id: str) -> list[dict[str, Any]]:
    """The evaluations recorded right after this run (the last episode before them is one of
    its episodes), with their metrics memory off (`before`) and on (`after`)."""
    return queries.evaluations_after(store, run_id)


@dataclass(frozen=True)
class RunView:
    """What a run's page shows, aggregated in SQL (a 10,000-episode run is not loaded)."""

    run: RunInfo
    epochs: tuple[EpochMetrics, ...]
    """`reflexrl.loop.train.per_epoch`'s metrics, without the advice-following rates."""
    table2: tuple[QueryBeforeAfter, ...]
    fig4: Fig4
    usage: Usage
    failed_attempts: int


def run_view(store: InspectableMemory, run_id: str) -> RunView:
    """A run's page: per-epoch metrics, Table 2, what it spent."""
    run = next((r for r in store.runs() if r.run_id == run_id), None)
    if run is None:
        raise BadInputError(f"no run '{run_id}' in {store.location}")
    rows = queries.per_episode(store, run_id)
    by_epoch: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_epoch.setdefault(r["epoch"], []).append(r)
    epochs = tuple(EpochMetrics(n, _metrics(by_epoch[n])) for n in sorted(by_epoch))
    outcomes = [(r["query"], r["epoch"], r["reward"], r["clarifications"]) for r in rows]
    return RunView(
        run,
        epochs,
        before_after_of(outcomes),
        fig4(rows),
        queries.run_usage(store, run_id),
        queries.failure_count(store, run_id),
    )


def _metrics(rows: Sequence[dict[str, Any]]) -> Metrics:
    """`metrics.summarize` over per-episode rows (no advice-following: no blocks read)."""
    return from_counts(
        [
            (
                bool(r["success"]),
                r["steps"],
                r["clarifications"],
                r["wrong"],
                r["reward"],
                r["to_valid"],
            )
            for r in rows
        ]
    )
