"""`copy_memory`: a memory copied into another store (SQLite to PostgreSQL, or back) by
replaying its log through the destination's own writes, then checked against the source.

It uses the protocols, and `read_sql` for the resets, rollbacks and evaluations, so any pair
of stores that `open_memory` opens works. The aggregates are not copied: every episode goes
through the destination's one atomic episode write, in the source log's order
(`_log_order`), so the destination's credit rule rebuilds the totals, and the copy is checked
by them (every row's reward, visits, clarifications, per-action n and reward, equal to the
last bit: the same additions in the same order) and by history (the episodes in the same
order; the rows at the end of every run, rebuilt from each log, equal).

Resets, rollbacks and evaluations recorded with `eval --record` are replayed at their place
in the log (a rollback to the point of the copy that matches its source point), and checked
(the rows right after each change; each evaluation's results and place). A run's
`finished_at` and the time of a change or an evaluation become the time of the copy, and the
kNN lookup's embedding cache is rebuilt on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from operator import itemgetter
from typing import Any

from ..errors import BadInputError, ReflexRLError
from ..records import Episode, MemoryRow, RunInfo
from .history import Change, Point
from .protocols import MemoryStore
from .queries import changes_of, inspectable, recorded_evaluations

__all__ = ["CopyError", "CopyReport", "check_copy", "check_source", "copy_memory"]

Label = tuple[str, int]
"""(run id, episode index): an episode, as the log names it (`RUN:N`)."""


class CopyError(ReflexRLError):
    """The copy does not match its source (the destination keeps what was written)."""


@dataclass(frozen=True)
class CopyReport:
    """What was copied, and what the check compared."""

    source: str
    destination: str
    runs: int
    episodes: int
    steps: int
    failures: int
    invocations: int
    changes: int
    """Resets and rollbacks, replayed."""
    evaluations: int
    """Recorded evaluations (`eval --record`)."""
    rows: int
    points_checked: int
    """Points of the log whose rows were rebuilt in both stores and found equal."""

    def to_json(self) -> dict[str, Any]:
        """The `memory copy --json` shape."""
        return asdict(self)


def copy_memory(src: MemoryStore, dst: MemoryStore) -> CopyReport:
    """Copy the memory `src` into the empty memory `dst` and check the copy.

    Raises:
        BadInputError: `dst` is not empty, or `src`'s invocations cannot be numbered anew.
        CopyError: the copy's totals or history differ from the source's.
    """
    check_source(src)
    _check_empty(dst)
    runs = list(src.runs())
    placed = sorted(_episodes_by_id(src, runs), key=_place)
    for run in runs:
        dst.start_run(run)
    readable = inspectable(src)
    changes, evaluations = changes_of(readable), recorded_evaluations(readable)
    _replay(dst, placed, changes, evaluations)
    episodes = [e for _, e in placed]
    failures = [f for run in runs for f in src.failures(run.run_id)]
    for failure in failures:
        dst.record_failure(failure)
    for run in (r for r in runs if r.status != "running"):
        dst.finish_run(run.run_id, run.status)
    invocations = list(src.invocations())
    for invocation in invocations:
        dst.log_pending(invocation)
    rows, points = check_copy(src, dst)
    return CopyReport(
        source=src.location,
        destination=dst.location,
        runs=len(runs),
        episodes=len(episodes),
        steps=sum(len(e.steps) for e in episodes),
        failures=len(failures),
        invocations=len(invocations),
        changes=len(changes),
        evaluations=len(evaluations),
        rows=rows,
        points_checked=points,
    )


def _replay(
    dst: MemoryStore,
    placed: Sequence[tuple[int, Episode]],
    changes: Sequence[Change],
    evaluations: Sequence[dict[str, Any]],
) -> None:
    """The episodes (with their ids in the source's log), the changes and the recorded
    evaluations into `dst`, in the source's log order: a change or an evaluation comes right
    after the episode it followed. A rollback goes to the point of `dst` after the same
    episodes and changes as its source point."""
    targets = {c.to.episode for c in changes if c.to is not None}
    episode_ids, change_ids = {0: 0}, {0: 0}  # source id -> the copy's
    events: list[tuple[int, Callable[[], None]]] = [
        (c.after_episode, partial(_apply, dst, c, episode_ids, change_ids)) for c in changes
    ]
    events += [(int(ev["after_episode"]), partial(_record, dst, ev)) for ev in evaluations]
    # a stable sort: at one place, the changes (in order), then the evaluations (in order),
    # which change no aggregate
    events.sort(key=itemgetter(0))
    done = 0
    for src_id, episode in placed:
        while done < len(events) and events[done][0] < src_id:
            events[done][1]()
            done += 1
        dst.record_episode(episode, update=True)
        if src_id in targets:
            episode_ids[src_id] = dst.point("now").episode
    for _, apply in events[done:]:
        apply()


def _record(dst: MemoryStore, ev: dict[str, Any]) -> None:
    dst.record_evaluation(ev["suite"], ev["model"], ev["split"], ev["results"])


def _apply(
    dst: MemoryStore, change: Change, episode_ids: dict[int, int], change_ids: dict[int, int]
) -> None:
    if change.to is None:
        dst.reset(change.suite)
    else:
        to = change.to
        dst.rollback(Point(episode_ids[to.episode], change_ids[to.change], to.label), change.suite)
    change_ids[change.id] = dst.point("now").change


def check_copy(src: MemoryStore, dst: MemoryStore) -> tuple[int, int]:
    """Compare a copy with its source: runs, episodes in log order, failures, invocations,
    totals, resets and rollbacks, recorded evaluations, and the rows at the start, at the
    end of every run, right after every reset and rollback, and now. Returns the rows and
    the points compared.

    Raises:
        CopyError: the first difference found.
    """
    runs = list(src.runs())
    _same("runs", [r.run_id for r in runs], [r.run_id for r in dst.runs()])
    _same("episodes in log order", _log_order(src, runs), _log_order(dst, runs))
    for run in runs:
        _same(f"failures of run {run.run_id}", src.failures(run.run_id), dst.failures(run.run_id))
    _same("invocations", _invocations(src), _invocations(dst))
    rows = _totals(src.rows())
    _same("totals", rows, _totals(dst.rows()))
    changes = [changes_of(inspectable(store)) for store in (src, dst)]
    kinds = [[(c.kind, c.suite) for c in found] for found in changes]
    _same("resets and rollbacks", kinds[0], kinds[1])
    _same("recorded evaluations", _evaluations(src, runs), _evaluations(dst, runs))
    names = [n for n in ("start", *(_run_end(src, r) for r in runs), "now") if n is not None]
    compared = [(n, n) for n in names]
    compared += [(f"change:{a.id}", f"change:{b.id}") for a, b in zip(*changes, strict=True)]
    for here, there in compared:
        at_src = _totals(src.rows_at(src.point(here)))
        _same(f"the rows at point '{here}'", at_src, _totals(dst.rows_at(dst.point(there))))
    return len(rows), len(compared)


def check_source(src: MemoryStore) -> None:
    """Refuse, before anything is written, a source whose invocations are not numbered 1,
    2, 3, ... (a retried log on PostgreSQL skips a number): the destination numbers them
    anew, and a credited invocation's number is its episode's index, which a renumbered one
    could collide with.

    Raises:
        BadInputError: what cannot be copied yet.
    """
    numbers = [p.number for p in src.invocations()]
    if numbers != list(range(1, len(numbers) + 1)):
        msg = f"{src.location}: its invocations' numbers have gaps, which copying cannot keep yet"
        raise BadInputError(msg)


def _check_empty(dst: MemoryStore) -> None:
    """Refuse a destination that holds anything: a copy is a new memory, never a merge."""
    now = dst.point("now")
    if now.episode or now.change or dst.runs() or dst.invocations() or dst.rows(actions=False):
        msg = f"{dst.location}: not empty (it holds runs, rows or invocations); copy into a new one"
        raise BadInputError(msg)


def _episodes_by_id(store: MemoryStore, runs: Sequence[RunInfo]) -> list[tuple[int, Episode]]:
    """Every episode with its place in the store's log (runs interleave when they ran at
    once, or one was resumed): the episode number its point `RUN:N` names."""
    return [
        (store.point(f"{run.run_id}:{episode.index}").episode, episode)
        for run in runs
        for episode in store.episodes(run.run_id)
    ]


def _log_order(store: MemoryStore, runs: Sequence[RunInfo]) -> list[Label]:
    """The episodes as (run, index), in the store's log order."""
    found = _episodes_by_id(store, runs)
    return [(e.run_id, e.index) for _, e in sorted(found, key=_place)]


