"""The page and the HTML report over a PostgreSQL memory (the real server of
tests/postgres_server.py): the same pages as over the SQLite file whose log was copied into
it (`copy_memory`), read in read-only transactions, the password nowhere; the search ignores
the case of ASCII letters, and only theirs, in both stores alike."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode

import psycopg
import pytest
from inprocess import run_main
from page_text import links, tables
from postgres_server import PASSWORD
from starlette.testclient import TestClient

from reflexrl.memory import copy_memory, open_memory
from reflexrl.memory.queries import inspectable
from reflexrl.records import Episode, RunInfo, Step
from reflexrl.ui import create_app, data, open_for_ui, report_html

_FIGURE = re.compile(r"data:image/svg\+xml;base64,[^\"]+")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")


class Served(NamedTuple):
    """The app over one memory, and how its pages name the memory."""

    client: TestClient
    location: str


EVALUATION = {
    "before": {"success_rate": 0.25, "success_within_2": 0.25, "clarification_rate": 0.5},
    "after": {"success_rate": 0.75, "success_within_2": 0.5, "wrong_tool_rate": 0.125},
}


@pytest.fixture(scope="module")
def memories(
    postgres_server: Any, ui_memory: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    """A copy of the page's SQLite memory and a database holding its log (replayed), each
    with the same evaluation recorded after its last run (a copy leaves evaluations out)."""
    path = tmp_path_factory.mktemp("ui-pg") / "memory.db"
    path.write_bytes(ui_memory.read_bytes())
    url: str = postgres_server.url(postgres_server.create_database())
    with closing(open_memory(path, read_only=True)) as src, closing(open_memory(url)) as dst:
        copy_memory(src, dst)
    for memory in (str(path), url):
        with closing(open_memory(memory)) as store:
            store.record_evaluation("paper", "fake:first", "test", EVALUATION)
    return str(path), url


@pytest.fixture(scope="module")
def pg_memory(memories: tuple[str, str]) -> str:
    """The PostgreSQL memory's URL (with its password)."""
    return memories[1]


@pytest.fixture(scope="module")
def both(memories: tuple[str, str]) -> Iterator[tuple[Served, Served]]:
    """The app over the SQLite file, and over its copy in PostgreSQL."""
    sqlite_store, pg_store = (open_for_ui(m) for m in memories)
    with (
        closing(sqlite_store),
        closing(pg_store),
        TestClient(create_app(sqlite_store), base_url="http://127.0.0.1") as sqlite_client,
        TestClient(create_app(pg_store), base_url="http://127.0.0.1") as pg_client,
    ):
        yield Served(sqlite_client, sqlite_store.location), Served(pg_client, pg_store.location)


def _comparable(body: str, location: str) -> str:
    """A page without what a copy changes: the memory's location, the figures' SVG (the
    numbers behind them are in the page's tables) and the times the copy wrote (a run's
    finish, a row's last update)."""
    return _TIME.sub("TIME", _FIGURE.sub("FIGURE", body.replace(html.escape(location), "LOC")))


def _same_page(both: tuple[Served, Served], url: str, status: int = 200) -> str:
    """The page at `url` from both apps, equal but for what a copy changes, no password in
    it; returns the PostgreSQL one."""
    bodies = []
    for served in both:
        response = served.client.get(url)
        assert response.status_code == status, url
        assert PASSWORD not in response.text
        bodies.append(_comparable(response.text, served.location))
    assert bodies[0] == bodies[1], url
    return bodies[1]


