"""Benchmark: middleware overhead per model call, and the time of a 10-epoch fake run.

Run on demand (not part of the tests): `python evals/benchmarks/overhead.py [--rows 10000]`.
Prints numbers only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from langchain.agents.middleware import ModelRequest
from langchain_core.messages import HumanMessage, SystemMessage

from reflexrl import (
    Episode,
    ReflexMiddleware,
    RewardTable,
    Step,
    Suite,
    build_agent,
    load_model,
    train,
)

ACTIONS = ("calculator", "python_interpreter", "ask_user_for_clarification")


def fill(memory: RewardTable, rows: int) -> None:
    """`rows` prompts with three credited actions each, written as one episode."""
    steps = tuple(
        Step(
            i,
            f"benchmark prompt number {i // 3} with some words",
            ACTIONS[i % 3],
            {},
            (-1.0, 1.0, 0.0)[i % 3],
            False,
        )
        for i in range(rows * 3)
    )
    memory.record_episode(
        Episode("fill", 0, 1, "bench", "q", steps[0].prompt, False, "valid", steps)
    )


def time_calls(middleware: ReflexMiddleware, prompt: str, repeats: int) -> list[float]:
    request = ModelRequest(
        model=load_model("fake:first"),
        messages=[HumanMessage(prompt)],
        system_message=SystemMessage("You are a static system prompt."),
    )
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        middleware._with_memory(request)
        times.append(time.perf_counter() - start)
    return times


def overhead(rows: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        memory = RewardTable(Path(folder) / "bench.db")
        start = time.perf_counter()
        fill(memory, rows)
        print(f"filled {rows} rows ({rows * 3} actions) in {time.perf_counter() - start:.2f} s")
        prompt = f"benchmark prompt number {rows // 2} with some words"
        for render, n in (("focused", repeats), ("paper", max(repeats // 20, 5))):
            middleware = ReflexMiddleware(memory, suite="bench", render=render)
            times = time_calls(middleware, prompt, n)
            message = middleware.injector.system_message([HumanMessage(prompt)], None)
            size = len(message.text)
            median = statistics.median(times) * 1e3
            p95 = sorted(times)[int(0.95 * len(times)) - 1] * 1e3
            print(
                f"render={render:8s} per model call: median {median:.3f} ms, "
                f"p95 {p95:.3f} ms over {n} calls; system text {size:,} chars"
            )


def fake_run(epochs: int) -> None:
    suite = Suite.load("paper")
    for spec in ("fake:oracle", "fake:first"):
        with tempfile.TemporaryDirectory() as folder:
            memory = RewardTable(Path(folder) / "m.db")
            agent = build_agent(load_model(spec, suite), suite, memory)
            start = time.perf_counter()
            result = train(agent, suite, memory, epochs=epochs, seed=0)
            took = time.perf_counter() - start
            episodes = len(result.episodes)
            print(f"{spec}: {epochs} epochs, {episodes} episodes in {took:.2f} s (in process)")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        cmd = [
            sys.executable,
            "-m",
            "reflexrl",
            "train",
            "--model",
            "fake:oracle",
            "--epochs",
            str(epochs),
            "--memory",
            str(Path(folder) / "m.db"),
            "--json",
        ]
        subprocess.run(cmd, check=True, capture_output=True)
        took = time.perf_counter() - start
        print(f"reflexrl train --model fake:oracle --epochs {epochs}: {took:.2f} s (CLI, startup)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    overhead(args.rows, args.repeats)
    fake_run(args.epochs)


if __name__ == "__main__":
    main()
