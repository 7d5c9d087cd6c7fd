"""Does the learned memory hold when the users change? Train with one user (`--train-user`,
default Curuksu's), then evaluate frozen with every simulated user (`--users`), memory off
and on.

For each suite and seed: `reflexrl train` (the CLI's defaults for the model, with the user
`--train-user`; `rephrase`: another prompt of the query) into a fresh memory, then
`reflexrl eval` with each user of `--users` (default: `rephrase` and every template user of
`reflexrl.envs.simulated_user.USERS`), without the memory and with it. A
`template:ATTITUDE` user says the query's other prompts in its attitude's words ("Look, I
just want: ...") and gives up (`###STOP###`) past its patience: fewer questions for an
impatient or frustrated user. Reported per user: success within 2 steps and success, off and
on, every seed, the mean and the worst seed's gain; and the share of conversations in which
the user gave up.

    python evals/users.py --suites paper assistant --seeds 0 1 2 --jobs 2
    python evals/users.py --holdout 2 --lookup knn ...   # prompts training never saw
    python evals/users.py --train-user template:impatient --users rephrase template:impatient
    python evals/users.py --summary    # one table of the reports above, per training user

`--jobs 2` runs two seeds at once with one llama.cpp thread each; the results do not depend
on it. Writes `evals/reports/users-MODEL.{json,md}`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import mean
from typing import Any

from seeds import _env, reflexrl  # the CLI with --json, as the seeds measurement runs it

from reflexrl.envs.simulated_user import LLM_PREFIX, USERS

SIMULATED = [u for u in USERS if not u.startswith(LLM_PREFIX)]
"""The users evaluated by default: Curuksu's and the template users (an `llm:` user needs a
model: name it with `--users llm:SPEC`)."""

KEYS = ("success_within_2", "success_rate")


def one_seed(args: argparse.Namespace, suite: str, seed: int) -> dict[str, Any]:
    """Train with `--train-user`, then every `--users` evaluation, memory off and on."""
    common = ["--suite", suite, "--model", args.model, "--seed", str(seed)]
    common += ["--lookup", args.lookup, "--holdout", str(args.holdout)]
    split = ["--split", "heldout"] if args.holdout else []
    env = _env(args)
    found: dict[str, Any] = {"suite": suite, "seed": seed, "eval": {}}
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "memory.db")
        trained = ["--epochs", str(args.epochs), "--user", args.train_user, "--memory", db]
        _, took = reflexrl("train", *common, *trained, env=env)
        found["train_seconds"] = round(took, 1)
        for user in args.users:
            off, _ = reflexrl("eval", *common, *split, "--user", user, "--no-memory", env=env)
            on, _ = reflexrl("eval", *common, *split, "--user", user, "--memory", db, env=env)
            found["eval"][user] = {"off": off, "on": on}
            print(f"{suite} seed {seed} {user}: {_line(off)} -> {_line(on)}", flush=True)
    return found


def _line(result: dict[str, Any]) -> str:
    gave_up = result["conversations"]["gave_up"]
    return f"within 2 {result['success_within_2']:.2f}, gave up {gave_up:.2f}"


def markdown(runs: list[dict[str, Any]], args: argparse.Namespace) -> str:
    prompts = (
        f"the {args.holdout} held-out prompts of each query" if args.holdout else "all prompts"
    )
    lines = [
        f"# Trained with the user `{args.train_user}`, evaluated with each user ({args.model}, "
        f"{args.epochs} epochs, lookup {args.lookup})",
        "",
        f"Frozen greedy evaluations of {prompts}, memory off / on. Gain: points of "
        "success within 2 steps.",
        "",
    ]
    for suite in sorted({r["suite"] for r in runs}):
        mine = sorted((r for r in runs if r["suite"] == suite), key=lambda r: r["seed"])
        seeds = ", ".join(str(r["seed"]) for r in mine)
        lines += [
            f"## `{suite}` (seeds {seeds})",
            "",
            "| user | within 2 off / on | success off / on | gain per seed | mean gain "
            "| worst | gave up off / on |",
            "|---|---|---|---|---|---|---|",
        ]
        for user in args.users:
            cells = [
                f"{mean(r['eval'][user]['off'][k] for r in mine):.2f} / "
                f"{mean(r['eval'][user]['on'][k] for r in mine):.2f}"
                for k in KEYS
            ]
            gains = _gains(mine, user)
            gave_up = [
                mean(r["eval"][user][side]["conversations"]["gave_up"] for r in mine)
                for side in ("off", "on")
            ]
            per_seed = ", ".join(f"{g:+.0f}" for g in gains)
            lines.append(
                f"| {user} | {cells[0]} | {cells[1]} | {per_seed} | {mean(gains):+.1f} "
                f"| {min(gains):+.0f} | {gave_up[0]:.2f} / {gave_up[1]:.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


def summary(out: Path, model: str) -> str:
    """One table of every `--train-user` report of `model` in `out` (and the default one):
    per training user, the gain with Curuksu's user and with the training user itself."""
    stem = f"users-{model.replace(':', '-')}"
    reports = {"rephrase": out / f"{stem}.json"}
    for path in sorted(out.glob(f"{stem}-trained-*.json")):
        reports[path.stem.removeprefix(f"{stem}-trained-").replace("-", ":", 1)] = path
    lines = [
        f"# Trained with each user, evaluated frozen with Curuksu's user and with the same user "
        f"({model})",
        "",
        "Points of success within 2 steps, memory on minus off: mean over seeds (worst seed); "
        "and the share of conversations whose user gave up with the memory on.",
        "",
        "| trained with | suite | seeds | with `rephrase` | with the same user | gave up (on) |",
        "|---|---|---|---|---|---|",
    ]
    for trained, path in reports.items():
        runs = json.loads(path.read_text())
        for suite in sorted({r["suite"] for r in runs}):
            mine = [r for r in runs if r["suite"] == suite]
            cells = [_gain(mine, user) for user in ("rephrase", trained)]
            gave_up = mean(r["eval"][trained]["on"]["conversations"]["gave_up"] for r in mine)
            seeds = ", ".join(str(r["seed"]) for r in sorted(mine, key=lambda r: r["seed"]))
            lines.append(
                f"| `{trained}` | {suite} | {seeds} | {cells[0]} | {cells[1]} | {gave_up:.2f} |"
            )
    return "\n".join(lines) + "\n"


