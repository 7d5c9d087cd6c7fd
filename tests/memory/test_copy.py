"""`copy_memory` through the protocols only: the log's order kept when runs interleave (the
sums of rewards that are not integers depend on it), checked by totals and history."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import pytest

from reflexrl import open_memory
from reflexrl.errors import BadInputError
from reflexrl.memory import MemoryStore, copy_memory
from reflexrl.memory.queries import changes_of, inspectable, recorded_evaluations
from reflexrl.records import Decision, Episode, MemoryRow, PendingEpisode, RunInfo, Step


def _episode(run: str, index: int, prompt: str, reward: float) -> Episode:
    steps = (
        Step(0, prompt, "tool", {}, reward, reward > 0),
        Step(1, prompt, "other", {}, 0.1, True),
    )
    return Episode(run, index, 1, "s", "q", prompt, False, "valid", steps)


def _interleaved(store: MemoryStore) -> None:
    """Two runs whose episodes alternate in the log, on the same prompts."""
    for run in ("a", "b"):
        store.start_run(RunInfo(run, "s", "fake:first", 0, 1, 4))
    for i in range(6):
        run = "ab"[i % 2]
        store.record_episode(_episode(run, i // 2, f"p{i % 3}", 0.1 * (i + 1) - 0.35))
    store.finish_run("a", "completed")


def _order(store: MemoryStore) -> list[tuple[str, int]]:
    labels = [(r.run_id, e.index) for r in store.runs() for e in store.episodes(r.run_id)]
    return sorted(labels, key=lambda label: store.point(f"{label[0]}:{label[1]}").episode)


def test_a_copy_keeps_the_log_order_and_the_exact_sums(postgres_url: str, tmp_path: Path) -> None:
    with closing(open_memory(tmp_path / "a.db")) as src, closing(open_memory(postgres_url)) as pg:
        _interleaved(src)
        there = copy_memory(src, pg)
        with closing(open_memory(tmp_path / "b.db")) as back:
            copy_memory(pg, back)
            assert _order(src) == _order(pg) == _order(back)
            assert _order(back) == [("ab"[i % 2], i // 2) for i in range(6)]
            assert src.rows() and [r.reward for r in src.rows()] == [r.reward for r in back.rows()]
    assert (there.runs, there.episodes, there.steps, there.rows) == (2, 6, 12, 3)


def test_invocations_numbered_with_gaps_are_refused(postgres_url: str, tmp_path: Path) -> None:
    with closing(open_memory(postgres_url)) as src:
        for run_id in ("i1", "i1", "i2"):  # a retried log takes a number on PostgreSQL
            decision = Decision(0, "p", "tool", {})
            src.log_pending(PendingEpisode(run_id, "s", "p", (decision,), expires_at="2999-01-01"))
        if [p.number for p in src.invocations()] == [1, 2]:
            pytest.skip("this server numbered the invocations without a gap")
        with closing(open_memory(tmp_path / "b.db")) as dst, pytest.raises(BadInputError):
            copy_memory(src, dst)
        with closing(open_memory(tmp_path / "b.db", read_only=True)) as dst:
            assert not dst.runs() and not dst.invocations()


def test_resets_and_rollbacks_are_replayed_where_ids_differ(
    postgres_url: str, tmp_path: Path
) -> None:
    with closing(open_memory(postgres_url)) as src, closing(open_memory(tmp_path / "b.db")) as dst:
        _interleaved(src)
        src.record_episode(_episode("a", 0, "p0", 0.5))  # a retried write: a gap in the ids
        src.reset("s")
        src.record_episode(_episode("b", 3, "p1", 0.25))
        src.record_episode(_episode("b", 4, "p2", -0.5))
        src.rollback(src.point("b:3"), "s")  # to an episode whose id differs in the copy
        src.record_evaluation("s", "fake:first", "all", {"before": {"success": 0.5}, "after": {}})
        src.record_episode(_episode("b", 5, "p0", 0.75))
        assert src.point("now").episode == 10
        report = copy_memory(src, dst)
        assert dst.point("now").episode == 9
        assert report.changes == 2 and report.points_checked == 6  # start, a, b, now, changes
        assert report.evaluations == 1
        (evaluation,) = recorded_evaluations(inspectable(dst))
        assert evaluation["after_episode"] == 8  # after b:4, episode 9 in the source
        assert evaluation["results"] == {"before": {"success": 0.5}, "after": {}}
        found = [changes_of(inspectable(store)) for store in (src, dst)]
        assert [(c.kind, c.suite) for c in found[1]] == [("reset", "s"), ("rollback", "s")]
        after = [dst.rows_at(dst.point(f"change:{found[1][1].id}"))]
        assert [r.prompt for r in after[0]] == ["p1"]
        assert _totals(after[0]) == _totals(src.rows_at(src.point(f"change:{found[0][1].id}")))
        assert _totals(dst.rows()) == _totals(src.rows())


def _totals(rows: Sequence[MemoryRow]) -> list[tuple[str, float, int]]:
    return [(r.prompt, r.reward, r.visits) for r in rows]
