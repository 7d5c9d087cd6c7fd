"""History: the memory at a point of its log, diffs and rollbacks, each checked against what
the store held at that moment and against a fresh replay of the episodes into a new file.
(Scripted models exercise the machinery; they say nothing about learning.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reflexrl import RewardTable, Suite, build_agent, load_model, train
from reflexrl.cli.app import main
from reflexrl.errors import BadInputError
from reflexrl.memory import diff
from reflexrl.records import Episode, MemoryRow

Live = dict[str, list[MemoryRow]]


def _train(memory: RewardTable, suite: Suite, policy: str, live: Live, seed: int) -> str:
    """Train 1 epoch, keeping the live aggregates after every episode by `RUN:INDEX`."""

    def keep(record: Episode | object) -> None:
        if isinstance(record, Episode):
            live[f"{record.run_id}:{record.index}"] = list(memory.rows())

    agent = build_agent(load_model(f"fake:{policy}", suite), suite, memory)
    return train(agent, suite, memory, epochs=1, seed=seed, on_episode=keep).run_id


def _core(rows: list[MemoryRow] | tuple[MemoryRow, ...]) -> list[tuple[object, ...]]:
    """What a fresh replay must reproduce (its timestamps are its own)."""
    return [
        (r.suite, r.prompt, r.query, r.reward, r.visits, r.clarifications, dict(r.actions))
        for r in rows
    ]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Live, list[str]]:
    """Three runs (wrong tools, asking, valid tools) with a reset of the memory between the
    second and the third: the live rows after every episode, and the run ids."""
    path = tmp_path_factory.mktemp("history") / "memory.db"
    suite, live = Suite.load("paper"), {}
    with RewardTable(path) as memory:
        runs = [_train(memory, suite, "first", live, 1), _train(memory, suite, "clarify", live, 2)]
        memory.reset()
        runs.append(_train(memory, suite, "oracle", live, 3))
    return path, live, runs


def test_rows_at_every_episode_equal_what_the_store_held(
    logged: tuple[Path, Live, list[str]],
) -> None:
    path, live, _ = logged
    with RewardTable(path, read_only=True) as memory:
        for label, rows in live.items():
            assert list(memory.rows_at(memory.point(label))) == rows, label
        assert list(memory.rows_at(memory.point("now"))) == list(memory.rows())
        assert memory.rows_at(memory.point("start")) == []


def test_rows_at_equal_a_fresh_replay_of_the_episodes(
    logged: tuple[Path, Live, list[str]], tmp_path: Path
) -> None:
    path, _, runs = logged
    with RewardTable(path, read_only=True) as memory, RewardTable(tmp_path / "fresh.db") as fresh:
        first_run = memory.episodes(runs[0])
        for episode in first_run:
            fresh.record_episode(episode)
            at = memory.rows_at(memory.point(f"{runs[0]}:{episode.index}"))
            assert _core(list(at)) == _core(list(fresh.rows()))


def test_diff_names_exactly_the_rows_that_changed(logged: tuple[Path, Live, list[str]]) -> None:
    path, live, _ = logged
    labels = list(live)
    a, b = labels[5], labels[40]  # inside run 1, inside run 2
    with RewardTable(path, read_only=True) as memory:
        changes = diff(memory.rows_at(memory.point(a)), memory.rows_at(memory.point(b)))
    before = {(r.suite, r.prompt): r for r in live[a]}
    after = {(r.suite, r.prompt): r for r in live[b]}
    expected = {
        key
        for key in before.keys() | after.keys()
        if key not in before
        or key not in after
        or (before[key].visits, before[key].reward) != (after[key].visits, after[key].reward)
        or before[key].best_action() != after[key].best_action()
    }
    assert {(c.suite, c.prompt) for c in changes} == expected
    assert expected  # the second run credited prompts the first had not reached
    for change in changes:
        assert change.before == before.get((change.suite, change.prompt))
        assert change.after == after.get((change.suite, change.prompt))


def test_rollback_is_logged_undoable_and_replays_exactly(
    logged: tuple[Path, Live, list[str]], tmp_path: Path
) -> None:
    source, live, runs = logged
    path = tmp_path / "memory.db"
    path.write_bytes(source.read_bytes())
    suite = Suite.load("paper")
    target = f"{runs[1]}:12"  # before the reset, in the asking run
    with RewardTable(path) as memory:
        now = list(memory.rows())
        events = memory.db.execute("SELECT count(*) FROM reward_events").fetchone()[0]
        change = memory.rollback(memory.point(target))
        assert list(memory.rows()) == live[target]
        assert memory.db.execute("SELECT count(*) FROM reward_events").fetchone()[0] == events
        assert list(memory.rows_at(memory.point("now"))) == live[target]
        # undo: back to the moment before the rollback
        memory.rollback(memory.point(f"before-change:{change}"))
        assert list(memory.rows()) == now
        # learning goes on from a rolled-back memory, and replay still matches it
        memory.rollback(memory.point(target))
        _train(memory, suite, "oracle", {}, 4)
        assert list(memory.rows_at(memory.point("now"))) == list(memory.rows())
        # the rollback to `target` is in the history: right after it, the memory was `target`'s
        last = memory.db.execute("SELECT max(id) FROM resets").fetchone()[0]
        assert list(memory.rows_at(memory.point(f"change:{last}"))) == live[target]


def test_rollback_of_one_suite_keeps_the_others(tmp_path: Path) -> None:
    live: Live = {}
    with RewardTable(tmp_path / "m.db") as memory:
        paper_run = _train(memory, Suite.load("paper"), "first", live, 1)
        _train(memory, Suite.load("assistant"), "first", live, 1)
        assistant_rows = [r for r in memory.rows() if r.suite == "assistant"]
        memory.rollback(memory.point(f"{paper_run}:3"), suite="paper")
        paper_rows = [r for r in live[f"{paper_run}:3"] if r.suite == "paper"]
        assert list(memory.rows()) == sorted(
            [*paper_rows, *assistant_rows], key=lambda r: (r.suite, r.prompt)
        )
        assert list(memory.rows_at(memory.point("now"))) == list(memory.rows())


@pytest.mark.parametrize(
    ("point", "says"),
    [
        ("nope", "no run 'nope'"),
        ("change:99", "no change 99"),
        ("before-change:99", "no change 99"),
        ("{run}:999", "no finished episode 999"),
        ("2026-13-40T00:00", "not a time"),
    ],
)
def test_a_point_that_does_not_exist_is_refused(
    logged: tuple[Path, Live, list[str]], point: str, says: str
) -> None:
    path, _, runs = logged
    with RewardTable(path, read_only=True) as memory, pytest.raises(BadInputError, match=says):
        memory.point(point.format(run=runs[0]))


def test_a_time_before_the_log_is_the_empty_memory(logged: tuple[Path, Live, list[str]]) -> None:
    path, _, _ = logged
    with RewardTable(path, read_only=True) as memory:
        assert memory.rows_at(memory.point("2000-01-01")) == []


def test_cli_diff_and_rollback(
    logged: tuple[Path, Live, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, live, runs = logged
    path = tmp_path / "memory.db"
    path.write_bytes(source.read_bytes())
    target = f"{runs[0]}:20"
    with pytest.raises(SystemExit) as done:
        main(["memory", "rollback", "--memory", str(path), "--to", target])
    assert done.value.code == 2
    assert "--yes" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main(["memory", "rollback", "--memory", str(path), "--to", target, "--yes"])
    assert done.value.code == 0
    said = capsys.readouterr().out
    assert "before-change:" in said
    with RewardTable(path, read_only=True) as memory:
        assert list(memory.rows()) == live[target]
    with pytest.raises(SystemExit) as done:
        main(["memory", "diff", "--memory", str(path), "--from", "start", "--to", "now", "--json"])
    assert done.value.code == 0
    shown = json.loads(capsys.readouterr().out)
    assert [c["after"] for c in shown] == [r.to_json() for r in live[target]]
    assert all(c["before"] is None for c in shown)
    with pytest.raises(SystemExit) as done:
        main(["memory", "diff", "--memory", str(path), "--from", "nowhere"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no run 'nowhere'" in err
