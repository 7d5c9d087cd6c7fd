"""Benchmark: the embedded local model's time per decision, and the main job's wall time.

Run on demand (not part of the tests):

    python evals/benchmarks/local_model.py [--model smollm2] [--decisions 20] [--main-job]

Prints, for the shipped weights and for the compute copy llama.cpp runs (see
`reflexrl.models.local.registry.runtime_path`), with a one-line advice block and with the focused
block, the time of a decision the scorer has not seen before (the tool list and the static
instructions are already cached: every decision starts from them), and how many prompt
tokens and candidate-trie entries it decoded. Then a 10-epoch training of the paper suite in
process (model calls, calls answered from the scorer's memo of prompts already scored, time
per call). `--main-job` also times `reflexrl train && reflexrl eval --compare` (the README's
main job) in a temporary folder. Prints numbers only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from reflexrl import Suite, ask_user_for_clarification, build_agent, load_model, open_memory, train
from reflexrl.agent.build import SYSTEM_PROMPT
from reflexrl.models.local.chat import LocalChatModel
from reflexrl.models.local.registry import model_info, runtime_path, verified_path
from reflexrl.models.local.scoring import PrefixScorer, parallel_context
from reflexrl.prompt.instructions import static_system

BLOCKS = {
    "advice": "Best action so far: {tool} (mean reward +1)",
    "focused": (
        "Best action so far: {tool}\nAggregate reward: +2 over 4 actions (1 clarifications)\n"
        "- ask_user_for_clarification: chosen 1x, mean reward 0\n"
        "- calculator: chosen 1x, mean reward -1\n- {tool}: chosen 2x, mean reward +1\n"
        "Best action so far: {tool}"
    ),
}


@contextmanager
def counting(stats: Counter[str]) -> Iterator[None]:
    """Count the scorer's calls, memo hits, decoded prompt tokens and trie entries."""
    score, after, trie = (
        PrefixScorer.score,
        PrefixScorer._logprobs_after,
        PrefixScorer._decode_trie,
    )

    def counted_score(self: PrefixScorer, prompt: str, continuations: Any) -> Any:
        stats["calls"] += 1
        return score(self, prompt, continuations)

    def counted_after(self: PrefixScorer, prefix: list[int]) -> Any:
        cached = self.llama.input_ids[: self.llama.n_tokens].tolist()
        common = next(
            (i for i, (a, b) in enumerate(zip(cached, prefix, strict=False)) if a != b), None
        )
        common = min(len(cached), len(prefix)) if common is None else common
        stats["decodes"] += 1
        stats["tokens"] += len(prefix) - min(common, len(prefix) - 1)
        return after(self, prefix)

    def counted_trie(self: PrefixScorer, nodes: Any, n_past: int) -> Any:
        stats["trie"] += len(nodes)
        return trie(self, nodes, n_past)

    PrefixScorer.score = counted_score  # type: ignore[method-assign]
    PrefixScorer._logprobs_after = counted_after  # type: ignore[method-assign]
    PrefixScorer._decode_trie = counted_trie  # type: ignore[method-assign]
    try:
        yield
    finally:
        PrefixScorer.score, PrefixScorer._logprobs_after = score, after  # type: ignore[method-assign]
        PrefixScorer._decode_trie = trie  # type: ignore[method-assign]


def decisions(path: Path, name: str, block: str, n: int) -> None:
    """Time `n` decisions on distinct prompts of the paper suite with the model at `path`."""
    from llama_cpp import Llama  # noqa: PLC0415

    suite = Suite.load("paper")
    bound = LocalChatModel(model_name=name).bind_tools([*suite.tools, ask_user_for_clarification])
    llama = Llama(model_path=str(path), n_ctx=4096, verbose=False, seed=0)
    parallel_context(llama)
    scorer = PrefixScorer(llama)
    static = static_system(SYSTEM_PROMPT, "focused")
    names = [f" {t['name']}" for t in bound.bound_tools]
    prompts = [p for _, p in suite.prompts()]
    n = min(n, len(prompts))
    text = BLOCKS[block].format(tool="python_interpreter")
    context = f"<reflexrl_memory>\n{text}\n</reflexrl_memory>"
    scorer.score(bound.prompt(static, "", context), names)  # caches the static prefix
    stats: Counter[str] = Counter()
    with counting(stats):
        start = time.perf_counter()
        for prompt in prompts[:n]:
            scorer.score(bound.prompt(static, prompt, context), names)
        took = (time.perf_counter() - start) / n
    llama.close()
    print(
        f"{path.name:42s} {block:8s} {1000 * took:6.0f} ms per decision "
        f"({stats['tokens'] / n:.0f} prompt tokens + {stats['trie'] / n:.0f} trie entries)",
        flush=True,
    )


def training(name: str) -> None:
    """A 10-epoch training of the paper suite in process, with the CLI's local defaults."""
    suite = Suite.load("paper")
    stats: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as folder, counting(stats):
        memory = open_memory(Path(folder) / "bench.db")
        with closing(memory):
            model = load_model(f"local:{name}", seed=0, temperature=2.0)
            agent = build_agent(model, suite, memory, epsilon=0.3, render="advice")
            start = time.perf_counter()
            train(agent, suite, memory, epochs=10, seed=0, epsilon=0.3, render="advice")
            took = time.perf_counter() - start
    calls = stats["calls"]
    print(
        f"training, 10 epochs (300 episodes): {took:.1f} s, {calls} model calls, "
        f"{calls - stats['decodes']} answered from the memo of scored prompts, "
        f"{1000 * took / calls:.0f} ms per call"
    )


def main_job() -> None:
    """`reflexrl train && reflexrl eval --compare` in a temporary folder, as the README says."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        for args in (["train"], ["eval", "--compare"]):
            cmd = [sys.executable, "-m", "reflexrl", *args, "--memory", f"{folder}/main.db"]
            subprocess.run(cmd, check=True, capture_output=True, cwd=folder)
            print(f"  reflexrl {' '.join(args)}: {time.perf_counter() - start:.1f} s", flush=True)
    print(f"main job: {time.perf_counter() - start:.1f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--decisions", type=int, default=20, help="at most 30 (distinct prompts)")
    parser.add_argument("--main-job", action="store_true")
    args = parser.parse_args()
    info = model_info(args.model)
    for path in dict.fromkeys([verified_path(info), runtime_path(info)]):
        for block in BLOCKS:
            decisions(path, args.model, block, args.decisions)
    training(args.model)
    if args.main_job:
        main_job()


if __name__ == "__main__":
    main()
