"""The CLI end to end with the scripted `fake:` models, and its bad-input contract."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from inprocess import run_main
from stub_provider import StubProvider
from typer.testing import CliRunner

from reflexrl.cli.app import app

runner = CliRunner()


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def cli_json(*args: str) -> object:
    return json.loads(cli(*args, "--json"))


def train(db: Path, model: str, *extra: str) -> dict:
    return cli_json("train", "--suite", "paper", "--model", model, "--memory", str(db), *extra)


def test_fake_first_invariants(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    result = train(db, "fake:first", "--epochs", "3", "--max-steps", "1")
    assert result["episodes"] == 90 and len(result["epochs"]) == 3
    rows = cli_json("memory", "show", "--memory", str(db))
    assert len(rows) == 30
    by_reward = sorted((r["query"], r["reward"], r["visits"]) for r in rows)
    expected = [("q1", 3.0, 3)] * 5 + [
        (q, -3.0, 3) for q in ("q2", "q3", "q4", "q5", "q6") for _ in range(5)
    ]
    assert by_reward == sorted(expected)
    for row in rows:
        assert set(row) == {
            "suite",
            "prompt",
            "query",
            "reward",
            "visits",
            "clarifications",
            "actions",
            "updated_at",
        }
        assert row["actions"] == {"create_image": {"n": 3, "reward": row["reward"]}}
    assert [e["success_rate"] for e in result["epochs"]] == [pytest.approx(5 / 30, abs=1e-4)] * 3


def test_fake_oracle_learns_nothing_wrong(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    result = train(db, "fake:oracle", "--epochs", "2")
    assert [e["success_rate"] for e in result["epochs"]] == [1.0, 1.0]
    rows = cli_json("memory", "show", "--memory", str(db), "--sort", "reward")
    assert len(rows) == 30 and all(r["reward"] > 0 for r in rows)


def test_fake_clarify_rephrases_until_max_steps(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    result = train(db, "fake:clarify", "--epochs", "1", "--max-steps", "3")
    epoch = result["epochs"][0]
    assert epoch["success_rate"] == 0.0 and epoch["clarifications"] == 90 and epoch["reward"] == 0
    rows = cli_json("memory", "show", "--memory", str(db))
    assert sum(r["clarifications"] for r in rows) == 90
    assert sum(r["visits"] for r in rows) == 90  # credited to the prompt asked about each time


def test_report_json_and_text(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    run_id = train(db, "fake:first", "--epochs", "2", "--max-steps", "1")["run_id"]
    report = json.loads(cli("report", "--memory", str(db), "--format", "json"))
    assert report["run_id"] == run_id and len(report["epochs"]) == 2
    assert report["table2"]["q1"]["before"]["reward"] == 1.0
    assert report["table2"]["q2"]["after"] == {
        "reward": -1.0,
        "reward_std": 0.0,
        "fallback": 0.0,
        "fallback_std": 0.0,
    }
    text = cli("report", "--memory", str(db), "--run", run_id)
    assert "Per epoch" in text and "first epoch (before)" in text
    html = tmp_path / "r.html"
    cli("report", "--memory", str(db), "--format", "html", "--out", str(html))
    assert "<html" in html.read_text()


def test_eval_is_frozen_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    train(db, "fake:first", "--epochs", "1", "--max-steps", "1")
    before = cli_json("memory", "show", "--memory", str(db))
    result = cli_json("eval", "--model", "fake:oracle", "--memory", str(db))
    assert result["success_rate"] == 1.0 and result["memory"] == str(db)
    assert set(result["per_query"]) == {f"q{i}" for i in range(1, 7)}
    assert cli_json("memory", "show", "--memory", str(db)) == before
    off = cli_json(
        "eval", "--model", "fake:first", "--no-memory", "--memory", str(tmp_path / "none.db")
    )
    assert off["memory"] is None and off["wrong_tool_rate"] == pytest.approx(25 / 30, abs=1e-4)
    assert not (tmp_path / "none.db").exists()


def test_eval_compare_reports_before_and_after(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    train(db, "fake:oracle", "--epochs", "1")
    both = cli_json("eval", "--compare", "--model", "fake:oracle", "--memory", str(db))
    assert both["before"]["memory"] is None and both["after"]["memory"] == str(db)
    assert both["before"]["success_rate"] == both["after"]["success_rate"] == 1.0
    assert both["after"]["steps_to_valid"] == 1.0
    text = cli("eval", "--compare", "--model", "fake:first", "--memory", str(db))
    assert "without memory -> with" in text and text.count("0.17") >= 2 and "->" in text


def test_eval_with_a_chat_model_playing_the_user_over_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StubProvider() as stub:
        stub.say_next(*["Dogs racing on a beach, drawn please.", "###STOP###"] * 30)
        monkeypatch.setenv("OPENAI_BASE_URL", stub.openai_url)
        user = "llm:openai:gpt-4.1-mini"
        args = ("--model", "fake:clarify", "--no-memory", "--max-steps", "4", "--user", user)
        result = cli_json("eval", *args, "--memory", str(tmp_path / "m.db"))
    assert stub.calls == 60  # two user turns in each of the 30 conversations
    # the user model reads its opening (the episode's prompt) as its own turn, the agent's
    # questions as the other party's; fake:clarify's question repeats the current prompt
    second = stub.requests[1]["body"]["messages"]
    assert [m["role"] for m in second] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert second[-1]["content"] == "Dogs racing on a beach, drawn please."
    assert result["conversations"]["gave_up"] == 1.0
    assert result["usage"]["input_tokens"] > 0 and result["usage"]["cost"] > 0


def test_memory_reset_needs_yes(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    train(db, "fake:first", "--epochs", "1", "--max-steps", "1")
    assert runner.invoke(app, ["memory", "reset", "--memory", str(db)]).exit_code == 2
    assert "removed 30 rows" in cli("memory", "reset", "--memory", str(db), "--yes")
    assert cli_json("memory", "show", "--memory", str(db)) == []


def test_a_refused_connection_is_named_and_a_failed_run_still_prints_its_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-sent-anywhere")
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = tmp_path / "m.db"
    code = run_main(
        "train", "--model", "openai:gpt-4.1-mini", "--base-url", f"http://127.0.0.1:{port}/v1",
        "--retries", "0", "--epochs", "1", "--memory", str(db), "--json",
    )  # fmt: skip
    captured = capfd.readouterr()
    assert code == 1
    result = json.loads(captured.out)
    assert result["status"] == "failed" and result["episodes"] == 0 and result["unfinished"] == 30
    (error,) = [ln for ln in captured.err.splitlines() if ln.startswith("error: ")]
    assert "5 episodes in a row failed, last: ConnectionRefusedError" in error
    errors = [r[0] for r in sqlite3.connect(db).execute("SELECT error FROM failures")]
    assert len(errors) == 5 and all("Connect call failed" in e for e in errors)
    assert not any("timed out" in e.lower() for e in errors)


def test_suites_lists_paper() -> None:
    suites = cli_json("suites")
    paper = next(s for s in suites if s["name"] == "paper")
    assert paper["queries"] == 6 and paper["prompts"] == 30 and len(paper["tools"]) == 6


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reflexrl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["train", "--suite", "{bad}", "--model", "fake:first"],
            "bad.yaml: queries.0.valid_tools.0: unknown tool 'nope'",
        ),
        (["train", "--suite", "nosuch", "--model", "fake:first"], "nosuch: no such suite"),
        (["memory", "show", "--memory", "{missing}"], "missing.db: no memory database here"),
        (["train", "--model", "gpt9:big"], "unknown model spec 'gpt9:big'"),
        (
            ["train", "--model", "anthropic:claude-sonnet-4-6"],
            "needs the ANTHROPIC_API_KEY variable",
        ),
        (["train", "--model", "openai:gpt-4.1-mini"], "needs the OPENAI_API_KEY variable"),
        (
            ["train", "--model", "litellm:anthropic/claude-3-haiku"],
            "needs the ANTHROPIC_API_KEY variable",
        ),
        (["train", "--model", "local:gpt5"], "unknown local model 'local:gpt5'"),
        (["eval", "--model", "fake:first"], "reflexrl.db: no memory database here"),
        (["eval", "--compare", "--no-memory", "--model", "fake:first"], "drop --no-memory"),
        (["train", "--epochs", "-1"], "--epochs: input should be greater than or equal to 1"),
        (["memory", "show", "--limit", "0"], "--limit: input should be greater than or equal"),
        (["train", "--suite", "{bad}", "--model", "fake:first", "--memory", "m.db"], "bad.yaml"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(
    tmp_path: Path, args: list[str], words: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\ntools:\n  - {name: t, description: d, function: x.py:f}\n"
        "queries:\n  - {id: a, valid_tools: [nope], prompts: [p]}\n"
    )
    args = [a.format(bad=bad, missing=tmp_path / "missing.db") for a in args]
    work = tmp_path / "work"
    work.mkdir()
    result = run_cli(*args, cwd=work)
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip() and not ln.startswith("model:")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert list(work.rglob("*")) == [] and not (tmp_path / "missing.db").exists()


def test_holdout_knn_and_memory_show_prompt(tmp_path: Path) -> None:
    """Train with held-out prompts, evaluate the split, and ask the memory what the agent
    would see for a held-out prompt with either lookup."""
    db = tmp_path / "m.db"
    result = train(db, "fake:oracle", "--epochs", "1", "--holdout", "2", "--lookup", "knn")
    assert result["episodes"] == 18
    settings = json.loads(cli("report", "--memory", str(db), "--format", "json"))["settings"]
    assert (settings["holdout"], settings["lookup"]) == (2, "knn")
    rows = cli_json("memory", "show", "--memory", str(db))
    held_out = (
        "Produce an illustration displaying numerous dogs sprinting near the tide on a sunny beach"
    )
    assert len(rows) == 18 and held_out not in {r["prompt"] for r in rows}
    evaluated = cli_json(
        "eval", "--model", "fake:oracle", "--memory", str(db), "--holdout", "2",
        "--split", "heldout", "--lookup", "knn",
    )  # fmt: skip
    assert evaluated["episodes"] == 12 and evaluated["split"] == "heldout"
    exact = cli_json("memory", "show", "--memory", str(db), "--prompt", held_out)
    assert exact["neighbours"] == [] and exact["best_action"] is None
    assert "No reward recorded for this prompt yet." in exact["block"]
    knn = cli_json("memory", "show", "--memory", str(db), "--prompt", held_out, "--lookup", "knn")
    # its neighbours are q1's (create_image) and q2's (analyze_image): they disagree, it asks
    assert knn["lookup"] == "knn" and knn["best_action"] == "ask_user_for_clarification"
    assert knn["contested"] == ["create_image", "analyze_image"]
    assert 1 <= len(knn["neighbours"]) <= 5
    assert all(n["similarity"] >= 0.5 for n in knn["neighbours"])
    assert knn["block"].splitlines()[-2] == "Best action so far: ask_user_for_clarification"
    text = cli("memory", "show", "--memory", str(db), "--prompt", held_out, "--lookup", "knn")
    assert text.strip() == knn["block"]