def _gain(runs: list[dict[str, Any]], user: str) -> str:
    gains = _gains(runs, user)
    return f"{mean(gains):+.1f} ({min(gains):+.0f})"


def _gains(runs: list[dict[str, Any]], user: str) -> list[float]:
    """Each run's points of success within 2 steps, memory on minus off, with `user`."""
    return [100 * (r["eval"][user]["on"][KEYS[0]] - r["eval"][user]["off"][KEYS[0]]) for r in runs]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suites", nargs="+", default=["paper", "assistant"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--model", default="local:smollm2")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--lookup", choices=["exact", "knn"], default="exact")
    parser.add_argument(
        "--holdout", type=int, default=0, help="train without, and evaluate only, N prompts"
    )
    parser.add_argument("--train-user", default="rephrase", help="the user of training")
    parser.add_argument("--users", nargs="+", default=SIMULATED, help="the users evaluated")
    parser.add_argument("--out", type=Path, default=Path("evals/reports"))
    parser.add_argument(
        "--summary", action="store_true", help="only tabulate the reports in --out, per user"
    )
    args = parser.parse_args()
    if args.summary:
        name = f"users-{args.model.replace(':', '-')}-by-training-user.md"
        (args.out / name).write_text(summary(args.out, args.model))
        print(f"wrote {args.out / name}")
        return
    tasks = [(suite, seed) for suite in args.suites for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(lambda t: one_seed(args, *t), tasks))
    name = f"users-{args.model.replace(':', '-')}"
    if args.holdout:
        name += f"-holdout{args.holdout}"
    if args.train_user != "rephrase":
        name += "-trained-" + args.train_user.replace(":", "-")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(runs, indent=1) + "\n")
    (args.out / f"{name}.md").write_text(markdown(runs, args))
    print(f"wrote {args.out / name}.md")


if __name__ == "__main__":
    main()
