"""What ACEBench's held-out items can learn from their neighbours: a property of the data.

A memory keyed on requests can only help an item whose nearest trained items say something
about it. For each seed's stratified 50/50 split (the one `reflexrl bench` and
evals/acebench.py use), every held-out item is matched with its nearest trained item by the
kNN memory's embeddings (all-MiniLM-L6-v2, cosine), keyed on the question alone, on the
question and the offered tools' names, or on the question and the tools' schemas (name,
required parameters, description), and counted by whether that neighbour is within the
kNN threshold and whether it expected the same behaviour (call, ask or decline). No model is
called.

    python evals/acebench_neighbours.py --seeds 0 1 2 --out evals/reports
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from reflexrl import Suite
from reflexrl.envs.acebench import import_acebench
from reflexrl.envs.item_suite import ItemSuite, stratified_split
from reflexrl.envs.items import Item, ItemTool, write_items
from reflexrl.memory.embeddings import LocalEmbeddings
from reflexrl.memory.knn import DEFAULT_THRESHOLD

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "acebench"
KEYS = {
    "question": lambda item: item.question,
    "question + tool names": lambda item: (
        f"{item.question} Tools: " + ", ".join(t.name for t in item.tools)
    ),
    "question + tool schemas": lambda item: (
        f"{item.question} Tools: " + "; ".join(map(_schema, item.tools))
    ),
}


def _schema(tool: ItemTool) -> str:
    """A tool as its name, required parameters and description."""
    required = ", ".join(tool.parameters.get("required", []))
    return f"{tool.name}({required}): {tool.description}"


def load() -> ItemSuite:
    """ACEBench's five files as an item suite."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ace.jsonl"
        write_items(import_acebench(DATA), path)
        suite = Suite.load(f"items:{path}")
    assert isinstance(suite, ItemSuite)
    return suite


def count(suite: ItemSuite, vectors: dict[str, np.ndarray], seed: int) -> Counter[str]:
    """Held-out items by (neighbour within the threshold?, same behaviour?)."""
    train, held = stratified_split(suite, 0.5, seed)
    trained = list(train.items)
    matrix = np.stack([vectors[i] for i in trained])
    found: Counter[str] = Counter()
    for item_id, item in held.items.items():
        sims = matrix @ vectors[item_id]
        nearest: Item = suite.items[trained[int(np.argmax(sims))]]
        where = "near" if sims.max() >= DEFAULT_THRESHOLD else "far"
        found[f"{where}, {'same' if nearest.expected == item.expected else 'other'}"] += 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=None, help="folder for the report")
    args = parser.parse_args()
    suite = load()
    ids = list(suite.items)
    embeddings = LocalEmbeddings()
    lines = [
        "### ACEBench: what a held-out item's nearest trained item says of it",
        "",
        f"300 items, stratified 50/50 split per seed; nearest trained item by cosine "
        f"(all-MiniLM-L6-v2); near: at least {DEFAULT_THRESHOLD} (the kNN memory's threshold); "
        "same: it expected the same behaviour. `python evals/acebench_neighbours.py`.",
        "",
        "| key | seed | near, same | near, other | far, same | far, other | held out |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, text in KEYS.items():
        rows = embeddings.embed_array([text(suite.items[i]) for i in ids])
        vectors = dict(zip(ids, rows, strict=True))
        for seed in args.seeds:
            c = count(suite, vectors, seed)
            cells = [c["near, same"], c["near, other"], c["far, same"], c["far, other"]]
            lines.append(
                f"| {key} | {seed} | " + " | ".join(map(str, cells)) + f" | {sum(cells)} |"
            )
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out is not None:
        (args.out / "acebench-neighbours.md").write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
