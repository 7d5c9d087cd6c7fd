"""Generalization to prompts training never saw: the lookup table against the kNN lookup.

For each suite and seed: `reflexrl train --holdout H` into a fresh memory (training never
visits the last H prompts of each query, nor hears them from the simulated user), then five
frozen evaluations of the same model and seed on that memory:

- held-out prompts: without memory, with the table (`--lookup exact`, which cannot know them),
  with `--lookup knn` (their nearest trained prompts);
- training prompts: without memory, with the table.

The measure is success within 2 steps. The table's gain on training prompts is what the memory
learned; the kNN gain on held-out prompts is how much of it carries to new phrasings.

    python evals/generalization.py --suites paper assistant --seeds 0 1 2 --out evals/reports

`--jobs 2` runs two (suite, seed) pairs at once, each with one llama.cpp thread (on 2 cores,
1.26x the throughput of one run with both: llama.cpp's threads spin while they wait, so two
runs of 2 threads slow each other down many times). The results are the same: llama.cpp's
scores do not depend on its thread count. Runs already in the JSON report (same model,
holdout and epochs) are kept, so an interrupted measurement goes on where it stopped.
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

METRIC = "success_within_2"
EVALS = {
    "heldout_off": ("heldout", None),
    "heldout_exact": ("heldout", "exact"),
    "heldout_knn": ("heldout", "knn"),
    "train_off": ("train", None),
    "train_exact": ("train", "exact"),
}


def run_json(cmd: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """Run a command that prints JSON; return its output and the wall time."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout), time.perf_counter() - start


