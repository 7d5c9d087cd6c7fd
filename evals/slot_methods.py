"""Curuksu's three methods on one environment: PPO, PPO with a cooperative PPO user, and
verbal RL (the reflexrl agent, a local model reading its memory), same seeds, same measures.

Each trial (one seed) runs:

- verbal RL: `reflexrl.loop.dialogues.play_dialogues` trains the agent for `--dialogues`
  dialogues (the model explores at the training temperature, with epsilon resets), and
  every `--every` dialogues a frozen evaluation (greedy, no credit) plays the same
  `--eval-dialogues` dialogues with the memory on; memory off is evaluated once (the
  model is frozen, so it does not change);
- PPO and the cooperative PPO user (`reflexrl.envs.slot_ppo`, `slot_cooperative`) for
  `--ppo-dialogues` dialogues each.

Measures, per trial: the training curve (success and steps to the intent per bin of `--bin`
dialogues, exploration included) and the dialogues after which the success of the last 200
stays at 95% or more; a frozen evaluation (greedy, nothing learned) of the same
`--eval-dialogues` dialogues every `--every` training dialogues, for verbal RL (memory on,
and off once) and PPO's agent, and the dialogues after which every later frozen evaluation
succeeds in 95% or more. The cooperative user's run has no frozen evaluation (its agent
learned with a user that chooses what to say). Writes `slot-filling-methods.json` and
`.md` into `--out`.

    python evals/slot_methods.py                        # 3 trials, the defaults below
    python evals/slot_methods.py --dialogues 100 --every 50 --trials 1 --ppo-dialogues 500 \\
        --out /tmp/methods-smoke

Needs the `local`, `knn` and `rl` extras.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from statistics import mean
from typing import Any

from slot_filling import mean_and_se  # Table 1's mean and standard error over trials

from reflexrl import RunConfig, load_model, open_memory
from reflexrl.agent.build import build_dialogue_agent
from reflexrl.loop.dialogues import DialogueRun, play_dialogues

STEM = "slot-filling-methods"
TARGET = 0.95
WINDOW = 200
"""Training success is read over the last 200 dialogues (a bin of 50 reaches 95% by luck)."""
FROZEN_SEED = 1_000
"""The frozen evaluations' dialogues are seeded apart from training's."""


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dialogues", type=int, default=600, help="verbal RL's, per trial")
    parser.add_argument("--every", type=int, default=100, help="dialogues between checkpoints")
    parser.add_argument("--eval-dialogues", type=int, default=60)
    parser.add_argument("--ppo-dialogues", type=int, default=5_000, help="each PPO method's")
    parser.add_argument("--bin", type=int, default=50, help="dialogues per curve point")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="the first trial's seed")
    parser.add_argument("--model", default="local:smollm2")
    parser.add_argument("--lookup", default="exact", choices=["exact", "knn"])
    parser.add_argument("--epsilon", type=float, help="default: the model's (local: 0.3)")
    parser.add_argument("--jobs", type=int, default=1, help="trials run at once")
    parser.add_argument("--methods", nargs="+", default=["verbal", "ppo", "cooperative"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    return parser.parse_args()


def verbal(args: argparse.Namespace, seed: int, db: Path) -> dict[str, Any]:
    """One verbal RL trial: training with frozen checkpoints, and memory off once."""
    os.environ.setdefault("REFLEXRL_LOCAL_THREADS", "1")
    settings = {"lookup": args.lookup, "seed": seed, "epsilon": args.epsilon}
    train = RunConfig.for_model(args.model, training=True, **settings)
    frozen = RunConfig.for_model(args.model, training=False, **settings)
    memory = open_memory(db, lookup=args.lookup)
    learner = load_model(args.model, None, seed=seed, temperature=train.temperature)
    reader = load_model(args.model, None, seed=seed)
    checkpoints: list[dict[str, Any]] = []

    def evaluate(use_memory: bool) -> DialogueRun:
        agent = build_dialogue_agent(reader, memory, frozen)
        n = args.eval_dialogues
        return play_dialogues(
            agent,
            memory,
            n,
            seed=FROZEN_SEED + seed,
            frozen=True,
            use_memory=use_memory,
            model=args.model,
            settings=frozen.to_json(),
        )

    def checkpoint(index: int) -> None:
        if (index + 1) % args.every == 0:
            run = evaluate(True)
            found = measures(run.success, run.steps_to_intent, run.steps)
            checkpoints.append({"dialogues": index + 1, **found})
            print(f"seed {seed}: {checkpoints[-1]}", file=sys.stderr, flush=True)

    baseline = evaluate(False)
    off = measures(baseline.success, baseline.steps_to_intent, baseline.steps)
    agent = build_dialogue_agent(learner, memory, train)
    run = play_dialogues(
        agent,
        memory,
        args.dialogues,
        seed=seed,
        model=args.model,
        settings=train.to_json(),
        progress=checkpoint,
    )
    memory.close()
    return {
        "seed": seed,
        "seconds": run.seconds,
        "settings": train.to_json(),
        "memory_off": off,
        "checkpoints": checkpoints,
        "frozen_reached": reached_frozen(checkpoints),
        **training(run, args.bin),
    }


def ppo(args: argparse.Namespace, seed: int, cooperative: bool) -> dict[str, Any]:
    """One PPO trial (with the cooperative user if asked); the agent alone is evaluated
    frozen on verbal RL's dialogues every `--every` dialogues."""
    from reflexrl.envs.slot_cooperative import train_cooperative  # noqa: PLC0415
    from reflexrl.envs.slot_filling import SlotFillingEnv  # noqa: PLC0415
    from reflexrl.envs.slot_ppo import play_greedy, train_ppo  # noqa: PLC0415

    if cooperative:
        result = train_cooperative(args.ppo_dialogues, seed=seed).run
        return {"seed": seed, "seconds": result.seconds, **training(result, args.bin)}
    env, checkpoints = SlotFillingEnv(), []

    def checkpoint(dialogues: int, model: Any) -> None:
        ended = play_greedy(model, env, FROZEN_SEED + seed, args.eval_dialogues)
        found = measures(*([i[k] for i in ended] for k in ("success", "steps_to_intent", "steps")))
        checkpoints.append({"dialogues": dialogues, **found})

    result = train_ppo(args.ppo_dialogues, seed=seed, every=args.every, checkpoint=checkpoint)
    return {
        "seed": seed,
        "seconds": result.seconds,
        "checkpoints": checkpoints,
        "frozen_reached": reached_frozen(checkpoints),
        **training(result, args.bin),
    }


