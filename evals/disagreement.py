"""Which advice serves prompts never seen: the neighbours' disagreement rule against the
alternatives, on memories `evals/generalization.py --memories DIR` trained.

Each variant re-runs only the frozen held-out kNN evaluation (`evals/heldout.py`) on the
same memory: training used the exact lookup, which the rule never changes. Variants: the
share of the similarity-weighted votes the leading tool needs (`--agreements`; 0 never asks:
the leading tool always), the neighbours per prompt (`--ks`) and the least similarity of a
neighbour (`--thresholds`), each around the defaults.

    python evals/disagreement.py --memories /tmp/mem --report evals/reports/g.json \\
        --suites paper assistant --seeds 0 1 --out evals/reports
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import mean
from typing import Any

from generalization import HELDOUT, METRIC, run_json

Variant = tuple[float, int, float]  # agreement, k, threshold


def variants(args: argparse.Namespace) -> list[Variant]:
    """Every agreement at the default k and threshold, then each k and threshold alone."""
    default_k, default_t = 5, 0.5
    out = [(a, default_k, default_t) for a in args.agreements]
    out += [(args.agreements[-1], k, default_t) for k in args.ks if k != default_k]
    out += [(args.agreements[-1], default_k, t) for t in args.thresholds if t != default_t]
    return out


def one(args: argparse.Namespace, suite: str, seed: int, variant: Variant) -> dict[str, Any]:
    agreement, k, threshold = variant
    db = args.memories / f"{suite}-seed{seed}.db"
    cmd = [sys.executable, str(HELDOUT), "--suite", suite, "--memory", str(db)]
    cmd += ["--seed", str(seed), "--k", str(k), "--threshold", str(threshold)]
    env = {**os.environ, "REFLEXRL_LOCAL_THREADS": "1"}
    found, _ = run_json([*cmd, "--agreement", str(agreement)], env)
    return found


def summary(off: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
    """Held-out success within 2, the queries worse than without memory, how often it asked."""
    per_query = found["eval"]["per_query"]
    worse = [q for q, m in off["per_query"].items() if per_query[q][METRIC] < m[METRIC]]
    asked = [p for p in found["prompts"] if p["actions"][:1] == ["ask_user_for_clarification"]]
    return {
        "success": found["eval"][METRIC],
        "off": off[METRIC],
        "worse": worse,
        "asked": len(asked) / max(1, len(found["prompts"])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True, help="generalization.py's JSON")
    parser.add_argument("--suites", nargs="+", default=["paper", "assistant"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--agreements", type=float, nargs="+", default=[0.0, 0.6, 0.9, 0.75])
    parser.add_argument("--ks", type=int, nargs="+", default=[3, 5, 8])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.4, 0.5, 0.6])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("evals/reports"))
    args = parser.parse_args()
    runs = {(r["suite"], r["seed"]): r for rs in json.loads(args.report.read_text()).values()
            for r in rs}  # fmt: skip
    tasks = [(s, seed, v) for s in args.suites for seed in args.seeds for v in variants(args)]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        found = list(pool.map(lambda t: one(args, *t), tasks))
    rows = []
    for (suite, seed, (agreement, k, threshold)), result in zip(tasks, found, strict=True):
        off = runs[(suite, seed)]["evals"]["heldout_off"]
        key = {"suite": suite, "seed": seed, "agreement": agreement, "k": k, "threshold": threshold}
        rows.append({**key, **summary(off, result)})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "disagreement.json").write_text(json.dumps(rows, indent=2) + "\n")
    text = markdown(rows)
    (args.out / "disagreement.md").write_text(text)
    print(text)


def markdown(rows: list[dict[str, Any]]) -> str:
    """One line per variant and suite: held-out success (mean, per seed), worse queries."""
    lines = [
        "Held-out prompts, kNN lookup, success within 2 steps (frozen, greedy); `asked`: "
        "share of held-out prompts whose first action was to ask.",
        "",
        "| suite | agreement | k | threshold | off (mean) | kNN (mean) | by seed | asked | "
        "queries worse than off |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, float, int, float], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["suite"], r["agreement"], r["k"], r["threshold"]), []).append(r)
    for (suite, agreement, k, threshold), same in sorted(groups.items()):
        by_seed = " / ".join(f"{r['success']:.2f}" for r in same)
        worse = "; ".join(f"{', '.join(r['worse'])} (seed {r['seed']})" for r in same if r["worse"])
        lines.append(
            f"| {suite} | {agreement:g} | {k} | {threshold:g} | "
            f"{mean(r['off'] for r in same):.2f} | {mean(r['success'] for r in same):.2f} | "
            f"{by_seed} | {mean(r['asked'] for r in same):.2f} | {worse or 'none'} |"
        )
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    main()
