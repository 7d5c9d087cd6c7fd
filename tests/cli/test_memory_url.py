"""`--memory postgresql://...` on the commands, against the real server of
`tests/postgres_server.py`, and `reflexrl memory copy` between SQLite and PostgreSQL.

Bad URLs are refused as bad paths are: one `error:` line (never the password), exit code 2,
nothing created. `memory log` and `report --format html` read a URL as they read a file."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
from inprocess import run_main as cli
from postgres_server import PASSWORD

from reflexrl import open_memory
from reflexrl.memory import MemoryStore
from reflexrl.records import Decision, PendingEpisode

TRAIN = ("train", "--model", "fake:first", "--epochs", "1")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test in its own empty folder: 'nothing created' is checked there."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def _ok(capfd: pytest.CaptureFixture[str], *args: str) -> str:
    code = cli(*args)
    captured = capfd.readouterr()
    assert code == 0, captured.err
    assert PASSWORD not in captured.out + captured.err
    return captured.out


def _refused(capfd: pytest.CaptureFixture[str], *args: str) -> str:
    """The one `error:` line of a refused command (exit 2, no password in it)."""
    code = cli(*args)
    captured = capfd.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert PASSWORD not in captured.out + captured.err and "Secret" not in captured.err
    return lines[0]


def test_train_eval_and_show_work_on_a_url(
    postgres_url: str, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trained = json.loads(_ok(capfd, *TRAIN, "--memory", postgres_url, "--json"))
    assert trained["episodes"] and PASSWORD not in trained["memory"]
    evaluated = json.loads(
        _ok(capfd, "eval", "--model", "fake:first", "--memory", postgres_url, "--json")
    )
    assert evaluated["episodes"] > 0 and evaluated["memory"] == postgres_url.replace(
        f":{PASSWORD}@", "@"
    )
    rows = json.loads(_ok(capfd, "memory", "show", "--memory", postgres_url, "--json"))
    with closing(open_memory(postgres_url, read_only=True)) as store:
        assert [r["visits"] for r in rows] == [r.visits for r in store.rows()]
    assert "rows" in _ok(capfd, "memory", "show", "--memory", postgres_url)
    assert list(tmp_path.iterdir()) == []  # no memory/reflexrl.db made on the side


def test_an_unreachable_server_is_refused(
    postgres_server: Any, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = postgres_server.url().replace(
        f":{postgres_server.port}/", f":{postgres_server.unused_port()}/"
    )
    for command in (TRAIN, ("memory", "show"), ("eval", "--model", "fake:first")):
        assert "cannot connect" in _refused(capfd, *command, "--memory", url)
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_password_is_refused(
    postgres_server: Any, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name = postgres_server.create_database()
    wrong = "Wrong-Secret-Password-1"
    url = postgres_server.url(name, password=wrong)
    message = _refused(capfd, *TRAIN, "--memory", url)
    assert "password authentication failed" in message and wrong not in message
    with psycopg.connect(postgres_server.url(name)) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone() == (0,)
    assert list(tmp_path.iterdir()) == []


def test_a_newer_schema_and_another_application_are_refused(
    postgres_server: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    newer = postgres_server.url(postgres_server.create_database())
    open_memory(newer).close()
    with psycopg.connect(newer, autocommit=True) as conn:
        conn.execute("UPDATE reflexrl_schema SET version = 99")
    for command in (TRAIN, ("memory", "show"), ("memory", "reset", "--yes")):
        assert "newer" in _refused(capfd, *command, "--memory", newer)
    other = postgres_server.url(postgres_server.create_database())
    with psycopg.connect(other, autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    assert "not a reflexrl memory" in _refused(capfd, *TRAIN, "--memory", other)
    with psycopg.connect(other) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert [t for (t,) in tables] == ["customers"]


def _table(text: str, location: str) -> str:
    """`memory log`'s output from its table on (the title above it is wrapped to the
    location's length), its times as TIME."""
    body = text[text.index("\u250f") :]  # the table's top left corner
    return re.sub(r"\d{4}-\d\d-\d\dT[0-9:.]+\+00:00", "TIME", body.replace(location, "LOC"))


