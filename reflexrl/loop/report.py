"""Reports of a training run: the per-epoch table and each query's outcome before vs after.

Before vs after: per query, the mean (std) episode reward and clarification fallbacks over
the query's episodes in the first epoch ("before") and in the last epoch ("after"). Curuksu's
paper reports the same comparison as its Table 2, which is why the JSON report and the run
page call it `table2`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from ..errors import BadInputError
from ..memory import MemoryStore
from ..records import Episode, RunInfo
from ..safety.text import for_terminal
from ..usage import Usage
from .metrics import Metrics, by_query, mean_std, total_usage
from .train import EpochMetrics, per_epoch


@dataclass(frozen=True)
class QueryBeforeAfter:
    """One query's outcome in the first epoch (`before`) and in the last (`after`)."""

    query: str
    before: dict[str, float]
    after: dict[str, float]


@dataclass(frozen=True)
class Report:
    """Everything `reflexrl report` shows for one run."""

    run: RunInfo
    epochs: tuple[EpochMetrics, ...]
    table2: tuple[QueryBeforeAfter, ...]
    """Each query before vs after training (`before_after`), named like its JSON key."""
    per_query: dict[str, Metrics]
    usage: Usage
    """What the run spent, failed attempts included."""
    failed_attempts: int
    unfinished: int
    """Planned episodes that have not finished (retried on resume)."""

    def to_json(self) -> dict[str, Any]:
        """The `report --format json` shape."""
        return {
            "run_id": self.run.run_id,
            "suite": self.run.suite,
            "model": self.run.model,
            "seed": self.run.seed,
            "status": self.run.status,
            "settings": dict(self.run.settings),
            "epochs": [e.to_json() for e in self.epochs],
            "table2": {r.query: {"before": r.before, "after": r.after} for r in self.table2},
            "per_query": {q: m.to_json() for q, m in self.per_query.items()},
            "usage": self.usage.to_json(),
            "failed_attempts": self.failed_attempts,
            "unfinished": self.unfinished,
        }


def build_report(store: MemoryStore, run_id: str | None = None) -> Report:
    """The report of `run_id` (default: the latest run in the store)."""
    runs = {r.run_id: r for r in store.runs()}
    if not runs:
        raise BadInputError(f"{store.location}: no runs recorded yet")
    if run_id is None:
        run_id = list(runs)[-1]
    if run_id not in runs:
        raise BadInputError(f"no run '{run_id}' in {store.location}", setting="run")
    run = runs[run_id]
    episodes = list(store.episodes(run_id))
    failures = store.failures(run_id)
    planned = run.epochs * _prompts_per_epoch(episodes, failures)
    return Report(
        run,
        per_epoch(episodes),
        before_after(episodes),
        by_query(episodes),
        total_usage([*episodes, *failures]),
        len(failures),
        max(0, planned - len(episodes)),
    )


def _prompts_per_epoch(episodes: Sequence[Episode], failures: Sequence[Any]) -> int:
    """Episodes an epoch plans (the highest index seen in epoch 1, plus one)."""
    first = [r.index for r in [*episodes, *failures] if r.epoch == 1]
    return max(first) + 1 if first else 0


def before_after(episodes: Sequence[Episode]) -> tuple[QueryBeforeAfter, ...]:
    """Per query, reward and fallbacks in the first vs the last epoch."""
    return before_after_of([(e.query, e.epoch, e.reward, e.clarifications) for e in episodes])


EpisodeOutcome = tuple[str, int, float, int]
"""(query, epoch, reward, clarifications) of one episode: what `before_after_of` reads."""


def before_after_of(outcomes: Sequence[EpisodeOutcome]) -> tuple[QueryBeforeAfter, ...]:
    """`before_after` from each episode's (query, epoch, reward, clarifications)."""
    if not outcomes:
        return ()
    first, last = min(o[1] for o in outcomes), max(o[1] for o in outcomes)
    groups: dict[tuple[str, int], list[EpisodeOutcome]] = {}
    for o in outcomes:
        groups.setdefault((o[0], o[1]), []).append(o)
    queries = sorted({o[0] for o in outcomes})
    return tuple(
        QueryBeforeAfter(q, _cell(groups.get((q, first), [])), _cell(groups.get((q, last), [])))
        for q in queries
    )


def _cell(group: Sequence[EpisodeOutcome]) -> dict[str, float]:
    reward, reward_std = mean_std([o[2] for o in group])
    fallback, fallback_std = mean_std([float(o[3]) for o in group])
    return {
        "reward": round(reward, 3),
        "reward_std": round(reward_std, 3),
        "fallback": round(fallback, 3),
        "fallback_std": round(fallback_std, 3),
    }


def print_report(report: Report, console: Console) -> None:
    """The per-epoch table and the before-vs-after table as rich tables."""
    run = report.run
    say = console.print
    say(for_terminal(f"run {run.run_id}: suite {run.suite}, model {run.model}, seed {run.seed}"))
    say(epoch_table(report.epochs))
    say(before_after_table(report.table2))
    say(for_terminal(f"status {run.status}; spent: {usage_summary(report.usage)}"))
    if report.failed_attempts or report.unfinished:
        say(
            for_terminal(
                f"{report.failed_attempts} failed attempts; {report.unfinished} planned "
                f"episodes unfinished (reflexrl train --resume {run.run_id})"
            )
        )


def cost_text(cost: float | None) -> str:
    """`$0.0123`, or `cost unknown` when the price is not known."""
    return "cost unknown" if cost is None else f"${cost:.4f}"


def usage_summary(usage: Usage) -> str:
    """One line: calls, retries, tokens, prompt-cache hits, response-cache hits, cost."""
    cached = usage.cache_read_tokens
    share = f" ({cached / usage.input_tokens:.0%})" if usage.input_tokens else ""
    return (
        f"{usage.calls} model calls ({usage.retries} retries, {usage.cached_responses} from the "
        f"response cache), {usage.input_tokens} input tokens of which {cached} read from the "
        f"prompt cache{share} in {usage.cache_hits} calls and {usage.cache_write_tokens} "
        f"written to it, {usage.output_tokens} output tokens, {cost_text(usage.cost)}"
    )


def epoch_table(epochs: Sequence[EpochMetrics]) -> Table:
    """Per-epoch success, steps, clarifications, wrong tools and reward."""
    table = Table(title="Per epoch")
    for column in ("epoch", "success", "mean steps", "clarifications", "wrong tools", "reward"):
        table.add_column(column, justify="right")
    for e in epochs:
        m = e.metrics
        table.add_row(
            str(e.epoch),
            f"{m.success_rate:.2f}",
            f"{m.mean_steps:.2f}",
            str(m.clarifications),
            str(m.wrong_tools),
            f"{m.reward:+g}",
        )
    return table


def before_after_table(rows: Sequence[QueryBeforeAfter]) -> Table:
    """Mean (std) reward and fallbacks per query, first vs last epoch."""
    table = Table(title="Reward and fallbacks per query: first epoch (before) vs last (after)")
    for column in ("query", "reward before", "fallback before", "reward after", "fallback after"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            for_terminal(r.query),
            _ms(r.before, "reward"),
            _ms(r.before, "fallback"),
            _ms(r.after, "reward"),
            _ms(r.after, "fallback"),
        )
    return table


def _ms(cell: dict[str, float], key: str) -> str:
    return f"{cell[key]:.1f} ({cell[key + '_std']:.1f})"
