"""`reflexrl train` against a loopback provider stub, as a user runs it: Ctrl-C and --resume,
--max-cost, the response cache, and no API key in anything written or printed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stub_provider import StubProvider, error_reply

pytestmark = pytest.mark.slow  # each test starts the CLI a few times (about 2 minutes in all)

KEY = "sk-planted-key-0f9e8d7c6b5a"
HEADER_SECRET = "hdr-planted-secret-13572468"


@pytest.fixture
def stub() -> Iterator[StubProvider]:
    with StubProvider() as provider:
        yield provider


def _env() -> dict[str, str]:
    return {**os.environ, "OPENAI_API_KEY": KEY, "COLUMNS": "200"}


def _train(stub: StubProvider, db: Path, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "reflexrl", "train", "--model", "openai:gpt-4.1-mini",
        "--base-url", stub.openai_url, "--memory", str(db), "--retries", "2", *args,
    ]  # fmt: skip


def _resume(stub: StubProvider, db: Path, run_id: str, *args: str) -> list[str]:
    """A resume command: the run's own model and plan, the endpoint given again."""
    return [
        sys.executable, "-m", "reflexrl", "train", "--resume", run_id, "--base-url",
        stub.openai_url, "--memory", str(db), "--retries", "2", *args,
    ]  # fmt: skip


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=False, capture_output=True, text=True, env=_env(), timeout=300)


def _state(db: Path) -> dict[str, Any]:
    """Everything a run leaves in the memory, minus timestamps and ids."""
    conn = sqlite3.connect(db)
    memory = conn.execute("SELECT suite, prompt, reward, visits, clarifications FROM memory")
    actions = conn.execute("SELECT * FROM memory_actions")
    episodes = conn.execute(
        "SELECT episode_index, prompt, explored, outcome, reward, n_steps FROM episodes"
    )
    state = {
        "memory": sorted(memory.fetchall()),
        "actions": sorted(actions.fetchall()),
        "episodes": sorted(episodes.fetchall()),
    }
    conn.close()
    return state


def _run_id(db: Path) -> str:
    conn = sqlite3.connect(db)
    (run_id,) = conn.execute("SELECT run_id FROM runs").fetchone()
    conn.close()
    return str(run_id)


def _episodes(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM episodes").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def _interrupt_after(
    cmd: list[str],
    db: Path,
    episodes: int,
    sig: signal.Signals = signal.SIGINT,
    *,
    ignore_sigint: bool = False,
) -> tuple[int, str]:
    """Start `cmd`, send `sig` (Ctrl-C) once `episodes` are logged; its exit code and stderr.
    `ignore_sigint`: start it with SIGINT ignored, as a shell script's `cmd &` does."""

    def disposition() -> None:
        # Inherited through exec. Set both ways: under a shell's `pytest &` the test itself
        # runs with SIGINT ignored, and a child would inherit that.
        signal.signal(signal.SIGINT, signal.SIG_IGN if ignore_sigint else signal.SIG_DFL)

    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        preexec_fn=disposition,  # noqa: PLW1509  (no threads here)
    )
    deadline = time.monotonic() + 120
    while _episodes(db) < episodes and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    return proc.returncode, stderr


@pytest.mark.parametrize(
    ("concurrency", "sig", "ignore_sigint"),
    [
        ("1", signal.SIGINT, False),
        ("3", signal.SIGINT, False),
        ("3", signal.SIGTERM, False),
        ("1", signal.SIGTERM, True),
        ("3", signal.SIGTERM, True),
    ],
)
def test_interrupted_run_resumes_to_the_totals_of_an_uninterrupted_one(
    stub: StubProvider,
    tmp_path: Path,
    concurrency: str,
    sig: signal.Signals,
    ignore_sigint: bool,
) -> None:
    """Ctrl-C, or SIGTERM (handled the same way, whether SIGINT is ignored or not), then
    --resume."""
    stub.delay = 0.1  # a run of 30 episodes lasts long enough for the signal to land
    whole, parts = tmp_path / "whole.db", tmp_path / "parts.db"
    args = ("--epochs", "1", "--seed", "3", "--concurrency", concurrency)
    assert _run(_train(stub, whole, *args)).returncode == 0
    cmd = _train(stub, parts, *args)
    code, stderr = _interrupt_after(cmd, parts, 8, sig, ignore_sigint=ignore_sigint)
    assert code == 130, stderr
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    assert "interrupted" in stderr and 8 <= _episodes(parts) < 30
    run_id = _run_id(parts)
    status = sqlite3.connect(parts).execute("SELECT status FROM runs").fetchone()[0]
    assert status == "interrupted"
    resumed = _run(_resume(stub, parts, run_id, "--concurrency", concurrency))
    assert resumed.returncode == 0, resumed.stderr
    assert f"run {run_id} (completed)" in resumed.stdout
    mine, theirs = _state(parts), _state(whole)
    assert len(mine["episodes"]) == 30 == len({e[0] for e in mine["episodes"]})
    if concurrency == "1":  # one at a time, every episode sees the same memory in both runs
        assert mine == theirs
    else:  # episodes overlap: the totals still add up to the log
        visits = sum(row[3] for row in mine["memory"])
        assert visits == sum(e[5] for e in mine["episodes"])


