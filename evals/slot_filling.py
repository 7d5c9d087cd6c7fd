"""Curuksu's Table 1 and Fig. 2 (single agent): PPO on the slot-filling environment.

Each trial (one seed) trains stable-baselines3's PPO over the frozen MiniLM state for
`--dialogues` dialogues (`reflexrl.envs.slot_ppo.train_ppo`, the paper's epsilon 10% -> 1%
over the first 60,000 interactions). Reported: mean and standard error over trials of the
success rate and the steps to the intent (in successful dialogues, overall and per intent) in
the first and the last window (5,000 of 30,000 dialogues: a sixth of the run), beside the
paper's numbers; and a Fig. 2-like plot of every dialogue's accumulated reward and of the
success rate per bin of dialogues.

    python evals/slot_filling.py                     # 3 trials x 30,000 dialogues
    python evals/slot_filling.py --dialogues 300 --trials 1 --out /tmp/slot-smoke
    python evals/slot_filling.py --cooperative       # experiment 2: the user is PPO too

With `--cooperative` the user is a second PPO policy choosing which prompt to say, trained
alternately with the agent on the agent's reward (`reflexrl.envs.slot_cooperative`); the
paper's experiment 2: 100% success, 1.3 steps. The report is then `slot-filling-cooperative`.

Writes `slot-filling-ppo.json`, `.md` and `.png` into `--out` (default: evals/reports).
Needs the `knn`, `rl` and `ui` extras (the encoder, PPO, matplotlib).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from statistics import mean, stdev
from typing import Any

import numpy as np

from reflexrl.envs.slot_cooperative import train_cooperative
from reflexrl.envs.slot_filling import INTENTS
from reflexrl.envs.slot_ppo import PPOResult, WindowMetrics, table1, train_ppo

STEM = "slot-filling-ppo"
PAPER_SUCCESS = (0.68, 0.99)
"""Table 1, single agent: success in dialogues 0-5K and 25-30K."""
PAPER_STEPS = {
    "/NAVIGATION": (4.1, 1.0),
    "/TUTOR/PIANO": (4.2, 1.8),
    "/DOCTOR/DENTIST": (4.2, 1.6),
    "/PHARMACY/ADVIL": (4.1, 1.7),
    "/FOOD/PIZZA": (4.3, 1.7),
    "/FOOD/DESSERT": (4.4, 2.3),
}
"""Table 1's steps in successful dialogues, its intents 1-6 read in Appendix A's order."""


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dialogues", type=int, default=30_000)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="the first trial's seed")
    parser.add_argument("--window", type=int, help="default: a sixth of --dialogues")
    parser.add_argument("--bin", type=int, help="dialogues per plotted point (default: 1/60)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    parser.add_argument(
        "--cooperative", action="store_true", help="experiment 2: a PPO user chooses prompts"
    )
    return parser.parse_args()


def summary(results: list[PPOResult], window: int) -> dict[str, Any]:
    """Mean and standard error over trials, per window, of Table 1's numbers."""
    windows = [table1(r, ((0, window), (-window, None))) for r in results]
    out: dict[str, Any] = {}
    for index, name in enumerate(("first", "last")):
        picked = [w[index] for w in windows]
        out[name] = {
            "dialogues": [picked[0].start, picked[0].stop],
            "success": mean_and_se([w.success for w in picked]),
            "steps_to_intent": mean_and_se([w.steps_to_intent for w in picked]),
            "mean_return": mean_and_se([w.mean_return for w in picked]),
            "steps_by_intent": _by_intent(picked),
        }
    return out


def _by_intent(picked: list[WindowMetrics]) -> dict[str, dict[str, float | None]]:
    return {
        i.name: mean_and_se([w.steps_by_intent.get(i.name) for w in picked])
        for i in INTENTS
        if any(i.name in w.steps_by_intent for w in picked)
    }


def mean_and_se(values: list[float | None]) -> dict[str, float | None]:
    """Mean and standard error (None with fewer than 2 trials) of the trials that have one."""
    known = [v for v in values if v is not None]
    if not known:
        return {"mean": None, "se": None}
    se = stdev(known) / len(known) ** 0.5 if len(known) > 1 else None
    return {"mean": mean(known), "se": se}


def curve(result: PPOResult, size: int) -> dict[str, list[float]]:
    """Success rate and mean return per bin of `size` dialogues (the plot's points)."""
    success = np.array(result.success, dtype=float)
    returns = np.array(result.returns, dtype=float)
    starts = list(range(0, len(success), size))
    return {
        "start": [float(s) for s in starts],
        "success": [float(success[s : s + size].mean()) for s in starts],
        "mean_return": [float(returns[s : s + size].mean()) for s in starts],
    }


