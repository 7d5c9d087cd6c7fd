"""One frozen evaluation of the prompts training never saw, prompt by prompt.

What `reflexrl eval --split heldout --lookup knn` measures (the same settings, model and
scoring, through the Python API), and for every held-out prompt what its neighbours said:
how much of their similarity-weighted vote the leading tool has (`agreement`), the tools
they disagree on, the advice the agent read and what it did. A regression can be traced to
its neighbours. Printed as one JSON object; `evals/generalization.py` runs it.

    python evals/heldout.py --suite paper --memory m.db --seed 0 [--agreement 0.75]

`--agreement` sets the advice's `AGREEMENT` for this run only (to compare rules on the same
memory: 0 never asks, 1 asks whenever two tools have votes).
"""

from __future__ import annotations

import argparse
import json
from contextlib import closing
from pathlib import Path
from typing import Any

import reflexrl.memory.advice as advice_rule
from reflexrl import RunConfig, Suite, build_agent, evaluate, load_model, open_memory
from reflexrl.memory import MemoryReader
from reflexrl.prompt import prompt_memory
from reflexrl.prompt.block import advised_actions
from reflexrl.records import Episode


def prompt_detail(
    store: MemoryReader, suite: Suite, episode: Episode, ambiguous: frozenset[str]
) -> dict[str, Any]:
    """What the neighbours of an episode's prompt said, and what the agent then did."""
    seen = prompt_memory(store, suite.name, episode.prompt)
    tally = advice_rule.votes(seen.neighbours)
    total = sum(tally.values())
    first = episode.memory_blocks[0] if episode.memory_blocks else ""
    told = advised_actions(first)
    return {
        "query": episode.query,
        "prompt": episode.prompt,
        "ambiguous": episode.prompt in ambiguous,
        "neighbours": len(seen.neighbours),
        "agreement": round(max(tally.values()) / total, 3) if total else None,
        "votes": {t: round(v, 3) for t, v in sorted(tally.items(), key=lambda x: -x[1])},
        "advice": sorted(told) if told is not None else None,
        "actions": [s.action for s in episode.steps],
        "outcome": episode.outcome,
        "success_within_2": episode.success and (episode.steps_to_valid or 99) <= 2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", required=True)
    parser.add_argument("--memory", type=Path, required=True)
    parser.add_argument("--model", default="local:smollm2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--holdout", type=int, default=2)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--agreement", type=float, help="the advice's AGREEMENT for this run")
    args = parser.parse_args()
    if args.agreement is not None:
        advice_rule.AGREEMENT = args.agreement
    suite = Suite.load(args.suite)
    config = RunConfig.for_model(
        args.model,
        training=False,
        suite=args.suite,
        epochs=1,
        seed=args.seed,
        holdout=args.holdout,
        split="heldout",
        epsilon=0.0,
        lookup="knn",
        k=args.k,
        threshold=args.threshold,
    )
    opened = open_memory(
        args.memory, lookup="knn", k=args.k, threshold=args.threshold, read_only=True
    )
    with closing(opened) as store:
        model = load_model(args.model, suite, seed=args.seed)
        agent = build_agent(model, suite, store, config)
        result = evaluate(agent, suite, config, memory=str(args.memory))
        ambiguous = suite.ambiguous_prompts()
        prompts = [prompt_detail(store, suite, e, ambiguous) for e in result.episodes]
    print(
        json.dumps(
            {"eval": result.to_json(), "prompts": prompts, "agreement": advice_rule.AGREEMENT}
        )
    )


if __name__ == "__main__":
    main()