def reached_frozen(checkpoints: list[dict[str, Any]]) -> int | None:
    """The training dialogues after which every later frozen evaluation succeeds in 95%."""
    for i, c in enumerate(checkpoints):
        if all(later["success"] >= TARGET for later in checkpoints[i:]):
            return int(c["dialogues"])
    return None


def measures(
    success: Sequence[bool], to_intent: Sequence[int | None], steps: Sequence[int]
) -> dict[str, Any]:
    """Success, steps to the intent (successful dialogues) and length of some dialogues."""
    return {**outcome(success, to_intent, range(len(success))), "length": mean(steps)}


def outcome(
    success: Sequence[bool], to_intent: Sequence[int | None], picked: range
) -> dict[str, Any]:
    """The success rate of the `picked` dialogues, and their steps to the intent (successful
    dialogues; None: none succeeded)."""
    won = [to_intent[i] or 0 for i in picked if success[i]]
    return {
        "success": len(won) / len(picked),
        "steps_to_intent": mean(won) if won else None,
    }


def training(run: Any, size: int) -> dict[str, Any]:
    """The training curve per bin of `size` dialogues, and the first dialogue after which
    the success of the last `WINDOW` dialogues stays at 95% or more to the end."""
    success, to_intent = run.success, run.steps_to_intent
    n = len(success)
    bins = [
        {"start": start, **outcome(success, to_intent, range(start, min(start + size, n)))}
        for start in range(0, n, size)
    ]
    rates = [sum(success[end - WINDOW : end]) / WINDOW for end in range(WINDOW, n + 1)]
    late = [i for i, r in enumerate(rates) if r < TARGET]
    stays = (late[-1] + 1 if late else 0) if rates else None
    reached = None if stays is None or stays >= len(rates) else stays + WINDOW
    last = outcome(success, to_intent, range(max(0, n - WINDOW), n))
    return {
        "dialogues": n,
        "curve": bins,
        "reached": reached,
        "first_success": mean(success[:WINDOW]),
        "last_success": last["success"],
        "last_steps_to_intent": last["steps_to_intent"],
    }


def stats(values: list[float | None]) -> str:
    """`mean (s.e. x)` over the trials that have a value, and how many never did."""
    found = mean_and_se(values)
    if found["mean"] is None:
        return "-"
    missing = sum(v is None for v in values)
    text = f"{found['mean']:.2f}"
    if found["se"] is not None:
        text += f" (s.e. {found['se']:.2f})"
    return text + (f", {missing} never" if missing else "")


