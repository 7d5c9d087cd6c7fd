"""Learning on the embedded local model: train, then frozen before/after evaluations.

For each seed and rendering: `reflexrl train --model local:MODEL --epochs 10` into a fresh
memory, then `reflexrl eval --no-memory` (before) and `reflexrl eval` with the learned memory
(after), same model, same seed. Writes a Markdown report and the raw JSON next to it.

    python evals/local_paper.py --seeds 0 1 --renders focused paper --out evals/reports
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

KEYS = ("success_rate", "success_within_2", "mean_steps", "clarification_rate", "wrong_tool_rate")


def reflexrl(*args: str) -> tuple[dict[str, Any], float]:
    """Run the CLI with --json; return its output and the wall time."""
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "reflexrl", *args, "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout), time.perf_counter() - start


def one_run(model: str, seed: int, render: str, credit: str, epochs: int) -> dict[str, Any]:
    """Train into a fresh memory, evaluate before and after; everything as JSON."""
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "memory.db")
        common = ["--model", model, "--seed", str(seed), "--render", render]
        train, train_s = reflexrl(
            "train", *common, "--epochs", str(epochs), "--credit", credit, "--memory", db
        )
        before, _ = reflexrl("eval", *common, "--no-memory")
        after, _ = reflexrl("eval", *common, "--memory", db)
    return {
        "model": model,
        "seed": seed,
        "render": render,
        "credit": credit,
        "train_seconds": round(train_s, 1),
        "train": train,
        "before": before,
        "after": after,
    }


def _row(name: str, m: dict[str, Any]) -> str:
    return f"| {name} | " + " | ".join(f"{m[k]:.2f}" for k in KEYS) + " |"


def markdown(run: dict[str, Any]) -> str:
    """One run as Markdown: per-epoch training, then before/after per query."""
    b, a = run["before"], run["after"]
    lines = [
        f"### {run['model']}, render={run['render']}, credit={run['credit']}, seed={run['seed']}",
        "",
        f"Training: {run['train']['episodes']} episodes in {run['train_seconds']} s.",
        "",
        "| epoch | success | mean steps | clarifications | wrong tools | reward |",
        "|---|---|---|---|---|---|",
    ]
    for e in run["train"]["epochs"]:
        lines.append(
            f"| {e['epoch']} | {e['success_rate']:.2f} | {e['mean_steps']:.2f} | "
            f"{e['clarifications']} | {e['wrong_tools']} | {e['reward']:+g} |"
        )
    gain = (a["success_within_2"] - b["success_within_2"]) * 100
    lines += [
        "",
        f"Frozen evaluation (30 episodes each): success within 2 steps {b['success_within_2']:.2f}"
        f" -> {a['success_within_2']:.2f} ({gain:+.0f} points); wrong-tool rate "
        f"{b['wrong_tool_rate']:.2f} -> {a['wrong_tool_rate']:.2f}.",
        "",
        "| query | " + " | ".join(KEYS) + " |",
        "|---|" + "---|" * len(KEYS),
    ]
    for query in sorted(b["per_query"]):
        lines.append(_row(f"{query} before", b["per_query"][query]))
        lines.append(_row(f"{query} after", a["per_query"][query]))
    lines += [_row("all before", b), _row("all after", a), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local:smollm2")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--renders", nargs="+", default=["focused"])
    parser.add_argument("--credit", default="origin")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("evals/reports"))
    args = parser.parse_args()
    runs = []
    for render in args.renders:
        for seed in args.seeds:
            runs.append(one_run(args.model, seed, render, args.credit, args.epochs))
            print(markdown(runs[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"{args.model.replace(':', '-')}-{args.credit}"
    (args.out / f"{stem}.json").write_text(json.dumps(runs, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text("\n".join(markdown(r) for r in runs))


if __name__ == "__main__":
    main()
