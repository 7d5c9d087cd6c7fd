"""Benchmark: middleware overhead per model call (exact and kNN lookups), the kNN block's size
as the memory grows, and the time of a 10-epoch fake run.

Run on demand (not part of the tests): `python evals/benchmarks/overhead.py [--rows 10000]
[--big-rows 1000000]`. Prints numbers only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from contextlib import closing
from pathlib import Path

import numpy as np
from langchain.agents.middleware import ModelRequest
from langchain_core.embeddings import Embeddings
from langchain_core.messages import HumanMessage, SystemMessage

from reflexrl import (
    KnnLookup,
    MemoryStore,
    ReflexMiddleware,
    Suite,
    build_agent,
    load_model,
    open_memory,
    train,
)
from reflexrl.prompt import render_focused
from reflexrl.records import Episode, Step

ACTIONS = ("calculator", "python_interpreter", "ask_user_for_clarification")


WORDS = [
    "image",
    "picture",
    "dogs",
    "beach",
    "compute",
    "expression",
    "loop",
    "python",
    "paper",
    "feedback",
    "table",
    "ride",
]


def prompt_text(i: int) -> str:
    """A distinct prompt per number, with words shared across prompts (so neighbours exist)."""
    picked = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(4)]
    return f"benchmark prompt number {i} about {' '.join(picked)}"


def fill(
    memory: MemoryStore, rows: int, actions: int = 3, chunk: int = 30_000, first: int = 0
) -> None:
    """Prompts `first` to `rows - 1` with `actions` credited actions each, in episodes of
    `chunk` steps."""
    total = rows * actions
    for start in range(first * actions, total, chunk):
        index = start // chunk + first * actions
        steps = tuple(
            Step(
                i - start,
                prompt_text(i // actions),
                ACTIONS[i % 3],
                {},
                (-1.0, 1.0, 0.0)[i % 3],
                False,
            )
            for i in range(start, min(start + chunk, total))
        )
        episode = Episode("fill", index, 1, "bench", "q", steps[0].prompt, False, "valid", steps)
        memory.record_episode(episode)


class HashingEmbeddings(Embeddings):
    """Bag-of-words vectors by hashing (no model): lets a benchmark store a million prompts in
    minutes. Only for sizes: it says nothing about which prompts are similar."""

    dimensions = 64

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.split():
                out[row, zlib.crc32(word.encode()) % self.dimensions] += 1.0
        return out.tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


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


def overhead(rows: int, repeats: int, postgres: bool = False) -> None:
    """Per-model-call overhead on a SQLite memory, and on a Postgres one if `postgres`."""
    with tempfile.TemporaryDirectory() as folder:
        overhead_on(str(Path(folder) / "bench.db"), rows, repeats)
    if postgres:
        from postgres import throwaway_server  # noqa: PLC0415 (needs the postgres extra)

        with throwaway_server() as server:
            overhead_on(server.url(server.create_database()), rows, repeats)


def overhead_on(path: str, rows: int, repeats: int) -> None:
    """The overhead per model call on the memory at `path` (a file or a URL), filled with
    `rows` prompts: exact and kNN lookups, focused rendering and the paper's whole table."""
    store = "postgres" if path.startswith("postgresql://") else "sqlite"
    with closing(open_memory(path)) as memory:
        start = time.perf_counter()
        fill(memory, rows)
        took = time.perf_counter() - start
        print(f"{store}: filled {rows} rows ({rows * 3} actions) in {took:.2f} s")
    prompt = prompt_text(rows // 2)
    cases = (("exact", "focused", repeats), ("exact", "paper", max(repeats // 20, 5)))
    for lookup, render, n in (*cases, ("knn", "focused", repeats)):
        with closing(open_memory(path, lookup=lookup)) as memory:
            middleware = ReflexMiddleware(memory, suite="bench", render=render)
            start = time.perf_counter()
            time_calls(middleware, prompt, 1)  # kNN: embeds the stored prompts once
            first = time.perf_counter() - start
            times = time_calls(middleware, prompt, n)
            message = middleware.injector.system_message([HumanMessage(prompt)], None)
        size = len(message.text)
        median = statistics.median(times) * 1e3
        p95 = sorted(times)[int(0.95 * len(times)) - 1] * 1e3
        print(
            f"{store} lookup={lookup} render={render:8s} per model call: median {median:.3f} ms, "
            f"p95 {p95:.3f} ms over {n} calls (first call {first:.2f} s); "
            f"system text {size:,} chars"
        )


def block_size(sizes: list[int]) -> None:
    """The kNN block's size as the memory grows (hashing embeddings: sizes only)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.db"
        stored = 0
        for rows in sorted(sizes):
            with closing(open_memory(path)) as memory:
                start = time.perf_counter()
                fill(memory, rows, actions=1, first=stored)
                stored = rows
                filled = time.perf_counter() - start
            lookup = KnnLookup(HashingEmbeddings())
            with closing(open_memory(path, lookup=lookup)) as memory:
                start = time.perf_counter()
                block = render_focused(memory, "bench", prompt_text(rows // 3), False)
                first = time.perf_counter() - start
                start = time.perf_counter()
                render_focused(memory, "bench", prompt_text(rows // 5), False)
                again = (time.perf_counter() - start) * 1e3
            reopened = KnnLookup(HashingEmbeddings())  # a new process: loads a saved index
            with closing(open_memory(path, lookup=reopened)) as memory:
                start = time.perf_counter()
                render_focused(memory, "bench", prompt_text(rows // 7), False)
                reopen = time.perf_counter() - start
            print(
                f"kNN block at {rows:,} rows: {len(block):,} chars, "
                f"{len(block.splitlines())} lines (fill {filled:.1f} s, first lookup with "
                f"index build {first:.1f} s, next lookup {again:.2f} ms, first lookup "
                f"after reopening {reopen:.1f} s)"
            )


def fake_run(epochs: int) -> None:
    suite = Suite.load("paper")
    for spec in ("fake:oracle", "fake:first"):
        with tempfile.TemporaryDirectory() as folder:
            memory = open_memory(Path(folder) / "m.db")
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
    parser.add_argument("--big-rows", type=int, nargs="*", default=[10, 1_000_000])
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also on a throwaway PostgreSQL server (the postgres extra), as postgres.py starts",
    )
    args = parser.parse_args()
    overhead(args.rows, args.repeats, args.postgres)
    block_size(args.big_rows)
    fake_run(args.epochs)


if __name__ == "__main__":
    main()
