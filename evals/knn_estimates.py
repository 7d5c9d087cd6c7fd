"""What the kNN estimate would advise, read off a trained memory (no model is called).

For every prompt of a suite, the best action of the similarity-weighted estimate from its
neighbours among the memory's rows, under several weightings of the similarity; counted as
a valid tool, asking, a wrong tool, or no advice. Held-out prompts are looked up as they are;
training prompts leave themselves out (their own row would be similarity 1.0), so they can
choose a weighting without looking at the held-out prompts.

    python evals/knn_estimates.py --memory M.db --suite paper --holdout 2
"""

from __future__ import annotations

import argparse
import math
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from reflexrl import KnnLookup, Suite, open_memory
from reflexrl.memory import Neighbour, best_estimated, estimate
from reflexrl.records import CLARIFY

WEIGHTINGS: dict[str, Callable[[float], float]] = {
    "similarity": lambda s: s,
    "similarity^4": lambda s: s**4,
    "exp((s-1)/0.05)": lambda s: math.exp((s - 1) / 0.05),
    "nearest only": lambda s: s,  # k=1: see `advice`
}


def advice(found: list[Neighbour], name: str) -> str | None:
    """The best action of the estimate under one weighting."""
    if name == "nearest only":
        found = found[:1]
    weigh = WEIGHTINGS[name]
    return best_estimated(estimate([Neighbour(n.row, weigh(n.similarity)) for n in found]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", type=Path, required=True)
    parser.add_argument("--suite", default="paper")
    parser.add_argument("--holdout", type=int, default=2)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    suite = Suite.load(args.suite)
    lookup = KnnLookup(k=args.k + 1)
    with closing(open_memory(args.memory, lookup=lookup, read_only=True)) as memory:
        for split in ("train", "heldout"):
            counts: dict[str, Counter[str]] = {n: Counter() for n in WEIGHTINGS}
            for query, prompt in suite.prompts(split, args.holdout):
                found = [n for n in memory.nearest(suite.name, prompt) if n.row.prompt != prompt]
                for name in WEIGHTINGS:
                    best = advice(found[: args.k], name)
                    kind = (
                        "none" if best is None else "ask" if best == CLARIFY
                        else "valid" if suite.reward_model.is_valid(query, best) else "wrong"
                    )  # fmt: skip
                    counts[name][kind] += 1
            print(f"{split} prompts ({'leave one out' if split == 'train' else 'as they are'}):")
            for name, c in counts.items():
                print(
                    f"  {name:18s} "
                    + "  ".join(f"{k} {c[k]:2d}" for k in ("valid", "ask", "wrong", "none"))
                )


if __name__ == "__main__":
    main()
