"""The most a neighbour memory can add on ACEBench's held-out items: an upper bound.

With the kNN memory, an item whose stored neighbours are all below the lookup's threshold
gets no advice, and its block is silent: the model decides as it does with the memory off
(`render_advice`). So on a held-out half only the items with a near trained item can
change. This script evaluates each seed's held-out half with the memory off (the local
model, frozen and greedy, as `reflexrl bench` does), then, for each key (as
evals/acebench_neighbours.py) and threshold, scores three changes that keep every other
decision:

- "near": every item with a trained item within the threshold decided right. No memory
  with that key and threshold can do better on that split.
- "near, same": only those whose nearest trained item expected the same behaviour.
- "votes followed": the behaviour the memory's votes (`reflexrl.memory.advice.vote`, the k
  nearest within the threshold) advise, over trained rows that each hold their item's right
  action: a training half learned perfectly, and a model that follows every advice.

    python evals/acebench_bound.py --seeds 0 1 2 --out evals/reports
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from acebench_neighbours import KEYS, load

from reflexrl import RunConfig, build_agent, evaluate, load_model
from reflexrl.envs.item_suite import ItemSuite, stratified_split
from reflexrl.envs.items import Item
from reflexrl.loop.bench import behaviour_scores, predicted
from reflexrl.memory import Neighbour
from reflexrl.memory.advice import vote
from reflexrl.memory.embeddings import LocalEmbeddings
from reflexrl.memory.knn import DEFAULT_K, DEFAULT_THRESHOLD
from reflexrl.records import CLARIFY, DECLINE, ActionStats, Kind, MemoryRow, kind_of

THRESHOLDS = (DEFAULT_THRESHOLD, 0.45, 0.4, 0.35, 0.3)


def macro_f1(pairs: list[tuple[Kind, Kind]]) -> float:
    """Macro-F1 over the behaviours expected, as `reflexrl bench` computes it."""
    f1 = behaviour_scores(pairs)[2]
    return sum(f1.values()) / len(f1)


def similarities(
    suite: ItemSuite, train: ItemSuite, held: ItemSuite, key: Callable[[Item], str]
) -> tuple[list[str], dict[str, np.ndarray]]:
    """The trained items' ids, and per held-out item its cosine to each of them (the kNN
    memory's embeddings of `key`'s text)."""
    embeddings = LocalEmbeddings()
    trained = list(train.items)
    matrix = embeddings.embed_array([key(suite.items[i]) for i in trained])
    ids = list(held.items)
    rows = embeddings.embed_array([key(held.items[i]) for i in ids])
    return trained, {i: matrix @ row for i, row in zip(ids, rows, strict=True)}


def served(item: Item) -> MemoryRow:
    """The row of a trained item on which training rewarded its expected action once."""
    kinds = {"call": item.gold_tools[0] if item.gold_tools else "", "ask": CLARIFY}
    action = kinds.get(item.expected, DECLINE)
    return MemoryRow("ace", item.question, item.id, 1.0, 1, 0, {action: ActionStats(1, 1.0)})


def voted(item: Item, found: list[Neighbour]) -> Kind | None:
    """The behaviour the kNN memory's votes advise `item` (None: no advice)."""
    offered = [t.name for t in item.tools] + [CLARIFY, DECLINE]
    advice = vote(found, offered=offered)
    if advice is None:
        return None
    return "call" if advice.best is None else kind_of(advice.best)


def bounds(suite: ItemSuite, seed: int, model_spec: str) -> list[dict[str, Any]]:
    """One seed: macro-F1 off, and with each oracle, for each key and threshold."""
    train, held = stratified_split(suite, 0.5, seed)
    config = RunConfig(epochs=1, max_steps=1, seed=seed)
    agent = build_agent(load_model(model_spec, held, seed=seed), held, None, config)
    episodes = evaluate(agent, held, config, use_memory=False).episodes
    off = [(held.items[e.query].expected, predicted(e)) for e in episodes]
    decided = {e.query: y for e, (_, y) in zip(episodes, off, strict=True)}
    base = macro_f1(off)

    def oracle(fixed: set[str]) -> float:
        pairs = zip(episodes, off, strict=True)
        return macro_f1([(x, x if e.query in fixed else y) for e, (x, y) in pairs]) - base

    rows = []
    for name, key in KEYS.items():
        trained, sims = similarities(suite, train, held, key)
        for threshold in THRESHOLDS:
            close, same, simulated = set(), set(), dict(decided)
            for item_id, row in sims.items():
                order = [int(j) for j in np.argsort(-row)[:DEFAULT_K] if row[j] >= threshold]
                if not order:
                    continue
                close.add(item_id)
                if suite.items[trained[order[0]]].expected == held.items[item_id].expected:
                    same.add(item_id)
                found = [Neighbour(served(suite.items[trained[j]]), float(row[j])) for j in order]
                simulated[item_id] = voted(held.items[item_id], found) or simulated[item_id]
            followed = [(held.items[e.query].expected, simulated[e.query]) for e in episodes]
            rows.append(
                {
                    "key": name,
                    "threshold": threshold,
                    "seed": seed,
                    "items": len(off),
                    "near": len(close),
                    "near_same": len(same),
                    "macro_f1_off": round(base, 4),
                    "bound_near": round(oracle(close), 4),
                    "bound_near_same": round(oracle(same), 4),
                    "votes_followed": round(macro_f1(followed) - base, 4),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local:smollm2")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=None, help="folder for the report")
    args = parser.parse_args()
    suite = load()
    rows = [row for seed in args.seeds for row in bounds(suite, seed, args.model)]
    lines = [
        "### ACEBench: the most a neighbour memory can add on held-out items",
        "",
        f"{args.model}, frozen greedy, memory off, each seed's stratified 50/50 held-out half. "
        "Near: the nearest trained item at the threshold's cosine or more (the kNN memory's "
        f"is {DEFAULT_THRESHOLD}); only those items can get advice. Bound: the macro-F1 gain, "
        "in points, if those items (or those whose neighbour expected the same behaviour) "
        "were all decided right and no other decision changed. Votes followed: the macro-F1 "
        "gain if every item decided what the memory's votes advise, over a training half "
        "learned perfectly. `python evals/acebench_bound.py`.",
        "",
        "| key | threshold | seed | near | near, same | macro-F1 off | bound, near "
        "| bound, near same | votes followed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['key']} | {r['threshold']} | {r['seed']} | {r['near']} | {r['near_same']} | "
            f"{r['macro_f1_off']:.2f} | +{100 * r['bound_near']:.1f} | "
            f"+{100 * r['bound_near_same']:.1f} | {100 * r['votes_followed']:+.1f} |"
        )
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out is not None:
        (args.out / "acebench-bound.md").write_text(report, encoding="utf-8")
        (args.out / "acebench-bound.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
