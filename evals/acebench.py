"""Call, ask or decline on ACEBench: memory off vs on, every seed and the worst.

The five ACEBench files (tests/data/acebench: normal single-function and similar-API calls,
incomplete and error-parameter asks, irrelevant declines; 300 items) are imported into the
item format, then for each seed `reflexrl bench` splits them 50/50 (stratified by behaviour
and source, seeded), trains the local model into a fresh kNN memory on one half and
evaluates both halves frozen (greedy), memory off and on. Reported per seed and half:
macro-F1, F1 per behaviour, accuracy, tool-hallucination rate, ask rate, accuracy per
source; and what the memory advised on the held-out items that went wrong.

    python evals/acebench.py --seeds 0 1 2 --jobs 2 --out evals/reports

Runs already in the JSON report are kept (an interrupted measurement goes on).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import mean
from typing import Any

from reflexrl.envs.acebench import import_acebench
from reflexrl.envs.items import write_items
from reflexrl.records import KINDS

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "acebench"


def run_seed(args: argparse.Namespace, items: Path, seed: int) -> dict[str, Any]:
    """One `reflexrl bench` run."""
    env = dict(os.environ)
    if args.jobs > 1:
        env.setdefault("REFLEXRL_LOCAL_THREADS", "1")
    with tempfile.TemporaryDirectory() as folder:
        cmd = [
            sys.executable, "-m", "reflexrl", "bench", str(items), "--model", args.model,
            "--seed", str(seed), "--epochs", str(args.epochs), "--lookup", "knn",
            "--memory", str(Path(folder) / "memory.db"), "--json",
        ]  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    return {"seed": seed, "seconds": round(time.perf_counter() - start, 1), **result}


def markdown(state: dict[str, Any]) -> str:
    """The report: each half, every seed, off vs on; then the held-out mistakes."""
    runs = sorted(state["runs"], key=lambda r: r["seed"])
    lines = [
        f"# Call, ask or decline on ACEBench: {state['model']}, kNN memory, "
        f"{state['epochs']} epochs on a 50/50 split",
        "",
        "300 items (ACEBench English: 150 call, 100 ask, 50 decline), split 50/50 stratified "
        "by behaviour and source, one seed per split and training. Frozen greedy "
        "evaluations, memory off vs on. Produced by `evals/acebench.py`.",
        "",
    ]
    for part in ("heldout", "train"):
        lines += _part(runs, part)
    lines += _mistakes(runs)
    return "\n".join(lines)


def _part(runs: list[dict[str, Any]], part: str) -> list[str]:
    title = "Held-out half (items never seen)" if part == "heldout" else "Training half"
    lines = [
        f"## {title}",
        "",
        "| seed | macro-F1 off | on | gain | F1 call | F1 ask | F1 decline "
        "| hallucination off | on | ask rate off | on |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    gains, halluc = [], []
    for run in runs:
        off, on = run["metrics"][part]["off"], run["metrics"][part]["on"]
        gain = 100 * (on["macro_f1"] - off["macro_f1"])
        gains.append((gain, run["seed"]))
        halluc.append(on["hallucination_rate"] < off["hallucination_rate"])
        f1 = [f"{off['f1'].get(k, 0):.2f} -> {on['f1'].get(k, 0):.2f}" for k in KINDS]
        lines.append(
            f"| {run['seed']} | {off['macro_f1']:.2f} | {on['macro_f1']:.2f} | {gain:+.1f} | "
            + " | ".join(f1)
            + f" | {off['hallucination_rate']:.2f} | {on['hallucination_rate']:.2f} "
            f"| {off['ask_rate']:.2f} | {on['ask_rate']:.2f} |"
        )
    worst = min(gains)
    lines += [
        "",
        f"Macro-F1 gain: mean {mean(g for g, _ in gains):+.1f} points, worst seed "
        f"{worst[1]} ({worst[0]:+.1f}). At least +10 on every seed: "
        f"{'yes' if all(g >= 10 for g, _ in gains) else 'no'}. Hallucination lower with "
        f"memory on every seed: {'yes' if all(halluc) else 'no'}.",
        "",
        "Accuracy per source (mean over seeds), off -> on:",
        "",
    ]
    sources = sorted(runs[0]["metrics"][part]["off"]["per_source"])
    for source in sources:
        off = mean(r["metrics"][part]["off"]["per_source"][source] for r in runs)
        on = mean(r["metrics"][part]["on"]["per_source"][source] for r in runs)
        lines.append(f"- {source}: {off:.2f} -> {on:.2f}")
    lines.append("")
    return lines


def _mistakes(runs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## What the memory advised on held-out items that went wrong (memory on)",
        "",
        "| expected | decided | advised | count (all seeds) |",
        "|---|---|---|---|",
    ]
    counts: Counter[tuple[str, str, str]] = Counter()
    for run in runs:
        for m in run["heldout_mistakes"]:
            decided = (
                m["decided"]
                if m["decided"] in ("ask_user_for_clarification", "decline")
                else "a tool"
            )
            advised = m["advised"]
            if advised not in ("none", "call", "ask_user_for_clarification", "decline"):
                advised = "a tool"
            counts[(m["expected"], decided, advised)] += 1
    for (expected, decided, advised), n in counts.most_common():
        lines.append(f"| {expected} | {decided} | {advised} | {n} |")
    lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local:smollm2")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("evals/reports"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"acebench-{args.model.replace(':', '-')}"
    report = args.out / f"{stem}.json"
    state = json.loads(report.read_text()) if report.is_file() else {}
    if (state.get("model"), state.get("epochs")) != (args.model, args.epochs):
        state = {"model": args.model, "epochs": args.epochs, "runs": []}
    done = {r["seed"] for r in state["runs"]}
    with tempfile.TemporaryDirectory() as folder:
        items = Path(folder) / "acebench.jsonl"
        write_items(import_acebench(DATA), items)

        lock = threading.Lock()

        def one(seed: int) -> None:
            result = run_seed(args, items, seed)
            with lock:
                state["runs"].append(result)
                report.write_text(json.dumps(state, indent=2) + "\n")
                (args.out / f"{stem}.md").write_text(markdown(state))
                print(f"seed {seed} done", flush=True)

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            list(pool.map(one, [s for s in args.seeds if s not in done]))
    print((args.out / f"{stem}.md").read_text())


if __name__ == "__main__":
    main()