def test_the_memory_table_and_its_search_are_the_same(
    both: tuple[Served, Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "postgres@127.0.0.1" in both[1].location and PASSWORD not in both[1].location
    index = _same_page(both, "/")
    assert len(tables(index)["memory"]) == 31 and len(tables(index)["runs"]) == 4
    monkeypatch.setattr(data, "PER_PAGE", 7)  # several pages
    for sort in sorted(set(data.SORTS) - {"updated"}):  # updated: the copy's times
        for order in ("asc", "desc"):
            for page in (1, 2, 5):
                _same_page(both, f"/?sort={sort}&order={order}&page={page}")
    for search in ("dogs", "DoGs", "%", "_", "\\", "<script>", "SCRIPT", "q4", "ask"):
        _same_page(both, "/?" + urlencode({"q": search, "sort": "prompt"}))
    lower, upper = (_same_page(both, f"/?q={q}&sort=prompt") for q in ("dogs", "DOGS"))
    assert tables(lower)["memory"] == tables(upper)["memory"] != [["no rows match"]]


def test_prompt_episode_and_run_pages_are_the_same(both: tuple[Served, Served]) -> None:
    index = _same_page(both, "/?sort=prompt&order=asc")
    prompts = [html.unescape(a) for a, _ in links(index) if a.startswith("/prompt?")]
    assert len(prompts) > 20
    for url in prompts:
        body = _same_page(both, url)
        for episode in sorted({a for a, _ in links(body) if a.startswith("/episode/")})[:2]:
            _same_page(both, episode)
    runs = [html.unescape(a) for a, _ in links(index) if a.startswith("/run/")]
    assert len(runs) == 4
    for url in runs:
        assert tables(_same_page(both, url))["epochs"]
    evaluated = tables(_same_page(both, "/run/hostile-run"))["evaluation-1"]
    assert evaluated[0] == ["success_rate", "0.25", "0.75"]
    for url, status in [
        ("/episode/999999", 404),
        ("/run/nope", 404),
        ("/prompt?suite=paper&prompt=never%20seen", 404),
        ("/episode/9223372036854775807", 404),
        ("/?page=1000000000", 200),
    ]:
        _same_page(both, url, status)


def test_the_html_report_is_the_same(memories: tuple[str, str], tmp_path: Path) -> None:
    pages = []
    for memory in memories:
        with closing(open_for_ui(memory)) as store:
            pages.append(_comparable(report_html(store), store.location))
    assert pages[0] == pages[1] and PASSWORD not in pages[1]
    out = tmp_path / "report.html"
    argv = ("report", "--memory", memories[1], "--format", "html", "--out", str(out))
    assert run_main(*argv) == 0
    written = out.read_text()
    assert PASSWORD not in written and "postgres@127.0.0.1" in written
    assert tables(written)["epochs"] and 'href="/' not in written


def test_the_page_reads_in_read_only_transactions(pg_memory: str) -> None:
    with closing(open_for_ui(pg_memory)) as store:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), store.read_sql() as db:
            db.execute("DELETE FROM runs")
        assert data.counts(store)["runs"] == 4


SEARCHES = [
    ("dogs", ["plain dogs", "Éclair DOGS"]),
    ("DOGS", ["plain dogs", "Éclair DOGS"]),
    ("éclair", ["éclair cats"]),  # É is not an ASCII letter: its case counts
    ("ÉCLAIR", ["ÉCLAIR birds", "Éclair DOGS"]),
    ("ÉcLaIr", ["ÉCLAIR birds", "Éclair DOGS"]),
    ("e", []),
]


def test_the_search_ignores_the_case_of_ascii_letters_only(
    postgres_url: str, tmp_path: Path
) -> None:
    for memory in (str(tmp_path / "cases.db"), postgres_url):
        with closing(open_memory(memory)) as store:
            store.start_run(RunInfo("cases", "s", "fake:first", 0, 1, 4))
            prompts = ["Éclair DOGS", "éclair cats", "ÉCLAIR birds", "plain dogs"]
            for index, prompt in enumerate(prompts):
                step = Step(0, prompt, "tool", {}, 1.0, True)
                episode = Episode("cases", index, 1, "s", "q", prompt, False, "valid", (step,))
                store.record_episode(episode)
            for search, expected in SEARCHES:
                found = data.memory_page(
                    inspectable(store), search=search, sort="prompt", descending=False
                )
                assert [r.prompt for r in found.rows] == expected, (memory, search)


class _Listening:
    """A socket bound to a documentation address (the test binds nothing off the loopback)."""

    def getsockname(self) -> tuple[str, int]:
        return ("192.0.2.1", 8765)

    def close(self) -> None:
        pass


def test_the_ui_command_serves_a_url_and_never_shows_its_password(
    pg_memory: str, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import reflexrl.ui

    served: list[str] = []

    def serve(store: Any, sock: Any, host: str, *, on_ready: Any) -> None:
        served.append(store.location)
        on_ready()

    monkeypatch.setattr(reflexrl.ui, "bind", lambda *_, **__: _Listening())
    monkeypatch.setattr(reflexrl.ui, "serve", serve)
    argv = ("ui", "--memory", pg_memory, "--host", "192.0.2.1", "--allow-remote")
    assert run_main(*argv) == 0
    captured = capfd.readouterr()
    (warning,) = captured.err.splitlines()
    (ready,) = captured.out.splitlines()
    assert warning.startswith("WARNING: ") and ready.startswith("serving postgresql://postgres@")
    assert served and all(PASSWORD not in text for text in (*served, warning, ready))