def _place(pair: tuple[int, Episode]) -> int:
    return pair[0]


def _run_end(store: MemoryStore, run: RunInfo) -> str | None:
    """The point after a run's last episode (`RUN:N`; None: it has none)."""
    episodes = store.episodes(run.run_id)
    return f"{run.run_id}:{max(e.index for e in episodes)}" if episodes else None


def _evaluations(store: MemoryStore, runs: Sequence[RunInfo]) -> list[tuple[Any, ...]]:
    """The recorded evaluations, each with the episode (run, index) it was recorded after."""
    after = {place: (e.run_id, e.index) for place, e in _episodes_by_id(store, runs)}
    return [
        (after.get(ev["after_episode"]), ev["suite"], ev["model"], ev["split"], ev["results"])
        for ev in recorded_evaluations(inspectable(store))
    ]


def _invocations(store: MemoryStore) -> list[tuple[Any, ...]]:
    return [
        (p.number, p.run_id, p.suite, p.prompt, p.status, p.settled_by) for p in store.invocations()
    ]


def _totals(rows: Sequence[MemoryRow]) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Each row's totals, without the time it was last credited (the copy's own)."""
    return {
        (r.suite, r.prompt): (
            r.query,
            r.reward,
            r.visits,
            r.clarifications,
            {a: (s.n, s.reward) for a, s in r.actions.items()},
        )
        for r in rows
    }


def _same(what: str, source: Any, copy: Any) -> None:
    if source != copy:
        raise CopyError(f"the copy's {what} differ from the source's (the copy is kept)")
