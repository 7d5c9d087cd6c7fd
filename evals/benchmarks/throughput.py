"""Throughput of training against a provider that answers after a fixed 200 ms.

Starts tests/stub_provider.py in its own process on 127.0.0.1 (OpenAI wire format, 200 ms per
answer), trains the paper suite through the real `openai:` client path (langchain-openai,
ModelCallMiddleware, SQLite memory) and prints model calls per second against the ideal
(concurrency / 0.2 s), the CPU time the client and the stub spent per call, then checks that the
memory aggregates equal the episode log exactly.

    python evals/benchmarks/throughput.py                 # 600 episodes at --concurrency 32,
                                                          # then 60 one at a time
    python evals/benchmarks/throughput.py --episodes 300 --concurrency 16 --sequential 0
    python evals/benchmarks/throughput.py --cli --sequential 0   # through `reflexrl train`

With `--cli` the same training runs as a `reflexrl train` subprocess; its rate is taken from
the run's own start and finish times in the memory file (Python's startup left out).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from reflexrl import RewardTable, Suite, load_model, train
from reflexrl.agent.build import build_agent
from reflexrl.models.call_policy import ModelCallMiddleware
from reflexrl.usage import price_for

ROOT = Path(__file__).resolve().parents[2]
DELAY = 0.2
SPEC = "openai:gpt-4.1-mini"


def start_stub() -> tuple[subprocess.Popen[str], str]:
    """The stub server in another process (so it does not share this one's GIL)."""
    cmd = [sys.executable, str(ROOT / "tests" / "stub_provider.py"), "--delay", str(DELAY)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("READY "):
        raise RuntimeError(f"stub server did not start: {line!r}")
    return proc, line.split()[1] + "/v1"


def epochs_for(suite: Suite, episodes: int) -> int:
    """Epochs that make about `episodes` episodes (each epoch visits every prompt once)."""
    return max(1, episodes // sum(1 for _ in suite.prompts()))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(url: str, episodes: int, concurrency: int, db: Path, stub: int) -> None:
    """Train for `episodes` episodes and print throughput and the exactness check."""
    suite = Suite.load("paper")
    epochs = epochs_for(suite, episodes)
    memory = RewardTable(db)
    model = load_model(SPEC, suite, base_url=url, timeout=30)
    calls = ModelCallMiddleware(SPEC, price=price_for(SPEC))
    agent = build_agent(model, suite, memory, calls=calls)
    start, cpu, stub_cpu = time.perf_counter(), time.process_time(), cpu_seconds(stub)
    result = train(agent, suite, memory, epochs=epochs, model=SPEC, concurrency=concurrency)
    wall = time.perf_counter() - start
    cpu, stub_cpu = time.process_time() - cpu, cpu_seconds(stub) - stub_cpu
    rate, ideal = result.usage.calls / wall, concurrency / DELAY
    print(
        f"concurrency {concurrency}: {len(result.episodes)} episodes, {result.usage.calls} "
        f"model calls in {wall:.1f} s = {rate:.1f} calls/s; ideal {ideal:.0f} calls/s; "
        f"{rate / ideal:.0%} of ideal; status {result.status}"
    )
    n = max(1, result.usage.calls)
    print(
        f"  CPU per call: client {1000 * cpu / n:.1f} ms ({cpu / wall:.0%} of one core), "
        f"stub {1000 * stub_cpu / n:.1f} ms"
    )
    check_exact(memory, result.run_id)
    memory.close()


def run_cli(url: str, episodes: int, concurrency: int, db: Path) -> None:
    """The same training through the CLI; the rate from the run's logged start and finish."""
    epochs = epochs_for(Suite.load("paper"), episodes)
    cmd = [sys.executable, "-m", "reflexrl", "train", "--model", SPEC, "--base-url", url]
    cmd += ["--concurrency", str(concurrency), "--epochs", str(epochs), "--memory", str(db)]
    subprocess.run([*cmd, "--json"], check=True, capture_output=True)
    memory = RewardTable(db)
    run = memory.runs()[-1]
    assert run.started_at is not None and run.finished_at is not None
    wall = datetime.fromisoformat(run.finished_at) - datetime.fromisoformat(run.started_at)
    episodes_done = memory.episodes(run.run_id)
    calls = sum(e.usage.calls for e in episodes_done)
    rate, ideal = calls / wall.total_seconds(), concurrency / DELAY
    print(
        f"CLI, concurrency {concurrency}: {len(episodes_done)} episodes, {calls} model calls in "
        f"{wall.total_seconds():.1f} s = {rate:.1f} calls/s; {rate / ideal:.0%} of ideal; "
        f"status {run.status}"
    )
    check_exact(memory, run.run_id)
    memory.close()


def check_exact(memory: RewardTable, run_id: str) -> None:
    """Every aggregate equals the sum of the logged steps credited to it."""
    steps = [s for e in memory.episodes(run_id) for s in e.steps]
    by_prompt: dict[str, list[float]] = {}
    for s in steps:
        by_prompt.setdefault(s.credit_key, []).append(s.reward)
    rows = {r.prompt: r for r in memory.rows()}
    exact = set(rows) == set(by_prompt) and all(
        rows[p].visits == len(v) and rows[p].reward == sum(v) for p, v in by_prompt.items()
    )
    visits = sum(r.visits for r in rows.values())
    print(f"  memory: {len(rows)} rows, {visits} visits, {len(steps)} logged steps, exact={exact}")
    if not exact:
        raise SystemExit("memory totals differ from the log")


def main() -> None:
    """Parse the options, start the stub, run both measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sequential", type=int, default=60, help="episodes at concurrency 1")
    parser.add_argument("--repeats", type=int, default=1, help="concurrent runs to make")
    parser.add_argument("--cli", action="store_true", help="train through `reflexrl train`")
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-benchmark-stub")
    proc, url = start_stub()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.repeats):
                db = Path(tmp) / f"c{i}.db"
                if args.cli:
                    run_cli(url, args.episodes, args.concurrency, db)
                else:
                    run(url, args.episodes, args.concurrency, db, proc.pid)
            if args.sequential:
                run(url, args.sequential, 1, Path(tmp) / "sequential.db", proc.pid)
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
