"""Benchmark: what learning outside training (`learn=True`) adds per request: logging an
invocation when it ends, and crediting one feedback (p50, p99, in milliseconds), on a SQLite
memory that already holds `--invocations` logged ones.

Run on demand (not part of the tests): `python evals/benchmarks/learning.py
[--invocations 2000]`. Prints numbers only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from contextlib import closing
from pathlib import Path

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from reflexrl import feedback, open_memory
from reflexrl.agent.learning import BLOCK_KEY, Learner

BLOCK = "<reflexrl_memory>\nBest action so far: calculator\n</reflexrl_memory>"


def _messages(i: int) -> list[BaseMessage]:
    call = AIMessage(
        "",
        tool_calls=[{"name": "calculator", "args": {"expression": f"{i}+1"}, "id": f"c{i}"}],
        response_metadata={BLOCK_KEY: BLOCK},
    )
    result = ToolMessage(str(i + 1), tool_call_id=f"c{i}", name="calculator")
    return [HumanMessage(f"Please add {i} and 1 for me, request number {i}"), call, result]


def _quantiles(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=2000)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as folder,
        closing(open_memory(Path(folder) / "prod.db")) as memory,
    ):
        learner = Learner(memory, "bench")
        logging, credits = [], []
        for i in range(args.invocations):
            start = time.perf_counter()
            logged = learner.log(_messages(i), None)
            logging.append(time.perf_counter() - start)
            if i % 2:  # half the invocations get feedback, the rest stay pending
                start = time.perf_counter()
                feedback(memory, logged.run_id, 1.0)
                credits.append(time.perf_counter() - start)
        print(f"log an invocation: {_quantiles(logging)}")
        print(f"credit a feedback: {_quantiles(credits)}")
        print(f"counts: {dict(memory.pending_counts())}")


if __name__ == "__main__":
    main()