def test_resume_refuses_a_changed_plan_and_a_completed_run(
    stub: StubProvider, tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    assert _run(_train(stub, db, "--epochs", "1")).returncode == 0
    changed = _run(_train(stub, db, "--resume", _run_id(db), "--seed", "4"))
    assert changed.returncode == 2 and "--model: a resumed run keeps its own" in changed.stderr
    resume = [sys.executable, "-m", "reflexrl", "train", "--memory", str(db), "--resume"]
    changed = _run([*resume, _run_id(db), "--seed", "4"])
    assert changed.returncode == 2 and "--seed: a resumed run keeps its own" in changed.stderr
    done = _run([*resume, _run_id(db)])
    assert done.returncode == 2 and "already completed" in done.stderr
    missing = _run([*resume, "no-such-run"])
    assert missing.returncode == 2 and "no run 'no-such-run'" in missing.stderr


def test_max_cost_stops_the_run_and_resume_finishes_it(stub: StubProvider, tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    stopped = _run(_train(stub, db, "--epochs", "1", "--max-cost", "0.004", "--json"))
    assert stopped.returncode == 3, stopped.stderr
    result = json.loads(stopped.stdout)
    assert result["status"] == "stopped" and 0 < result["episodes"] < 30
    assert result["usage"]["cost"] <= 0.004
    resumed = _run(_resume(stub, db, result["run_id"], "--max-cost", "1", "--json"))
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["episodes"] == 30
    assert json.loads(resumed.stdout)["usage"]["cost"] > result["usage"]["cost"]


def test_response_cache_replays_a_run_without_calling_the_provider(
    stub: StubProvider, tmp_path: Path
) -> None:
    cache = tmp_path / "responses.db"
    first = _run(_train(stub, tmp_path / "a.db", "--epochs", "2", "--response-cache", str(cache)))
    assert first.returncode == 0, first.stderr
    sent = stub.calls
    again = _run(
        _train(stub, tmp_path / "b.db", "--epochs", "2", "--response-cache", str(cache), "--json")
    )
    assert again.returncode == 0, again.stderr
    usage = json.loads(again.stdout)["usage"]
    assert stub.calls == sent  # nothing reached the provider
    assert usage["calls"] == 0 and usage["cached_responses"] > 0 and usage["cost"] == 0
    assert _state(tmp_path / "a.db") == _state(tmp_path / "b.db")


class EchoingStub(StubProvider):
    """A hostile provider: its error messages quote the credentials it received."""

    echoes = 3

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Any:
        if path.endswith("/chat/completions") and self.echoes > 0:
            self.echoes -= 1
            quoted = f"{headers.get('authorization')} {headers.get('x-secret')}"
            return error_reply("openai", 400, None, f"invalid request from {quoted}")
        return super().handle(method, path, headers, raw)


def test_api_keys_never_reach_any_output(tmp_path: Path) -> None:
    db, cache = tmp_path / "m.db", tmp_path / "cache.db"
    outputs: list[str] = []
    with EchoingStub() as stub:
        secret = ("--header", f"X-Secret: {HEADER_SECRET}", "--response-cache", str(cache))
        first = _run(_train(stub, db, "--epochs", "1", *secret))
        outputs += [first.stdout, first.stderr]
        resumed = _run(_resume(stub, db, _run_id(db), *secret))
        outputs += [resumed.stdout, resumed.stderr]
    assert first.returncode == 1 and "did not finish" in first.stderr  # the echoed failures
    assert resumed.returncode == 0, resumed.stderr
    for fmt in ("text", "json", "html"):
        report = tmp_path / f"report.{fmt}"
        cmd = [sys.executable, "-m", "reflexrl", "report", "--memory", str(db), "--format", fmt]
        assert _run([*cmd, "--out", str(report)]).returncode == 0
    shown = _run(
        [sys.executable, "-m", "reflexrl", "memory", "show", "--memory", str(db), "--json"]
    )
    outputs += [shown.stdout, shown.stderr]
    conn = sqlite3.connect(db)
    errors = [e for (e,) in conn.execute("SELECT error FROM failures")]
    assert len(errors) == 3 and all("[redacted]" in e for e in errors)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 5
    for text in [*outputs, *(p.read_bytes().decode("latin-1") for p in files)]:
        assert KEY not in text and HEADER_SECRET not in text
