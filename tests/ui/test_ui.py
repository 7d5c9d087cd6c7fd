"""The inspection page, served in process: every figure it shows equals what the CLI's JSON
says, user text is inert (control characters shown as escapes), long lists are paged, the
HTML report is one offline file; it answers only Hosts of the loopback, refuses to listen off
it unless allowed, sends its security headers with every response and answers malformed or
out-of-range parameters with a 400 page. (The same pages in a real browser:
tests/ui/test_ui_browser.py.)"""

from __future__ import annotations

import base64
import html
import json
import re
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from conftest import HOSTILE, train_scripted
from inprocess import run_main
from page_text import elements, links, tables
from starlette.testclient import TestClient

from reflexrl import Suite
from reflexrl.cli.app import main
from reflexrl.errors import BadInputError
from reflexrl.memory import RewardTable, open_memory
from reflexrl.records import Episode, RunInfo, Step
from reflexrl.safety.text import visible
from reflexrl.ui import check_host, create_app, data, open_for_ui, report_html
from reflexrl.ui.app import HEADERS


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    with pytest.raises(SystemExit) as done:
        main([*argv])
    assert done.value.code == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def client(ui_memory: Path) -> Iterator[TestClient]:
    """The app over the memory; the memory's folder is byte-for-byte the same after it."""
    before = {p.name: p.read_bytes() for p in ui_memory.parent.iterdir()}
    store = open_for_ui(ui_memory)
    with store, TestClient(create_app(store), base_url="http://127.0.0.1") as served:
        yield served
    assert {p.name: p.read_bytes() for p in ui_memory.parent.iterdir()} == before