def test_memory_log_and_the_html_report_read_a_url(
    postgres_url: str, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first = tmp_path / "first.db"
    _ok(capfd, "train", "--model", "fake:oracle", "--epochs", "2", "--memory", str(first))
    _ok(capfd, *TRAIN, "--memory", str(first))
    _ok(capfd, "memory", "copy", str(first), postgres_url)
    memories = (str(first), postgres_url)
    with closing(open_memory(first, read_only=True)) as store:
        run_id = store.runs()[0].run_id
    for memory in memories:  # a change in the log of both
        _ok(capfd, "memory", "rollback", "--to", run_id, "--yes", "--memory", memory)
    logs = [json.loads(_ok(capfd, "memory", "log", "--memory", m, "--json")) for m in memories]
    for log in logs:
        assert [c.pop("created_at") for c in log["changes"]]  # the rollback's own time
    assert logs[0] == logs[1]
    assert logs[1]["changes"] == [{"id": 1, "kind": "rollback", "suite": None, "to_point": run_id}]
    assert [r["last_episode"] for r in logs[1]["runs"]] == [59, 29]
    location = postgres_url.replace(f":{PASSWORD}@", "@")
    texts = [_ok(capfd, "memory", "log", "--memory", m) for m in memories]
    assert location in texts[1]
    assert _table(texts[0], str(first)) == _table(texts[1], location)
    page = _ok(capfd, "report", "--format", "html", "--memory", postgres_url)
    assert location in page and "<table" in page and "<script" not in page


def test_history_export_feedback_and_bench_take_a_url(
    postgres_url: str, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _ok(capfd, *TRAIN, "--memory", postgres_url)
    changed = json.loads(_ok(capfd, "memory", "diff", "--memory", postgres_url, "--json"))
    assert changed and all(c["before"] is None for c in changed)
    undo = _ok(capfd, "memory", "rollback", "--to", "start", "--yes", "--memory", postgres_url)
    assert "before-change:1" in undo and "postgres@127.0.0.1" in undo
    assert json.loads(_ok(capfd, "memory", "show", "--memory", postgres_url, "--json")) == []
    _ok(capfd, "export", "--memory", postgres_url, "--out", str(tmp_path / "sft.jsonl"))
    assert (tmp_path / "sft.jsonl").read_text(encoding="utf-8").strip()
    assert "credited decisions" in _ok(capfd, "memory", "shadow", "--memory", postgres_url)
    message = _refused(capfd, "feedback", "no-such-run", "--score", "1", "--memory", postgres_url)
    assert "no-such-run" in message
    message = _refused(capfd, "bench", "items.jsonl", "--memory", postgres_url)
    assert message.startswith("error: --memory: ") and "exists" in message


def _totals(store: MemoryStore) -> list[tuple[Any, ...]]:
    return [
        (r.suite, r.prompt, r.reward, r.visits, r.clarifications, dict(r.actions))
        for r in store.rows()
    ]


def _history(store: MemoryStore) -> list[list[tuple[Any, ...]]]:
    """The rows at the end of every run, and the runs' episodes in order."""
    found = []
    for run in store.runs():
        episodes = store.episodes(run.run_id)
        point = store.point(f"{run.run_id}:{episodes[-1].index}")
        rows = store.rows_at(point)
        found.append([(r.prompt, r.reward, r.visits, dict(r.actions)) for r in rows])
        found.append([(e.index, e.prompt, e.reward, len(e.steps)) for e in episodes])
    return found


def _with_feedback(db: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Two invocations of an agent that learns: one credited (0.3: sums that are not
    integers), one still waiting."""
    with closing(open_memory(db)) as store:
        for run_id in ("inv-1", "inv-2"):
            decision = Decision(0, "book a flight", "search_flights", {})
            pending = PendingEpisode(
                run_id, "paper", "book a flight", (decision,), expires_at="2999-01-01T00:00:00"
            )
            store.log_pending(pending)
    _ok(capfd, "feedback", "inv-1", "--score", "0.3", "--memory", str(db))


def test_copy_round_trips_sqlite_postgres_sqlite(
    postgres_url: str, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first, back = tmp_path / "first.db", tmp_path / "back.db"
    _ok(capfd, "train", "--model", "fake:first", "--epochs", "2", "--memory", str(first))
    _ok(capfd, "train", "--model", "fake:oracle", "--epochs", "1", "--memory", str(first))
    _with_feedback(first, capfd)
    there = json.loads(_ok(capfd, "memory", "copy", str(first), postgres_url, "--json"))
    assert PASSWORD not in there["destination"]
    assert there["runs"] == 3 and there["invocations"] == 2 and there["episodes"] > 0
    assert there["rows"] > 0 and there["points_checked"] == 5
    text = _ok(capfd, "memory", "copy", postgres_url, str(back))
    assert "checked:" in text
    stores = [open_memory(p, read_only=True) for p in (first, postgres_url, back)]
    try:
        a, b, c = stores
        assert _totals(a) == _totals(b) == _totals(c)
        assert _history(a) == _history(b) == _history(c)
        assert [p.status for p in a.invocations()] == [p.status for p in c.invocations()]
    finally:
        for store in stores:
            store.close()


def test_copy_refuses_a_destination_that_is_not_empty(
    postgres_url: str, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = tmp_path / "a.db"
    _ok(capfd, *TRAIN, "--memory", str(source))
    _ok(capfd, *TRAIN, "--memory", postgres_url)
    before = _totals_of(postgres_url)
    assert "not empty" in _refused(capfd, "memory", "copy", str(source), postgres_url)
    assert _totals_of(postgres_url) == before
    assert "not empty" in _refused(capfd, "memory", "copy", str(source), str(source))


def test_copy_carries_a_reset_and_a_rollback(
    capfd: pytest.CaptureFixture[str], tmp_path: Path, postgres_url: str
) -> None:
    source = tmp_path / "a.db"
    _ok(capfd, *TRAIN, "--memory", str(source))
    _ok(capfd, "memory", "reset", "--yes", "--memory", str(source))
    _ok(capfd, *TRAIN, "--memory", str(source))
    with closing(open_memory(source, read_only=True)) as store:
        first = store.runs()[0].run_id
    _ok(capfd, "memory", "rollback", "--to", f"{first}:1", "--yes", "--memory", str(source))
    text = _ok(capfd, "memory", "copy", str(source), postgres_url)
    assert "2 resets and rollbacks" in text
    log = ["memory", "log", "--json", "--memory"]
    assert _changes(_ok(capfd, *log, postgres_url)) == _changes(_ok(capfd, *log, str(source)))
    assert _totals_of(postgres_url) == _totals_of(str(source))


def _changes(log_json: str) -> list[tuple[Any, ...]]:
    return [(c["kind"], c["suite"]) for c in json.loads(log_json)["changes"]]


def _totals_of(url: str) -> list[tuple[Any, ...]]:
    with closing(open_memory(url, read_only=True)) as store:
        return _totals(store)