def reflexrl(*args: str, env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """Run the CLI with --json."""
    return run_json([sys.executable, "-m", "reflexrl", *args, "--json"], env)


HELDOUT = Path(__file__).with_name("heldout.py")
"""The held-out kNN evaluation, prompt by prompt (each prompt's neighbours, advice, outcome)."""


def one_run(
    args: argparse.Namespace, suite: str, seed: int, trained: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train with the holdout (unless `trained`: the record of a training whose memory is
    kept in `--memories`), then the five frozen evaluations."""
    common = ["--suite", suite, "--model", args.model, "--seed", str(seed)]
    held = ["--holdout", str(args.holdout)]
    env = dict(os.environ)
    if args.jobs > 1:
        env.setdefault("REFLEXRL_LOCAL_THREADS", "1")
    with tempfile.TemporaryDirectory() as folder:
        keep = args.memories or Path(folder)
        keep.mkdir(parents=True, exist_ok=True)
        db = str(keep / f"{suite}-seed{seed}.db")
        if trained is None:
            train, train_s = reflexrl(
                "train", *common, *held, "--epochs", str(args.epochs), "--memory", db, env=env
            )
        else:
            train, train_s = trained["train"], trained["seconds"]["train"]
        evals, seconds = {}, {"train": round(train_s, 1)}
        for name, (split, lookup) in EVALS.items():
            if name == "heldout_knn":  # the same evaluation, with each prompt's neighbours
                cmd = [sys.executable, str(HELDOUT), *common, *held, "--memory", db]
                detail, took = run_json(cmd, env)
                evals[name], prompts = detail["eval"], detail["prompts"]
            else:
                memory = ["--no-memory"] if lookup is None else ["--memory", db, "--lookup", lookup]
                evals[name], took = reflexrl(
                    "eval", *common, *held, "--split", split, *memory, env=env
                )
            seconds[name] = round(took, 1)
    return {"suite": suite, "model": args.model, "seed": seed, "holdout": args.holdout,
            "epochs": args.epochs, "seconds": seconds, "train": train, "evals": evals,
            "prompts": prompts}  # fmt: skip


def gains(run: dict[str, Any]) -> dict[str, float]:
    """Points of success within 2 steps gained over memory off."""
    e = {k: v[METRIC] for k, v in run["evals"].items()}
    return {
        "table_on_train": 100 * (e["train_exact"] - e["train_off"]),
        "table_on_heldout": 100 * (e["heldout_exact"] - e["heldout_off"]),
        "knn_on_heldout": 100 * (e["heldout_knn"] - e["heldout_off"]),
    }


def markdown(suite: str, runs: list[dict[str, Any]]) -> str:
    """One suite's table: every seed, the mean and the worst seed."""
    lines = [
        f"### suite `{suite}`, {runs[0]['model']}, holdout {runs[0]['holdout']}, "
        f"{runs[0]['epochs']} epochs",
        "",
        "Success within 2 steps (frozen, greedy). Gains are points over memory off.",
        "",
        "| seed | held-out off | held-out table | held-out kNN | train off | train table | "
        "table gain (train) | table gain (held-out) | kNN gain (held-out) | kNN / table |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        e, g = {k: v[METRIC] for k, v in run["evals"].items()}, gains(run)
        ratio = _ratio(g["knn_on_heldout"], g["table_on_train"])
        lines.append(
            f"| {run['seed']} | {e['heldout_off']:.2f} | {e['heldout_exact']:.2f} | "
            f"{e['heldout_knn']:.2f} | {e['train_off']:.2f} | {e['train_exact']:.2f} | "
            f"{g['table_on_train']:+.0f} | {g['table_on_heldout']:+.0f} | "
            f"{g['knn_on_heldout']:+.0f} | {ratio} |"
        )
    g_all = [gains(r) for r in runs]
    mean_g = {k: mean(g[k] for g in g_all) for k in g_all[0]}
    worst = min(runs, key=lambda r: gains(r)["knn_on_heldout"])
    lines += [
        f"| mean | | | | | | {mean_g['table_on_train']:+.1f} | "
        f"{mean_g['table_on_heldout']:+.1f} | {mean_g['knn_on_heldout']:+.1f} | "
        f"{_ratio(mean_g['knn_on_heldout'], mean_g['table_on_train'])} |",
        "",
        f"Worst seed for kNN on held-out prompts: seed {worst['seed']} "
        f"({gains(worst)['knn_on_heldout']:+.0f} points).",
        "",
        _worse(runs),
        "",
        _per_query(runs),
        _asking(runs),
        _per_prompt(runs),
    ]
    return "\n".join(lines)


def _worse(runs: list[dict[str, Any]]) -> str:
    """The queries whose held-out success is lower with the kNN memory than without, by seed."""
    found = []
    for run in runs:
        off, knn = (run["evals"][k]["per_query"] for k in ("heldout_off", "heldout_knn"))
        found += [
            f"{q} on seed {run['seed']} ({off[q][METRIC]:.2f} -> {knn[q][METRIC]:.2f})"
            for q in sorted(off)
            if knn[q][METRIC] < off[q][METRIC]
        ]
    return "Held-out queries worse with the kNN memory than without: " + (
        "; ".join(found) or "none, on any seed."
    )


def _asking(runs: list[dict[str, Any]]) -> str:
    """How often the agent asked first on held-out prompts, ambiguous (in two queries) or not."""
    parts = []
    for label, ambiguous in (("ambiguous", True), ("clear", False)):
        found = [p for r in runs for p in r.get("prompts", []) if p["ambiguous"] is ambiguous]
        asked = sum(1 for p in found if p["actions"][:1] == ["ask_user_for_clarification"])
        rate = f"{asked / len(found):.2f}" if found else "n/a"
        parts.append(f"{label} {rate} ({asked} of {len(found)})")
    return "With kNN, held-out prompts whose first action was to ask: " + ", ".join(parts) + ".\n"


def _per_prompt(runs: list[dict[str, Any]]) -> str:
    """Each held-out prompt with kNN, over the seeds: what its neighbours said, the advice it
    read, and how it went (a regression traced to its neighbours)."""
    lines = [
        "| held-out prompt (kNN) | query | ambiguous | agreement (mean) | advice (by seed) | "
        "success within 2 |",
        "|---|---|---|---|---|---|",
    ]
    by_prompt: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        for detail in run.get("prompts", []):
            by_prompt.setdefault(detail["prompt"], []).append(detail)
    for prompt, seen in sorted(by_prompt.items(), key=lambda x: (x[1][0]["query"], x[0])):
        agreements = [d["agreement"] for d in seen if d["agreement"] is not None]
        agreement = f"{mean(agreements):.2f}" if agreements else "-"
        told = ", ".join("/".join(d["advice"]) if d["advice"] else "-" for d in seen)
        shown = prompt if len(prompt) <= 60 else prompt[:57] + "..."
        ambiguous = "yes" if seen[0]["ambiguous"] else ""
        wins = sum(d["success_within_2"] for d in seen)
        lines.append(
            f"| {json.dumps(shown)} | {seen[0]['query']} | {ambiguous} | {agreement} | {told} "
            f"| {wins}/{len(seen)} |"
        )
    return "\n".join([*lines, ""])
    return "\n".join([*lines, ""])


def _ratio(part: float, whole: float) -> str:
    return "n/a" if whole <= 0 else f"{part / whole:.0%}"


def _per_query(runs: list[dict[str, Any]]) -> str:
    """Held-out success within 2 per query, mean over seeds: off / table / kNN."""
    queries = sorted(runs[0]["evals"]["heldout_off"]["per_query"])
    lines = ["| query (held-out, mean over seeds) | off | table | kNN |", "|---|---|---|---|"]
    for q in queries:
        cells = [
            mean(r["evals"][k]["per_query"][q][METRIC] for r in runs)
            for k in ("heldout_off", "heldout_exact", "heldout_knn")
        ]
        lines.append(f"| {q} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    return "\n".join([*lines, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local:smollm2")
    parser.add_argument("--suites", nargs="+", default=["paper", "assistant"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--holdout", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("evals/reports"))
    parser.add_argument("--memories", type=Path, help="keep the trained memories here")
    parser.add_argument("--jobs", type=int, default=1, help="(suite, seed) runs at once")
    parser.add_argument(
        "--reevaluate",
        action="store_true",
        help="evaluate again the runs already in the report whose memory is in --memories "
        "(after a change of the advice; the training is kept)",
    )
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs: expected at least 1, got {args.jobs}")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"generalization-{args.model.replace(':', '-')}-holdout{args.holdout}"
    report = args.out / f"{stem}.json"
    done = _earlier_runs(report, args)
    again = {
        key: run
        for key, run in done.items()
        if args.reevaluate
        and args.memories
        and (args.memories / f"{key[0]}-seed{key[1]}.db").is_file()
        and key[0] in args.suites
        and key[1] in args.seeds
    }
    todo = [
        (s, seed)
        for s in args.suites
        for seed in args.seeds
        if (s, seed) not in done or (s, seed) in again
    ]

    lock = threading.Lock()

    def run(task: tuple[str, int]) -> None:
        result = one_run(args, *task, again.get(task))
        with lock:
            done[task] = result
            print(f"{task[0]} seed {task[1]}: {gains(result)}", flush=True)
            _write(done, report, args.out / f"{stem}.md")

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(run, todo))
    for suite, runs in _by_suite(done).items():
        print(markdown(suite, runs), flush=True)


def _write(done: dict[tuple[str, int], Any], report: Path, text_report: Path) -> None:
    by_suite = _by_suite(done)
    report.write_text(json.dumps(by_suite, indent=2) + "\n")
    text_report.write_text("\n".join(markdown(s, runs) for s, runs in by_suite.items()))


def _earlier_runs(report: Path, args: argparse.Namespace) -> dict[tuple[str, int], Any]:
    """The runs of an earlier measurement with the same model, holdout and epochs."""
    if not report.is_file():
        return {}
    same = (args.model, args.holdout, args.epochs)
    return {
        (r["suite"], r["seed"]): r
        for runs in json.loads(report.read_text()).values()
        for r in runs
        if (r["model"], r["holdout"], r["epochs"]) == same
    }


def _by_suite(done: dict[tuple[str, int], Any]) -> dict[str, list[dict[str, Any]]]:
    """Runs grouped by suite, seeds in order."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for key in sorted(done):
        grouped.setdefault(key[0], []).append(done[key])
    return grouped


if __name__ == "__main__":
    main()