SHOWN = (100, 200, 300, 500, 1000)
"""The frozen checkpoints shown in the report (and the last one)."""


def markdown(report: dict[str, Any]) -> str:
    runs, args = report["runs"], report["args"]
    lines = [
        "# Three methods on the slot-filling environment (Curuksu, experiments 1-3)",
        "",
        f"Seeds {report['seeds']}, the same environment and users. Command: `{report['command']}`.",
        "",
        f"**Training** (exploration included; mean over trials, standard error): success over "
        f"the first and the last {WINDOW} dialogues, and the dialogues after which the success "
        f"of the last {WINDOW} stays at 95% or more to the end of the run.",
        "",
        f"| method | dialogues run | success, first {WINDOW} | success, last {WINDOW} "
        f"| steps to the intent, last {WINDOW} | dialogues to 95% |",
        "|---|---|---|---|---|---|",
    ]
    for method, trials in runs.items():
        first = [t["first_success"] for t in trials]
        last = [t["last_success"] for t in trials]
        steps = [t["last_steps_to_intent"] for t in trials]
        reached = [t["reached"] for t in trials]
        lines.append(
            f"| {method} | {trials[0]['dialogues']:,} | {stats(first)} | {stats(last)} "
            f"| {stats(steps)} | {stats(reached)} |"
        )
    lines += frozen_lines(runs, args)
    return "\n".join(lines) + "\n"


def frozen_lines(runs: dict[str, list[dict[str, Any]]], args: dict[str, Any]) -> list[str]:
    n = args["eval_dialogues"]
    lines = [
        "",
        f"**Frozen** (greedy, nothing learned during it): the same {n} dialogues per seed for "
        f"both methods, after every {args['every']} training dialogues; verbal RL is "
        f"`{args['model']}` with the `{args['lookup']}` lookup, memory off and on. "
        "Last column: the training dialogues after which every later frozen evaluation "
        "succeeds in 95% or more.",
        "",
        "| method | seed | memory off | "
        + " | ".join(f"after {d:,}" for d in SHOWN)
        + " | last | steps to the intent, last | dialogues to 95% |",
        "|---|---|---|" + "---|" * len(SHOWN) + "---|---|---|",
    ]
    for method, trials in runs.items():
        for t in trials:
            if "checkpoints" not in t:
                continue
            at = {c["dialogues"]: c for c in t["checkpoints"]}
            cells = [f"{at[d]['success']:.2f}" if d in at else "" for d in SHOWN]
            last = t["checkpoints"][-1]
            off = f"{t['memory_off']['success']:.2f}" if "memory_off" in t else ""
            steps = "-" if last["steps_to_intent"] is None else f"{last['steps_to_intent']:.2f}"
            lines.append(
                f"| {method} | {t['seed']} | {off} | {' | '.join(cells)} "
                f"| {last['success']:.2f} after {last['dialogues']:,} | {steps} "
                f"| {t['frozen_reached'] or 'not reached'} |"
            )
    for method, trials in runs.items():
        reached = [t.get("frozen_reached") for t in trials if "checkpoints" in t]
        if reached:
            known = [r for r in reached if r is not None]
            worst = "never" if None in reached else f"{max(known):,}"
            mean_text = f"{mean(known):,.0f}" if known else "-"
            lines.append(
                f"\n{method}: frozen 95% after {mean_text} training dialogues on average "
                f"(worst seed: {worst})."
            )
    return lines


def main() -> None:
    args = parse()
    seeds = list(range(args.seed, args.seed + args.trials))
    started = time.perf_counter()
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(args.jobs) as pool:
        jobs = {}
        for method in args.methods:
            for seed in seeds:
                if method == "verbal":
                    job = pool.submit(verbal, args, seed, Path(tmp) / f"verbal-{seed}.db")
                else:
                    job = pool.submit(ppo, args, seed, method == "cooperative")
                jobs[(method, seed)] = job
        for (method, seed), job in jobs.items():
            runs.setdefault(method, []).append(job.result())
            print(f"{method} seed {seed} done", file=sys.stderr, flush=True)
    report = {
        "command": " ".join(["python", *sys.argv]),
        "seeds": seeds,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "seconds": time.perf_counter() - started,
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{STEM}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"{STEM}.md").write_text(markdown(report))
    print(f"wrote {args.out / STEM}.{{json,md}} in {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()
