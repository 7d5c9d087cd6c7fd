"""Learning on the embedded local model: train, then frozen before/after evaluations.

For each seed: `reflexrl train --model local:MODEL --epochs 10 --render TRAIN_RENDER` into a
fresh memory, then `reflexrl eval --no-memory` (before) and `reflexrl eval` with the learned
memory shown in each of EVAL_RENDERS (after), same model, same seed. Writes a Markdown report
and the raw JSON next to it.

    python evals/local_paper.py --seeds 0 1 --eval-renders focused paper --out evals/reports
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


def one_run(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """Train into a fresh memory, evaluate before and after; everything as JSON."""
    common = ["--model", args.model, "--seed", str(seed)]
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "memory.db")
        train, train_s = reflexrl(
            "train", *common, "--epochs", str(args.epochs), "--credit", args.credit,
            "--render", args.train_render, "--epsilon", str(args.epsilon), "--memory", db,
        )  # fmt: skip
        before, before_s = reflexrl("eval", *common, "--no-memory")
        after = {
            r: reflexrl("eval", *common, "--memory", db, "--render", r) for r in args.eval_renders
        }
    return {
        "model": args.model,
        "seed": seed,
        "train_render": args.train_render,
        "credit": args.credit,
        "epsilon": args.epsilon,
        "train_seconds": round(train_s, 1),
        "eval_seconds": {
            "none": round(before_s, 1),
            **{r: round(a[1], 1) for r, a in after.items()},
        },
        "train": train,
        "before": before,
        "after": {r: a[0] for r, a in after.items()},
    }


def _row(name: str, m: dict[str, Any]) -> str:
    return f"| {name} | " + " | ".join(f"{m[k]:.2f}" for k in KEYS) + " |"


def markdown(run: dict[str, Any]) -> str:
    """One run as Markdown: per-epoch training, then before/after per query."""
    b = run["before"]
    lines = [
        f"### {run['model']}, seed {run['seed']} (trained with render={run['train_render']}, "
        f"credit={run['credit']}, epsilon={run['epsilon']})",
        "",
        f"Training: {run['train']['episodes']} episodes in {run['train_seconds']} s; "
        f"evaluations (s): {run['eval_seconds']}.",
        "",
        "| epoch | success | mean steps | clarifications | wrong tools | reward |",
        "|---|---|---|---|---|---|",
    ]
    for e in run["train"]["epochs"]:
        lines.append(
            f"| {e['epoch']} | {e['success_rate']:.2f} | {e['mean_steps']:.2f} | "
            f"{e['clarifications']} | {e['wrong_tools']} | {e['reward']:+g} |"
        )
    lines.append("")
    for render, a in run["after"].items():
        gain = (a["success_within_2"] - b["success_within_2"]) * 100
        lines.append(
            f"Frozen evaluation, memory rendered {render} (30 episodes each): success within 2 "
            f"steps {b['success_within_2']:.2f} -> {a['success_within_2']:.2f} ({gain:+.0f} "
            f"points); wrong-tool rate {b['wrong_tool_rate']:.2f} -> {a['wrong_tool_rate']:.2f}."
        )
    lines += ["", "| query | " + " | ".join(KEYS) + " |", "|---|" + "---|" * len(KEYS)]
    for query in sorted(b["per_query"]):
        lines.append(_row(f"{query} no memory", b["per_query"][query]))
        for render, a in run["after"].items():
            lines.append(_row(f"{query} memory ({render})", a["per_query"][query]))
    lines.append(_row("all, no memory", b))
    lines += [_row(f"all, memory ({r})", a) for r, a in run["after"].items()]
    return "\n".join([*lines, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local:smollm2")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--train-render", default="focused")
    parser.add_argument("--eval-renders", nargs="+", default=["focused", "paper"])
    parser.add_argument("--credit", default="origin")
    parser.add_argument("--epsilon", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("evals/reports"))
    args = parser.parse_args()
    runs = []
    for seed in args.seeds:
        runs.append(one_run(args, seed))
        print(markdown(runs[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"{args.model.replace(':', '-')}-{args.credit}-eps{args.epsilon:g}"
    (args.out / f"{stem}.json").write_text(json.dumps(runs, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text("\n".join(markdown(r) for r in runs))


if __name__ == "__main__":
    main()