def _get(client: TestClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    return response.text


def _number(text: str) -> float:
    return float(text.replace("+", ""))


def _all_rows(client: TestClient, url: str) -> list[list[str]]:
    """The memory table over every page."""
    rows, page = [], 1
    while True:
        body = _get(client, f"{url}&page={page}")
        rows += tables(body)["memory"]
        if not any(a.startswith("/?") and "next" in t for a, t in links(body)):
            return rows
        page += 1


def test_memory_table_equals_memory_show_json(
    client: TestClient,
    ui_memory: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(data, "PER_PAGE", 7)  # several pages
    shown = _all_rows(client, "/?sort=prompt&order=asc")
    rows = _cli_json(capsys, "memory", "show", "--memory", str(ui_memory), "--json")
    assert len(shown) == len(rows) == 31
    with RewardTable(ui_memory, read_only=True) as memory:
        best = {r.prompt: r.best_action() or "" for r in memory.rows()}
    for cells, row in zip(
        shown, sorted(rows, key=lambda r: (r["suite"], r["prompt"])), strict=True
    ):
        suite, query, prompt, best_action, reward, visits, clarifications, mean = cells
        assert (suite, query, prompt) == (row["suite"], row["query"], row["prompt"])
        assert best_action == best[row["prompt"]]
        assert _number(reward) == pytest.approx(row["reward"], abs=1e-3)
        assert (int(visits), int(clarifications)) == (row["visits"], row["clarifications"])
        assert _number(mean) == pytest.approx(row["reward"] / row["visits"], abs=5e-3)


@pytest.mark.parametrize("sort", sorted(data.SORTS))
def test_every_column_sorts_both_ways(client: TestClient, sort: str) -> None:
    column = {"query": 1, "prompt": 2, "reward": 4, "visits": 5, "clarifications": 6, "mean": 7}
    for order in ("asc", "desc"):
        cells = tables(_get(client, f"/?sort={sort}&order={order}"))["memory"]
        if sort not in column:  # updated: not shown; the order is checked by SQL alone
            continue
        values = [c[column[sort]] for c in cells]
        if sort not in ("query", "prompt"):
            values = [_number(v) for v in values]  # type: ignore[misc]
        assert values == sorted(values, reverse=order == "desc")


def test_search_finds_prompts_and_queries_and_is_literal(
    client: TestClient, ui_memory: Path
) -> None:
    found = tables(_get(client, "/?q=dogs"))["memory"]
    assert found and all("dogs" in c[2].lower() or "dogs" in c[1].lower() for c in found)
    with RewardTable(ui_memory, read_only=True) as memory:
        expected = [r for r in memory.rows() if "dogs" in f"{r.prompt} {r.query}".lower()]
    assert len(found) == len(expected) > 0
    assert tables(_get(client, "/?q=%25"))["memory"] == [["no rows match"]]  # % is a character
    assert len(tables(_get(client, "/?q=%3Cscript%3E"))["memory"]) == 1  # the hostile row


def test_prompt_page_shows_its_row_credits_and_episodes(
    client: TestClient, ui_memory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RewardTable(ui_memory, read_only=True) as memory:
        row = next(r for r in memory.rows() if r.suite == "paper" and r.query == "q4")
        crediting = sorted(
            {
                (e.run_id, e.index)
                for run in memory.runs()
                for e in memory.episodes(run.run_id)
                if any(s.credit_key == row.prompt for s in e.steps)
            }
        )
    url = next(a for a, t in links(_get(client, "/?sort=prompt")) if t == row.prompt)
    page = html.unescape(url)
    monkeypatch.setattr(data, "PER_PAGE", 4)  # the episodes over several pages
    body = _get(client, page)
    summary = dict(r for r in tables(body)["row"] if len(r) == 2)  # type: ignore[misc]
    assert summary["best action"] == row.best_action()
    assert (_number(summary["reward"]), int(summary["visits"])) == (row.reward, row.visits)
    assert int(summary["clarifications"]) == row.clarifications
    actions = {c[0]: (int(c[1]), _number(c[2])) for c in tables(body)["actions"]}
    assert actions == {a: (s.n, s.reward) for a, s in row.actions.items()}
    credits = tables(body)["credits"]
    assert len(credits) == row.visits
    assert _number(credits[-1][4]) == row.reward
    listed: list[tuple[str, int]] = []
    for number in range(1, 10):
        cells = tables(_get(client, f"{page}&page={number}"))["episodes"]
        listed += [(c[1], int(c[2])) for c in cells]
        if len(listed) >= len(crediting):
            break
    assert sorted(listed) == crediting
    assert "img" in body and 'src="data:image/svg+xml;base64,' in body


def test_episode_page_shows_steps_trajectory_and_memory_blocks(
    client: TestClient, ui_memory: Path
) -> None:
    with RewardTable(ui_memory, read_only=True) as memory:
        run = memory.runs()[0]
        episode = memory.episodes(run.run_id)[3]
        (episode_id,) = memory.db.execute(
            "SELECT id FROM episodes WHERE run_id = ? AND episode_index = ?",
            [run.run_id, episode.index],
        ).fetchone()
    body = _get(client, f"/episode/{episode_id}")
    steps = tables(body)["steps"]
    assert [(c[3], _number(c[5])) for c in steps] == [(s.action, s.reward) for s in episode.steps]
    shown = html.unescape(body)
    assert episode.memory_blocks and all(block in shown for block in episode.memory_blocks)


def test_run_page_equals_report_json(
    client: TestClient, ui_memory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with RewardTable(ui_memory, read_only=True) as memory:
        run_id = memory.runs()[1].run_id
    report = _cli_json(
        capsys, "report", "--memory", str(ui_memory), "--run", run_id, "--format", "json"
    )
    body = _get(client, f"/run/{run_id}")
    epochs = tables(body)["epochs"]
    assert [int(c[0]) for c in epochs] == [e["epoch"] for e in report["epochs"]]
    for cells, epoch in zip(epochs, report["epochs"], strict=True):
        assert float(cells[2]) == pytest.approx(epoch["success_rate"], abs=5e-3)
        assert (int(cells[7]), int(cells[8])) == (epoch["clarifications"], epoch["wrong_tools"])
        assert _number(cells[9]) == epoch["reward"]
    table2 = {c[0]: c[1:] for c in tables(body)["table2"]}
    for query, cell in report["table2"].items():
        assert (
            table2[query][0]
            == f"{cell['before']['reward']:.1f} ({cell['before']['reward_std']:.1f})"
        )
        assert (
            table2[query][3]
            == f"{cell['after']['fallback']:.1f} ({cell['after']['fallback_std']:.1f})"
        )
    fig4 = tables(body)["fig4"]
    assert len(fig4) == 30  # one column per paper prompt


def test_hostile_text_is_shown_as_text_everywhere(client: TestClient) -> None:
    pages = ["/", "/?q=script", "/run/hostile-run"]
    root = _get(client, "/?q=script")
    prompt_url = html.unescape(next(a for a, t in links(root) if t == HOSTILE))
    assert parse_qs(urlparse(prompt_url).query)["prompt"] == [HOSTILE]
    prompt = _get(client, prompt_url)
    episode = next(a for a, _ in links(prompt) if a.startswith("/episode/"))
    for body in [*(_get(client, p) for p in pages), prompt, _get(client, episode)]:
        built = elements(body)
        assert not [tag for tag, _ in built if tag in ("script", "iframe", "object", "embed")]
        assert not [a for _, a in built if any(name.startswith("on") for name in a)]
        assert all((a.get("src") or "data:").startswith("data:") for _, a in built)
        assert HOSTILE in html.unescape(body)  # shown, as text
    assert tables(_get(client, episode))["steps"][0][3] == HOSTILE


def test_missing_things_are_404_pages_bad_requests_400_and_writes_are_refused(
    client: TestClient,
) -> None:
    for url, status, says in [
        ("/episode/999999", 404, "no episode 999999"),
        ("/run/nope", 404, "no run &#39;nope&#39;"),
        ("/prompt?suite=paper&prompt=never%20seen", 404, "no prompt"),
        ("/prompt", 400, "needs ?suite="),
        ("/?page=x", 400, "not a number"),
        ("/?sort=bogus", 400, "sort: no such choice"),
    ]:
        response = client.get(url)
        assert response.status_code == status and says in response.text, url
    assert client.post("/").status_code == 405
    assert client.get("/", headers={"host": "attacker.example"}).status_code == 400


def test_report_html_is_one_offline_file(
    ui_memory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    with pytest.raises(SystemExit) as done:
        main(["report", "--memory", str(ui_memory), "--format", "html", "--out", str(out)])
    assert done.value.code == 0
    page = out.read_text()
    assert "<script" not in page and "<link" not in page
    assert re.findall(r'src="([a-z]+):', page) == ["data", "data"]  # the two figures
    assert "http://" not in page and "https://" not in page
    report = _cli_json(capsys, "report", "--memory", str(ui_memory), "--format", "json")
    assert [int(c[0]) for c in tables(page)["epochs"]] == [e["epoch"] for e in report["epochs"]]
    assert 'href="/' not in page  # no link into a server that is not there


def test_eval_record_shows_on_the_run_page(
    ui_memory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "memory.db"
    path.write_bytes(ui_memory.read_bytes())
    with RewardTable(path, read_only=True) as memory:
        rows = list(memory.rows())
    evaluated = _cli_json(
        capsys,
        "eval",
        "--memory",
        str(path),
        "--model",
        "fake:first",
        "--compare",
        "--record",
        "--json",
    )
    with RewardTable(path, read_only=True) as memory:
        assert list(memory.rows()) == rows  # recording changes no reward
    store = open_for_ui(path)
    with store, TestClient(create_app(store), base_url="http://127.0.0.1") as client:
        body = _get(client, "/run/hostile-run")
    shown = {c[0]: (float(c[1]), float(c[2])) for c in tables(body)["evaluation-1"]}
    talk = {"conversation_goal_reached", "conversation_user_turns", "conversation_gave_up"}
    assert talk < set(shown)
    for key, (off, on) in shown.items():
        name = key.removeprefix("conversation_")
        before, after = evaluated["before"], evaluated["after"]
        if key in talk:
            before, after = before["conversations"], after["conversations"]
        assert off == pytest.approx(before[name], abs=1e-4)
        assert on == pytest.approx(after[name], abs=1e-4)


def test_ui_bad_input_is_one_line_exit_2(
    ui_memory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for argv, says in [
            (["--memory", str(tmp_path / "missing.db")], "missing.db"),
            (
                ["--memory", str(ui_memory), "--port", str(port)],
                f"port {port} on 127.0.0.1 is in use",
            ),
            (["--memory", str(ui_memory), "--port", "99999"], "--port"),
        ]:
            with pytest.raises(SystemExit) as done:
                main(["ui", *argv])
            err = capsys.readouterr().err
            assert done.value.code == 2 and says in err and err.count("\n") == 1, err


def test_a_knn_memory_shows_each_prompts_neighbours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "knn.db"
    train_scripted(path, Suite.load("paper"), ("oracle",))
    open_memory(path, lookup="knn").close()  # records the embedding model, as a kNN run does
    prompt = Suite.load("paper").prompts_of("q5")[0]
    seen = _cli_json(
        capsys,
        "memory",
        "show",
        "--memory",
        str(path),
        "--prompt",
        prompt,
        "--lookup",
        "knn",
        "--json",
    )
    store = open_for_ui(path)
    with store, TestClient(create_app(store), base_url="http://127.0.0.1") as client:
        body = _get(client, "/prompt?" + urlencode({"suite": "paper", "prompt": prompt}))
    shown = [(c[0], float(c[1])) for c in tables(body)["neighbours"]]
    assert shown == [(n["prompt"], round(n["similarity"], 3)) for n in seen["neighbours"]]
    assert len(shown) >= 2


HOSTS = [
    ("127.0.0.1", 200),
    ("127.0.0.1:8765", 200),
    ("127.9.8.7:80", 200),  # all of 127.0.0.0/8 is the loopback
    ("localhost:8765", 200),
    ("LocalHost.:8765", 200),  # names are case-insensitive; a trailing dot names the same
    ("[::1]:8765", 200),
    ("[::1]", 200),
    ("[0:0:0:0:0:0:0:1]:8765", 200),
    ("attacker.example", 400),  # DNS rebinding: the attacker's name, pointed at 127.0.0.1
    ("attacker.example:8765", 400),
    ("localhost.attacker.example", 400),
    ("127.0.0.1.nip.io:8765", 400),
    ("localhost@attacker.example", 400),
    ("::1", 400),  # an IPv6 address needs its brackets
    ("[::1", 400),
    ("[::2]:8765", 400),
    ("[localhost]:8765", 400),
    ("192.0.2.1:8765", 400),
    ("127.0.0.1:port", 400),
    ("127.0.0.1:8765:1", 400),
    ("", 400),
]


@pytest.mark.parametrize(("host", "status"), HOSTS)
def test_the_host_check_answers_the_loopback_only(
    client: TestClient, host: str, status: int
) -> None:
    assert client.get("/", headers={"host": host}).status_code == status


@pytest.mark.parametrize(
    ("host", "status"),
    [("Reflex.Example:8765", 200), ("192.0.2.7:80", 200), ("[::1]:1", 200), ("other.example", 400)],
)
def test_the_host_check_answers_the_names_it_was_started_on(
    ui_memory: Path, host: str, status: int
) -> None:
    store = open_for_ui(ui_memory)
    app = create_app(store, "reflex.example", "192.0.2.7")
    with store, TestClient(app, base_url="http://127.0.0.1") as served:
        assert served.get("/", headers={"host": host}).status_code == status


@pytest.fixture
def fragile_client(ui_memory: Path) -> Iterator[TestClient]:
    """The app, answering a server error with its 500 reply instead of raising it."""
    store = open_for_ui(ui_memory)
    app = create_app(store)
    with store, TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        yield c


def _crash(store: Any) -> dict[str, int]:
    raise RuntimeError("a bug with a secret in its message")


@pytest.mark.parametrize(
    ("method", "url", "host", "status"),
    [
        ("GET", "/", "127.0.0.1", 200),
        ("GET", "/episode/999999", "127.0.0.1", 404),  # the page's own error page
        ("GET", "/no/such/page", "127.0.0.1", 404),  # Starlette's reply
        ("POST", "/", "127.0.0.1", 405),
        ("DELETE", "/episode/1", "127.0.0.1", 405),
        ("GET", "/?page=%C2%B2", "127.0.0.1", 400),
        ("GET", "/", "attacker.example", 400),
        ("GET", "/", "127.0.0.1", 500),
    ],
)
def test_every_response_carries_the_security_headers(
    fragile_client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    url: str,
    host: str,
    status: int,
) -> None:
    if status == 500:
        monkeypatch.setattr(data, "counts", _crash)
    response = fragile_client.request(method, url, headers={"host": host})
    assert response.status_code == status
    for name, value in HEADERS.items():
        assert response.headers.get_list(name) == [value], name
    assert "secret" not in response.text  # no traceback either


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/episode/9223372036854775808", 400, "episode id: not a number from 1 to"),
        ("/episode/99999999999999999999999999", 400, "episode id: not a number"),
        ("/episode/0", 400, "episode id: not a number from 1 to"),
        ("/episode/%C2%B2", 400, "episode id: not a number"),
        ("/episode/-1", 400, "episode id: not a number"),
        ("/?page=%C2%B2", 400, "page: not a number"),
        ("/?page=%D9%A3", 400, "page: not a number"),  # ARABIC-INDIC DIGIT THREE
        ("/?page=1000000001", 400, "page: not a number from 1 to 1,000,000,000"),
        ("/?page=0", 400, "page: not a number"),
        ("/?page=%201", 400, "page: not a number"),
        ("/?q=" + "a" * 50_001, 400, "search: longer than 1,000 characters"),
        ("/?q=" + "%25" * 1001, 400, "search: longer than 1,000 characters"),
        ("/?order=sideways", 400, "order: no such choice"),
        ("/prompt?suite=paper&prompt=x&page=%C2%B2", 400, "page: not a number"),
        ("/prompt?suite=paper&prompt=" + "x" * 50_001, 400, "prompt: longer than 50,000"),
        ("/prompt?suite=" + "s" * 1001 + "&prompt=x", 400, "suite: longer than 1,000"),
        ("/prompt?suite=paper", 400, "needs ?suite="),
        ("/run/" + "r" * 1001, 400, "run id: longer than 1,000 characters"),
    ],
)
def test_requests_that_crashed_the_server_are_4xx_pages(
    client: TestClient, url: str, status: int, says: str
) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert says in html.unescape(response.text)


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/?q=" + "a" * 1000, 200),
        ("/?q=%00", 200),
        ("/?page=1000000000", 200),  # the last page is shown
        ("/prompt?suite=paper&prompt=" + "x" * 50_000, 404),  # read, and not found
        ("/episode/9223372036854775807", 404),
    ],
)
def test_the_bounds_are_inclusive(client: TestClient, url: str, status: int) -> None:
    assert client.get(url).status_code == status


CONTROL = "esc \x1b[31m bidi \u202e line \u2028 nul \x00 del \x7f end"
"""Text that would drive a terminal, reorder or split what the reader sees if shown raw."""
RAW = ("\x1b", "\u202e", "\u2028", "\x00", "\x7f")
QUERY = "q $\\notasymbol$ " + CONTROL


@pytest.fixture
def control_memory(tmp_path: Path) -> Path:
    """A memory whose one run has control characters in its id, model, query, prompt, step
    arguments, messages and memory block (and mathtext in its query, a label of Fig. 4)."""
    path = tmp_path / "control.db"
    prompt = "prompt " + CONTROL
    steps = (Step(0, prompt, "ask_user_for_clarification", {"question": CONTROL}, 0.0, False),)
    messages = (
        {"type": "human", "data": {"content": CONTROL}},
        {"type": "ai", "data": {"content": CONTROL, "tool_calls": [{"name": CONTROL, "args": {}}]}},
    )
    run_id = "run " + CONTROL
    episode = Episode(
        run_id,
        0,
        1,
        "paper",
        QUERY,
        prompt,
        False,
        "max_steps",
        steps,
        messages,
        (CONTROL,),
    )
    with RewardTable(path) as memory:
        memory.start_run(RunInfo(run_id, "paper", "model " + CONTROL, 0, 1, 4))
        memory.record_episode(episode)
        memory.finish_run(run_id, "completed")
    return path


def _no_raw_controls(body: str) -> None:
    assert not [c for c in RAW if c in body]
    assert visible(CONTROL) in html.unescape(body)


def _figures(body: str) -> list[str]:
    found = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', body)
    return [base64.b64decode(f).decode("utf-8") for f in found]


def test_control_characters_are_shown_as_escapes_in_the_html(control_memory: Path) -> None:
    store = open_for_ui(control_memory)
    with store, TestClient(create_app(store), base_url="http://127.0.0.1") as served:
        index = _get(served, "/")
        _no_raw_controls(index)
        _no_raw_controls(_get(served, "/?" + urlencode({"q": CONTROL})))
        prompt_url = next(a for a, t in links(index) if t == visible("prompt " + CONTROL))
        assert parse_qs(urlparse(prompt_url).query)["prompt"] == ["prompt " + CONTROL]
        prompt = _get(served, prompt_url)  # the link finds the raw prompt
        _no_raw_controls(prompt)
        assert int(tables(prompt)["row"][2][1]) == 1  # its visits
        run_url = next(a for a, t in links(index) if t == visible("run " + CONTROL))
        run = _get(served, run_url)
        _no_raw_controls(run)
        episode = _get(served, next(a for a, _ in links(prompt) if a.startswith("/episode/")))
        _no_raw_controls(episode)
        assert tables(episode)["episode"][0] == ["run", visible("run " + CONTROL)]
        figures = _figures(run)
    assert figures and all(not [c for c in RAW if c in svg] for svg in figures)
    assert any(visible(QUERY) + " 1" in html.unescape(svg) for svg in figures)


def test_the_html_report_draws_control_characters_as_escapes(control_memory: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_for_ui(control_memory) as store:
            page = report_html(store)
    assert not [w for w in caught if "Glyph" in str(w.message)]
    _no_raw_controls(page)
    assert all(not [c for c in RAW if c in svg] for svg in _figures(page))


@pytest.mark.parametrize("host", ["", " ", "0.0.0.0", "::", "[::]", "*", "0", "192.0.2.1"])
def test_ui_refuses_a_host_off_the_loopback(
    ui_memory: Path, capfd: pytest.CaptureFixture[str], host: str
) -> None:
    with pytest.raises(BadInputError) as refused:
        check_host(host)
    assert "--" not in str(refused.value)  # the library names no flag
    assert run_main("ui", "--memory", str(ui_memory), "--host", host) == 2
    err = capfd.readouterr().err
    assert err.startswith("error: --host: ") and err.count("\n") == 1, err
    says = "not a loopback address" if host == "192.0.2.1" else "every interface"
    assert says in err
    assert ("(--allow-remote)" in err) == (host == "192.0.2.1")  # the flag that would share


def test_ui_refuses_a_wildcard_even_when_sharing_is_allowed() -> None:
    for host in ("0.0.0.0", "::", ""):
        with pytest.raises(BadInputError, match="every interface"):
            check_host(host, allow_remote=True)
    assert check_host("192.0.2.1", allow_remote=True) == "192.0.2.1"
    assert check_host("localhost") == "127.0.0.1"
    assert check_host("[::1]") == "::1"


class _Listening:
    """A socket bound to a documentation address (the test binds nothing off the loopback)."""

    def getsockname(self) -> tuple[str, int]:
        return ("192.0.2.1", 8765)

    def close(self) -> None:
        pass


def _answers(app: Any) -> dict[str, int]:
    """The status of `/` per Host header, asked of the app the server was given."""
    hosts = ("192.0.2.1:8765", "localhost:8765", "attacker.example")
    with TestClient(app, base_url="http://192.0.2.1:8765") as remote:
        return {host: remote.get("/", headers={"host": host}).status_code for host in hosts}


def test_allow_remote_warns_and_answers_its_own_address(
    ui_memory: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    import reflexrl.ui

    answers: list[dict[str, int]] = []
    monkeypatch.setattr(reflexrl.ui, "bind", lambda *_, **__: _Listening())
    monkeypatch.setattr(
        uvicorn.Server, "run", lambda self, sockets: answers.append(_answers(self.config.app))
    )
    argv = ("ui", "--memory", str(ui_memory), "--host", "192.0.2.1", "--allow-remote")
    assert run_main(*argv) == 0
    (warning,) = capfd.readouterr().err.splitlines()
    assert warning.startswith("WARNING: ") and "http://192.0.2.1:8765/" in warning
    assert "anyone who can reach" in warning
    assert answers == [{"192.0.2.1:8765": 200, "localhost:8765": 200, "attacker.example": 400}]
