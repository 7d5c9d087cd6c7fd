"""Which decisions an export takes, and what the log says about each situation.

`ExportOptions` is an export's settings, the same from the CLI and from Python. A situation is
the request a decision answered (`Decision.situation`: the prompt being handled, as the memory
keys its rows); its record over the selected decisions (mean reward per action) says which
action was best there (what the memory taught), which were wrong, and whether the situation
carries a preference signal at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import BadInputError
from ..memory import MemoryStore
from ..records import RunInfo
from .decisions import Decision, decisions_of

ExportFormat = Literal["trl-sft", "trl-dpo", "trl-kto", "trl-grpo", "openai-sft", "openai-dpo"]
FORMATS: tuple[ExportFormat, ...] = (
    "trl-sft",
    "trl-dpo",
    "trl-kto",
    "trl-grpo",
    "openai-sft",
    "openai-dpo",
)


class ExportOptions(BaseModel):
    """What to export and how (every field has the CLI flag of the same name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: ExportFormat = "trl-sft"
    runs: tuple[str, ...] = ()
    """Run ids to export (empty: every run of the suite)."""
    epochs: tuple[int, ...] = ()
    """Epochs to export (1-based; empty: all, unless `last_epochs`)."""
    last_epochs: int | None = Field(default=None, ge=1)
    """Only the last N epochs of each run."""
    explored: Literal["include", "exclude", "only"] = "include"
    """Episodes that saw every value as zero (epsilon resets): kept, left out, or alone."""
    successful_only: bool = False
    """Only episodes that reached a valid tool."""
    min_visits: int = Field(default=1, ge=1)
    """Only prompts the selected episodes decided on at least this many times."""
    dedupe: bool = True
    """Write each distinct record once."""
    with_memory: bool = False
    """Keep the memory block the agent saw in the system prompt (distils the
    memory-conditioned policy); without it, records teach the decision the memory taught to a
    model that will run without memory."""


@dataclass(frozen=True)
class Situation:
    """The record of one situation over the selected decisions."""

    decisions: tuple[Decision, ...]

    @property
    def best(self) -> Decision | None:
        """A decision of the best action taken here (highest mean reward, then most taken),
        or None if every action taken here earned less than 0 (no good example to copy)."""
        means = self._means()
        action = max(means, key=lambda a: means[a])
        if means[action][0] < 0:
            return None
        return next(d for d in self.decisions if d.action == action)

    @property
    def has_signal(self) -> bool:
        """Decisions here earned different rewards (a group with one reward teaches a
        preference nothing: RL trainers skip zero-variance groups)."""
        return len({d.reward for d in self.decisions}) > 1

    def _means(self) -> dict[str, tuple[float, int]]:
        totals: dict[str, list[float]] = defaultdict(list)
        for d in self.decisions:
            totals[d.action].append(d.reward)
        return {a: (sum(r) / len(r), len(r)) for a, r in totals.items()}


def select(store: MemoryStore, suite: str, options: ExportOptions) -> list[Decision]:
    """The decisions of the suite's runs that pass the options' filters, in log order.

    Raises:
        BadInputError: a run that is not in the memory, or of another suite; no run.
    """
    runs = _runs(store, suite, options.runs)
    chosen: list[Decision] = []
    for run in runs:
        epochs = _epochs(run, options)
        for episode in store.episodes(run.run_id):
            if epochs is not None and episode.epoch not in epochs:
                continue
            if not _explored_ok(episode.explored, options) or (
                options.successful_only and not episode.success
            ):
                continue
            chosen.extend(decisions_of(episode))
    return _visited(chosen, options.min_visits)


def situations(decisions: Iterable[Decision]) -> list[Situation]:
    """The decisions grouped by situation, in order of first appearance."""
    groups: dict[tuple[str, str], list[Decision]] = defaultdict(list)
    for d in decisions:
        groups[d.situation].append(d)
    return [Situation(tuple(g)) for g in groups.values()]


def _runs(store: MemoryStore, suite: str, wanted: Sequence[str]) -> list[RunInfo]:
    runs = {r.run_id: r for r in store.runs()}
    for run_id in wanted:
        if run_id not in runs:
            raise BadInputError(f"run {run_id!r}: no such run in {store.location}")
        if runs[run_id].suite != suite:
            msg = f"run {run_id!r}: a run of suite {runs[run_id].suite}, not {suite}"
            raise BadInputError(msg)
    chosen = [runs[r] for r in wanted] if wanted else [r for r in runs.values() if r.suite == suite]
    if not chosen:
        raise BadInputError(f"{store.location}: no run of suite {suite} to export")
    return chosen


def _epochs(run: RunInfo, options: ExportOptions) -> set[int] | None:
    wanted = set(options.epochs) if options.epochs else None
    if options.last_epochs is None:
        return wanted
    last = set(range(max(1, run.epochs - options.last_epochs + 1), run.epochs + 1))
    return last if wanted is None else wanted & last


def _explored_ok(explored: bool, options: ExportOptions) -> bool:
    if options.explored == "include":
        return True
    return explored == (options.explored == "only")


def _visited(decisions: list[Decision], min_visits: int) -> list[Decision]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for d in decisions:
        counts[(d.suite, d.prompt)] += 1
    return [d for d in decisions if counts[(d.suite, d.prompt)] >= min_visits]
