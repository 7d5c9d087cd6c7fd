"""Learning over several seeds: train, then frozen evaluations with memory off and on.

For each suite, seed, lookup and advice variant: `reflexrl train` into a fresh memory, then
`reflexrl eval` of the same model and seed with that memory (greedy, nothing written). The
memory-off evaluation does not depend on training, so it runs once per (suite, seed).
Reported per seed, then mean and worst seed, overall and per query: success, success within
2 steps, steps to the valid tool, clarification and wrong-tool rates, and how often the agent
took the action its memory block advised (advice following).

    python evals/seeds.py --suites paper assistant --seeds 0 1 2 3 4 \\
        --lookups exact knn --variants default best before --out evals/reports

Variants (each trains and evaluates with the same flags):
- `default`: the CLI's defaults (for local models the `advice` rendering, untried tools named
  and advised while no tool earned a reward);
- `best`: `--no-untried`, the advice of the best record alone (asking counting 0);
- `before`: `--render focused --no-untried`, the whole record and the best-record advice;
- `noisy`, `judge`: the defaults, trained with `--reward feedback-noise:0.3,0.1` (30% of the
  rewards lost, 10% flipped) or `--reward judge:local:gemma3-270m` (a judge's labels instead
  of the key's); the evaluation still scores with the key.
`--jobs 2` runs two trainings at once with one llama.cpp thread each; the results do not
depend on it. Runs already in the JSON report (same model and epochs) are kept, so an
interrupted measurement goes on where it stopped.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import mean
from typing import Any

MAIN = "success_within_2"
COLUMNS = {
    "success_within_2": "within 2",
    "success_rate": "success",
    "steps_to_valid": "steps to valid",
    "clarification_rate": "clarify",
    "wrong_tool_rate": "wrong tool",
    "advice_following_rate": "follows advice",
}
VARIANTS: dict[str, list[str]] = {
    "default": [],
    "best": ["--no-untried"],
    "before": ["--render", "focused", "--no-untried"],
}
REWARDS: dict[str, list[str]] = {
    "noisy": ["--reward", "feedback-noise:0.3,0.1"],
    "judge": ["--reward", "judge:local:gemma3-270m"],
}
"""Variants that train with another reward (`train` only; the evaluation scores with the key)."""
GOAL_EVERY, GOAL_MEAN = 25.0, 35.0


def reflexrl(*args: str, env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """Run the CLI with --json; return its output and the wall time."""
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "reflexrl", *args, "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout), time.perf_counter() - start


def _env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    if args.jobs > 1:
        env.setdefault("REFLEXRL_LOCAL_THREADS", "1")
    return env


def memory_off(args: argparse.Namespace, suite: str, seed: int) -> dict[str, Any]:
    """The frozen evaluation without memory."""
    common = ["--suite", suite, "--model", args.model, "--seed", str(seed)]
    result, took = reflexrl("eval", *common, "--no-memory", env=_env(args))
    return {"suite": suite, "seed": seed, "seconds": round(took, 1), "eval": result}


def memory_on(
    args: argparse.Namespace, suite: str, seed: int, lookup: str, variant: str
) -> dict[str, Any]:
    """Train into a fresh memory, then the frozen evaluation with it."""
    common = ["--suite", suite, "--model", args.model, "--seed", str(seed), "--lookup", lookup]
    env = _env(args)
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "memory.db")
        train, train_s = reflexrl(
            "train", *common, *VARIANTS.get(variant, []), *REWARDS.get(variant, []),
            "--epochs", str(args.epochs),
            "--memory", db, env=env,
        )  # fmt: skip
        flags = VARIANTS.get(variant, [])
        result, eval_s = reflexrl("eval", *common, *flags, "--memory", db, env=env)
    return {
        "suite": suite, "seed": seed, "lookup": lookup, "variant": variant,
        "seconds": {"train": round(train_s, 1), "eval": round(eval_s, 1)},
        "train_last_epoch": train["epochs"][-1] if train.get("epochs") else None,
        "eval": result,
    }  # fmt: skip


def _metric(result: dict[str, Any], key: str, query: str | None = None) -> float:
    metrics = result if query is None else result["per_query"][query]
    return float(metrics[key])


def markdown(off: dict[tuple[str, int], Any], on: list[dict[str, Any]], suite: str) -> str:
    """One suite: a table per (lookup, variant) with every seed, the mean and the worst."""
    out = []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in on:
        if run["suite"] == suite:
            groups.setdefault((run["lookup"], run["variant"]), []).append(run)
    for (lookup, variant), runs in sorted(groups.items()):
        runs.sort(key=lambda r: r["seed"])
        out += _group(off, suite, lookup, variant, runs)
    return "\n".join(out)


def _group(
    off: dict[tuple[str, int], Any], suite: str, lookup: str, variant: str, runs: list[Any]
) -> list[str]:
    head = " | ".join(f"{name} off / on" for name in COLUMNS.values())
    lines = [
        f"### `{suite}`, lookup `{lookup}`, advice `{variant}`",
        "",
        f"| seed | {head} | gain within 2 |",
        "|---" * (len(COLUMNS) + 2) + "|",
    ]
    gains = []
    for run in runs:
        before = off[(suite, run["seed"])]["eval"]
        cells = [
            f"{_metric(before, k):.2f} / {_metric(run['eval'], k):.2f}"
            if k != "advice_following_rate"
            else f"- / {_metric(run['eval'], k):.2f}"
            for k in COLUMNS
        ]
        gain = 100 * (_metric(run["eval"], MAIN) - _metric(before, MAIN))
        gains.append((gain, run["seed"]))
        lines.append(f"| {run['seed']} | " + " | ".join(cells) + f" | {gain:+.0f} |")
    worst = min(gains)
    means = [
        f"{mean(_metric(off[(suite, r['seed'])]['eval'], k) for r in runs):.2f} / "
        f"{mean(_metric(r['eval'], k) for r in runs):.2f}"
        for k in COLUMNS
    ]
    lines.append("| mean | " + " | ".join(means) + f" | {mean(g for g, _ in gains):+.1f} |")
    train_s = mean(r["seconds"]["train"] for r in runs)
    eval_s = mean(r["seconds"]["eval"] for r in runs)
    lines += [
        "",
        *_verdict(gains, worst),
        f"Wall time per seed (CLI, mean): training {train_s:.0f} s, evaluation with memory "
        f"{eval_s:.0f} s.",
        "",
        *_per_query(off, suite, runs),
        "",
    ]
    return lines


def _verdict(gains: list[tuple[float, int]], worst: tuple[float, int]) -> list[str]:
    every = all(g >= GOAL_EVERY for g, _ in gains)
    avg = mean(g for g, _ in gains)
    return [
        f"Gain in success within 2 steps: mean {avg:+.1f} points, worst seed {worst[1]} "
        f"({worst[0]:+.0f}). Every seed at least +{GOAL_EVERY:.0f}: "
        f"{'yes' if every else 'no'}; mean at least +{GOAL_MEAN:.0f}: "
        f"{'yes' if avg >= GOAL_MEAN else 'no'}."
    ]


def _per_query(off: dict[tuple[str, int], Any], suite: str, runs: list[Any]) -> list[str]:
    """Per query, mean over seeds off / on: success within 2 and success; the worst seed's
    change in success within 2, the seeds on which memory lowered the query's success (or its
    success within 2), and how often the agent took the advised action."""
    queries = sorted(runs[0]["eval"]["per_query"])
    lines = [
        "| query | within 2 off / on | success off / on | worst change (within 2) "
        "| seeds worse: success | seeds worse: within 2 | follows advice |",
        "|---|---|---|---|---|---|---|",
    ]
    for q in queries:
        pairs = {
            key: [
                (_metric(off[(suite, r["seed"])]["eval"], key, q), _metric(r["eval"], key, q))
                for r in runs
            ]
            for key in (MAIN, "success_rate")
        }
        worse = {
            key: ", ".join(str(r["seed"]) for r, (a, b) in zip(runs, p, strict=True) if b < a)
            or "none"
            for key, p in pairs.items()
        }
        within, success = pairs[MAIN], pairs["success_rate"]
        follows = mean(_metric(r["eval"], "advice_following_rate", q) for r in runs)
        lines.append(
            f"| {q} | {mean(a for a, _ in within):.2f} / {mean(b for _, b in within):.2f} | "
            f"{mean(a for a, _ in success):.2f} / {mean(b for _, b in success):.2f} | "
            f"{100 * min(b - a for a, b in within):+.0f} | {worse['success_rate']} | "
            f"{worse[MAIN]} | {follows:.2f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local:smollm2")
    parser.add_argument("--suites", nargs="+", default=["paper", "assistant"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--lookups", nargs="+", default=["exact", "knn"])
    parser.add_argument("--variants", nargs="+", choices=[*VARIANTS, *REWARDS], default=["default"])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("evals/reports"))
    parser.add_argument("--jobs", type=int, default=1, help="trainings at once")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs: expected at least 1, got {args.jobs}")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"seeds-{args.model.replace(':', '-')}-epochs{args.epochs}"
    report = args.out / f"{stem}.json"
    state = _earlier(report, args)
    lock = threading.Lock()

    def save() -> None:
        report.write_text(json.dumps(state, indent=2) + "\n")
        off = {(r["suite"], r["seed"]): r for r in state["off"]}
        text = [_header(args), *(markdown(off, state["on"], s) for s in sorted(off_suites(state)))]
        (args.out / f"{stem}.md").write_text("\n".join(text))

    def run_off(task: tuple[str, int]) -> None:
        result = memory_off(args, *task)
        with lock:
            state["off"].append(result)
            print(f"{task}: off {_metric(result['eval'], MAIN):.2f}", flush=True)
            save()

    def run_on(task: tuple[str, int, str, str]) -> None:
        result = memory_on(args, *task)
        with lock:
            state["on"].append(result)
            print(f"{task}: on {_metric(result['eval'], MAIN):.2f}", flush=True)
            save()

    have_off = {(r["suite"], r["seed"]) for r in state["off"]}
    have_on = {(r["suite"], r["seed"], r["lookup"], r["variant"]) for r in state["on"]}
    offs = [(s, seed) for s in args.suites for seed in args.seeds if (s, seed) not in have_off]
    ons = [
        (s, seed, lookup, v)
        for s in args.suites
        for v in args.variants
        for lookup in args.lookups
        for seed in args.seeds
        if (s, seed, lookup, v) not in have_on
    ]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(run_off, offs))
        list(pool.map(run_on, ons))
    save()
    print((args.out / f"{stem}.md").read_text())


def off_suites(state: dict[str, Any]) -> set[str]:
    """Suites with at least one run with memory and its memory-off evaluation."""
    offs = {(r["suite"], r["seed"]) for r in state["off"]}
    return {r["suite"] for r in state["on"] if (r["suite"], r["seed"]) in offs}


def _header(args: argparse.Namespace) -> str:
    return (
        f"# Learning over seeds: {args.model}, {args.epochs} epochs, the main job's defaults\n\n"
        "Frozen evaluations (greedy, one pass over every prompt), memory off / on. "
        "Produced by `evals/seeds.py`.\n"
    )


def _earlier(report: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The runs of an earlier measurement with the same model and epochs."""
    if report.is_file():
        state = json.loads(report.read_text())
        if (state.get("model"), state.get("epochs")) == (args.model, args.epochs):
            return dict(state)
    return {"model": args.model, "epochs": args.epochs, "off": [], "on": []}


if __name__ == "__main__":
    main()
