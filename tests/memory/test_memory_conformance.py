"""One conformance check, run over every store and lookup (as LangGraph tests its stores and
Gymnasium its environments): what the middleware, runner and CLI rely on."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reflexrl import MemoryStore, open_memory
from reflexrl.errors import FeedbackError
from reflexrl.memory import (
    EpisodeWriter,
    MemoryHistory,
    MemoryReader,
    PendingLog,
    RunLog,
    credits,
)
from reflexrl.memory.pending import learn_run_id
from reflexrl.records import (
    CLARIFY,
    Decision,
    Episode,
    Failure,
    PendingEpisode,
    RunInfo,
    Step,
    kind_of,
)

LOOKUPS = ["exact", "knn"]
STORES = ["sqlite", "postgres"]
PROMPT = "Please generate an image depicting several dogs running on a beach"


def _episode(index: int, *steps: tuple[str, str, float], suite: str = "s") -> Episode:
    recorded = tuple(Step(i, p, a, {"x": 1}, r, r > 0) for i, (p, a, r) in enumerate(steps))
    return Episode("run", index, 1, suite, "q", steps[0][0], False, "valid", recorded)


@pytest.fixture(
    params=[*((kind, lookup) for kind in STORES for lookup in LOOKUPS), ("postgres", "pgvector")],
    ids="-".join,
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MemoryStore]:
    """Every store (a SQLite file; a fresh database on the session's PostgreSQL server,
    `tests/postgres_server.py`) with every lookup (and kNN searched by pgvector on Postgres)."""
    kind, name = request.param
    where = tmp_path / "memory.db" if kind == "sqlite" else request.getfixturevalue("postgres_url")
    lookup: Any = name
    if name == "pgvector":
        from reflexrl.memory.postgres.pgvector import PgvectorLookup

        lookup = PgvectorLookup(ann_threshold=1)  # through the HNSW index from the first row
    opened = open_memory(where, lookup=lookup)
    opened.start_run(RunInfo("run", "s", "fake:first", 0, 1, 4))
    yield opened
    opened.close()


def test_implements_the_protocols(store: MemoryStore) -> None:
    for protocol in (MemoryStore, MemoryReader, RunLog, EpisodeWriter, MemoryHistory, PendingLog):
        assert isinstance(store, protocol)
    assert store.lookup_kind in LOOKUPS


def test_an_episode_applies_exactly_its_credits(store: MemoryStore) -> None:
    first = _episode(0, (PROMPT, "bad", -1.0), (PROMPT, "ask_user_for_clarification", 0.0))
    second = _episode(1, (PROMPT, "good", 1.0), ("other", "good", 1.0))
    third = _episode(2, (PROMPT, "decline", -1.0), (PROMPT, "ask_user_for_clarification", 1.0))
    for episode in (first, second, third):
        store.record_episode(episode)
    applied = [c for e in (first, second, third) for c in credits(e)]
    for prompt in (PROMPT, "other"):
        row = store.lookup("s", prompt)
        mine = [c for c in applied if c.prompt == prompt]
        assert row is not None
        assert (row.reward, row.visits) == (sum(c.reward for c in mine), len(mine))
        assert row.clarifications == sum(c.clarification for c in mine)
        assert sum(s.n for s in row.actions.values()) == len(mine)
        for kind, stats in row.kinds().items():  # the values per kind of action
            of_kind = [c for c in mine if kind_of(c.action) == kind]
            assert (stats.n, stats.reward) == (len(of_kind), sum(c.reward for c in of_kind))
    assert store.lookup("s", PROMPT).kinds().keys() == {"call", "ask", "decline"}  # type: ignore[union-attr]
    assert [len(e.steps) for e in store.episodes("run")] == [2, 2, 2]


def test_a_step_credits_the_prompt_it_saw_too_when_it_says_so(store: MemoryStore) -> None:
    ask = Step(0, PROMPT, CLARIFY, {}, 0.0, False, credited_to=PROMPT, also_prompt=False)
    call = Step(1, "the answer", "good", {"x": 1}, 1.0, True, credited_to=PROMPT, also_prompt=True)
    episode = Episode("run", 0, 1, "s", "q", PROMPT, False, "valid", (ask, call))
    store.record_episode(episode)
    assert [c.prompt for c in credits(episode)] == [PROMPT, PROMPT, "the answer"]
    for prompt in (PROMPT, "the answer"):
        row = store.lookup("s", prompt)
        assert row is not None and (row.actions["good"].n, row.actions["good"].reward) == (1, 1.0)
    assert [e.steps for e in store.episodes("run")] == [(ask, call)]  # read back as written
    # a step that saw the prompt it is credited to credits it once
    assert replace(call, prompt=PROMPT).credit_keys == (PROMPT,)


def test_served_names_the_actions_ahead_on_some_prompt_of_the_suite(store: MemoryStore) -> None:
    assert store.served("s") == frozenset()
    store.record_episode(_episode(0, (PROMPT, "good", 1.0), (PROMPT, "bad", -1.0)))
    store.record_episode(_episode(1, ("other", "tied", 1.0), ("other", "tied", -1.0)))
    store.record_episode(_episode(2, ("elsewhere", "theirs", 1.0), suite="t"))
    assert store.served("s") == frozenset({"good"})
    store.record_episode(_episode(3, ("other", "tied", 1.0)))
    assert store.served("s") == frozenset({"good", "tied"})
    assert store.served("t") == frozenset({"theirs"})


def _pending(run_id: str, expires_at: str = "2099-01-01T00:00:00") -> PendingEpisode:
    decision = Decision(0, PROMPT, "create_image", {"x": 1}, "<block>")
    return PendingEpisode(run_id, "s", PROMPT, (decision,), "thread", {0: -1.0}, "", expires_at)


def test_a_pending_invocation_is_settled_once(store: MemoryStore) -> None:
    first = store.log_pending(_pending("r1"))
    assert store.log_pending(_pending("r1")).number == first.number  # a retried log
    assert first.status == "pending" and first.proposed == {0: -1.0} and first.created_at
    assert store.pending_episode("r1") == first and store.pending_episode("r2") is None
    credited = _episode(first.number, (PROMPT, "create_image", 1.0))
    assert store.settle_pending("r1", credited, "feedback:k").status == "pending"
    assert store.settle_pending("r1", credited, "feedback:k").status == "credited"  # no-op
    row = store.lookup("s", PROMPT)
    assert row is not None and row.visits == 1
    [logged] = store.episodes(learn_run_id("s"))
    assert logged.index == first.number
    with pytest.raises(FeedbackError):
        store.settle_pending("never", credited, "feedback:k")


def test_later_rewards_are_proposed_under_those_logged_from_any_thread(
    store: MemoryStore,
) -> None:
    decisions = (*_pending("r1").decisions, Decision(1, PROMPT, CLARIFY, {}, None))
    store.log_pending(replace(_pending("r1"), decisions=decisions))
    with ThreadPoolExecutor(1) as other:  # a judge answering in the background
        after = other.submit(store.propose_pending, "r1", {0: 1.0, 1: 0.0}).result()
        credited = _episode(after.number, (PROMPT, "create_image", -1.0))
        other.submit(store.settle_pending, "r1", credited, "end").result()
    assert after.proposed == {0: -1.0, 1: 0.0}  # the logged reward keeps its place
    settled = store.pending_episode("r1")
    assert settled == replace(after, status="credited", settled_by="end")
    assert store.propose_pending("r1", {1: 1.0}).proposed == after.proposed  # settled: no-op
    row = store.lookup("s", PROMPT)
    assert row is not None and row.visits == 1
    with pytest.raises(FeedbackError):
        store.propose_pending("never", {0: 1.0})


def test_due_invocations_expire_and_are_counted(store: MemoryStore) -> None:
    store.log_pending(_pending("old", expires_at="2000-01-01T00:00:00"))
    store.log_pending(_pending("new"))
    assert [p.run_id for p in store.due_pending("2026-01-01T00:00:00")] == ["old"]
    store.settle_pending("old", None, "expiry")
    assert store.pending_counts() == {"pending": 1, "credited": 0, "expired": 1}
    assert store.pending_counts("other") == {"pending": 0, "credited": 0, "expired": 0}
    assert [p.run_id for p in store.invocations("s")] == ["old", "new"]
    assert [p.run_id for p in store.invocations(status="expired")] == ["old"]
    assert store.invocations("other") == []
    assert store.lookup("s", PROMPT) is None


def test_log_only_episode_credits_nothing(store: MemoryStore) -> None:
    store.record_episode(_episode(0, (PROMPT, "bad", -1.0)), update=False)
    assert store.lookup("s", PROMPT) is None and store.nearest("s", PROMPT) == []
    assert len(store.episodes("run")) == 1


def test_a_stored_prompt_is_its_own_nearest_row(store: MemoryStore) -> None:
    store.record_episode(_episode(0, (PROMPT, "create_image", 1.0)))
    (first, *_) = store.nearest("s", PROMPT)
    assert first.row.prompt == PROMPT and first.similarity == pytest.approx(1.0, abs=1e-5)
    assert store.nearest("other-suite", PROMPT) == []


def test_rows_are_read_fresh_or_not_at_all(store: MemoryStore) -> None:
    store.record_episode(_episode(0, (PROMPT, "good", 1.0)))
    ((last, _),) = store.prompts_after("s", 0)
    assert store.lookup_fresh("s", [PROMPT, "never stored"], last - 1) is None
    fresh = store.lookup_fresh("s", [PROMPT, "never stored"], last)
    assert fresh is not None and list(fresh) == [PROMPT] and fresh[PROMPT].visits == 1
    assert store.lookup_fresh("s", [], last) == {}
    assert store.lookup_fresh("other-suite", [PROMPT], 0) == {}


def test_a_prompt_stored_after_a_lookup_is_its_nearest(store: MemoryStore) -> None:
    store.record_episode(_episode(0, (PROMPT, "good", 1.0)))
    assert store.nearest("s", PROMPT)[0].row.prompt == PROMPT
    other = "Compute the sum of five and ten with the calculator"
    store.record_episode(_episode(1, (other, "calculator", 1.0)))
    assert store.nearest("s", other)[0].row.prompt == other


def test_a_snapshot_is_unchanged_by_later_writes(store: MemoryStore) -> None:
    store.record_episode(_episode(0, (PROMPT, "good", 1.0)))
    held = store.snapshot()
    store.record_episode(_episode(1, (PROMPT, "good", 1.0)))
    try:
        seen = [nb.row.visits for nb in held.nearest("s", PROMPT)]
        row = held.lookup("s", PROMPT)
        assert row is not None and row.visits == 1 and seen == [1]
        assert held.lookup_kind == store.lookup_kind
    finally:
        held.close()
    assert [nb.row.visits for nb in store.nearest("s", PROMPT)] == [2]


def test_the_run_log(store: MemoryStore) -> None:
    store.record_failure(Failure("run", 3, 1, "q", PROMPT, "boom"))
    store.finish_run("run", "incomplete")
    (run,) = store.runs()
    assert (run.run_id, run.status) == ("run", "incomplete") and run.finished_at
    (failure,) = store.failures("run")
    assert (failure.index, failure.error) == (3, "boom")
    assert store.episodes("run") == []


def test_reset_forgets_rows_and_keeps_the_log(store: MemoryStore) -> None:
    store.record_episode(_episode(0, (PROMPT, "bad", -1.0)))
    store.record_episode(_episode(1, ("x", "bad", -1.0), suite="t"))
    assert store.reset("s") == 1
    assert store.nearest("s", PROMPT) == [] and [r.suite for r in store.rows()] == ["t"]
    assert len(store.episodes("run")) == 2
    store.record_episode(_episode(2, (PROMPT, "good", 1.0)))  # learns again after a reset
    assert [nb.row.reward for nb in store.nearest("s", PROMPT)] == [1.0]


def test_rows_sorted_and_limited(store: MemoryStore) -> None:
    store.record_episode(_episode(0, ("a", "good", 1.0), ("b", "bad", -1.0), ("b", "bad", -1.0)))
    assert [r.prompt for r in store.rows("s", sort="reward")] == ["a", "b"]
    assert [r.prompt for r in store.rows("s", sort="visits", limit=1)] == ["b"]
    assert all(r.actions == {} for r in store.rows("s", actions=False))


@pytest.mark.slow
@pytest.mark.parametrize("lookup", LOOKUPS)
def test_four_processes_train_into_one_file_exactly(tmp_path: Path, lookup: str) -> None:
    db = tmp_path / "shared.db"
    models = ["fake:first", "fake:oracle", "fake:clarify", "fake:first"]
    procs = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "reflexrl", "train", "--model", model),
                *("--memory", str(db), "--epochs", "3", "--seed", str(seed)),
                *("--epsilon", "0.3", "--lookup", lookup),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed, model in enumerate(models)
    ]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    with closing(open_memory(db, lookup=lookup)) as table:
        episodes = [e for run in table.runs() for e in table.episodes(run.run_id)]
        assert len(episodes) == 360 and len(table.runs()) == 4
        expected: dict[str, list[float]] = {}
        for credit in (c for e in episodes for c in credits(e)):
            expected.setdefault(credit.prompt, []).append(credit.reward)
        rows = {r.prompt: r for r in table.rows()}
        assert {p: (r.reward, r.visits) for p, r in rows.items()} == {
            p: (sum(v), len(v)) for p, v in expected.items()
        }
        assert {r.status for r in table.runs()} == {"completed"}


def test_history_replays_the_aggregates_and_rolls_back(store: MemoryStore) -> None:
    store.record_episode(_episode(0, (PROMPT, "bad", -1.0)))
    first = list(store.rows())
    store.record_episode(_episode(1, (PROMPT, "good", 1.0), ("other", "good", 1.0)))
    assert list(store.rows_at(store.point("now"))) == list(store.rows())
    assert list(store.rows_at(store.point("run:0"))) == first
    change = store.rollback(store.point("run:0"))
    assert list(store.rows()) == first
    store.rollback(store.point(f"before-change:{change}"))
    assert [r.visits for r in store.rows()] == [2, 1]
    assert list(store.rows_at(store.point("now"))) == list(store.rows())