def markdown(report: dict[str, Any]) -> str:
    s, n = report["summary"], report["dialogues"]
    first, last = s["first"]["dialogues"], s["last"]["dialogues"]
    stem = report["stem"]
    title = (
        "# PPO with a cooperative PPO user (Curuksu, experiment 2; paper: 100% success, 1.3 steps)"
        if report.get("cooperative")
        else "# PPO on the slot-filling environment (Curuksu, Table 1, single agent)"
    )
    lines = [
        title,
        "",
        f"Trials: {report['trials']} (seeds {report['seeds']}) of {n:,} dialogues each; "
        f"mean (standard error over trials). Paper: 3 x 30,000, windows 0-5K and 25-30K.",
        "",
        f"| | {first[0]:,}-{first[1]:,} | {last[0]:,}-{last[1]:,} | paper 0-5K | paper 25-30K |",
        "|---|---|---|---|---|",
        _row("% success", s, "success", PAPER_SUCCESS, percent=True),
        _row("steps to the intent (successful)", s, "steps_to_intent", ("> 4", "<= 2")),
    ]
    for name, paper in PAPER_STEPS.items():
        if name in s["last"]["steps_by_intent"] or name in s["first"]["steps_by_intent"]:
            lines.append(_intent_row(name, s, paper))
    lines.append(_row("mean return", s, "mean_return", None))
    seconds = ", ".join(f"{r['seconds']:.0f} s" for r in report["runs"])
    turns = ", ".join(f"{r['interactions']:,}" for r in report["runs"])
    lines += ["", f"Interactions per trial: {turns} (paper: 130,000 to 150,000).", ""]
    lines += [f"Wall time per trial: {seconds}. Plot: `{stem}.png`.", ""]
    return "\n".join(lines)


def _row(label: str, s: dict[str, Any], key: str, paper: Any, percent: bool = False) -> str:
    cells = [_cell(s[w][key], percent) for w in ("first", "last")]
    theirs = [f"{100 * p:.0f}" if percent else str(p) for p in paper] if paper else ["", ""]
    return f"| {label} | {' | '.join(cells)} | {' | '.join(theirs)} |"


def _intent_row(name: str, s: dict[str, Any], paper: tuple[float, float]) -> str:
    empty = {"mean": None, "se": None}
    cells = [_cell(s[w]["steps_by_intent"].get(name, empty), False) for w in ("first", "last")]
    return f"| steps, {name} | {' | '.join(cells)} | {paper[0]} | {paper[1]} |"


def _cell(stats: dict[str, float | None], percent: bool) -> str:
    scale = 100 if percent else 1
    value, se = stats["mean"], stats["se"]
    if value is None:
        return "-"
    text = f"{scale * value:.0f}" if percent else f"{value:.2f}"
    return text if se is None else f"{text} ({scale * se:.{1 if percent else 2}f})"


def plot(results: list[PPOResult], curves: list[dict[str, list[float]]], path: Path) -> None:
    """Fig. 2's accumulated reward per dialogue (points) with the success rate per bin."""
    import matplotlib  # noqa: PLC0415  (the ui extra; only the plot needs it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for result, points in zip(results, curves, strict=True):
        label = f"seed {result.seed}"
        dots = top.scatter(range(len(result.returns)), result.returns, s=1, alpha=0.1)
        color = dots.get_facecolor()[0][:3]
        top.plot(points["start"], points["mean_return"], color=color, label=label)
        bottom.plot(points["start"], points["success"], color=color, label=label)
    top.set_ylabel("accumulated reward\n(line: mean per bin)")
    bottom.set_ylabel("success rate per bin")
    bottom.set_xlabel("dialogue")
    bottom.set_ylim(0, 1.02)
    bottom.legend(loc="lower right")
    top.set_title("PPO on the slot-filling environment (cf. Curuksu, Fig. 2)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    args = parse()
    if args.dialogues < 1 or args.trials < 1:
        sys.exit("--dialogues and --trials must be at least 1")
    window = args.window or max(1, args.dialogues // 6)
    size = args.bin or max(1, args.dialogues // 60)
    seeds = list(range(args.seed, args.seed + args.trials))
    started, results = time.perf_counter(), []
    stem = "slot-filling-cooperative" if args.cooperative else STEM
    for seed in seeds:
        if args.cooperative:
            results.append(train_cooperative(args.dialogues, seed=seed).run)
        else:
            results.append(train_ppo(args.dialogues, seed=seed))
        print(f"seed {seed}: {results[-1].seconds:.0f} s", file=sys.stderr)
    curves = [curve(r, size) for r in results]
    report = {
        "command": " ".join(["python", *sys.argv]),
        "stem": stem,
        "cooperative": args.cooperative,
        "dialogues": args.dialogues,
        "trials": args.trials,
        "seeds": seeds,
        "window": window,
        "settings": results[0].to_dict()["settings"],
        "seconds": time.perf_counter() - started,
        "summary": summary(results, window),
        "runs": [_run(r, c, window) for r, c in zip(results, curves, strict=True)],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(report))
    plot(results, curves, args.out / f"{stem}.png")
    print(f"wrote {args.out / stem}.{{json,md,png}} in {report['seconds']:.0f} s")


def _run(result: PPOResult, points: dict[str, list[float]], window: int) -> dict[str, Any]:
    first, last = table1(result, ((0, window), (-window, None)))
    return {
        "seed": result.seed,
        "seconds": result.seconds,
        "interactions": result.interactions,
        "first": asdict(first),
        "last": asdict(last),
        "curve": points,
    }


if __name__ == "__main__":
    main()
