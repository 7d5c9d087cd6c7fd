"""Online learning through the wrapped agent: no `train`, rewards arrive as feedback.

For each suite, seed and condition, a fresh kNN memory (empty) and a `create_agent` agent
with `ReflexMiddleware(learn=True)` (advice rendering, the local model, greedy) serve the
suite's prompts as requests: every prompt once per pass, in a random order, for `--passes`
passes. A clarification pauses the graph (LangGraph `interrupt`); the simulated user of
Curuksu's paper answers with another prompt of the same query. When the invocation ends,
the feedback for its run id is sent the way a web handler would (`reflexrl.feedback`):

- `off`: memory off (the agent reads no memory and nothing is sent): the baseline;
- `key`: the answer key as feedback: +1 if the invocation's tool call was valid, else -1
  (also when it called no tool: it asked until the turn limit, 5 model calls);
- `noisy`: the same, with 30% of feedback never sent (those invocations stay pending) and
  10% flipped; `missing` and `flipped` (not run by default) each keep one of the two, to
  tell which one costs what;
- `judge`: no feedback; the local judge (`--judge`, the same model by default) labels each
  decision when the invocation ends and its rewards are credited then.

The agent learns with `Learning`'s defaults: a request the memory holds, on which a tool
failed and none earned a reward, is advised to ask, and every decision is credited to the
request that started the invocation (`reflexrl.memory.advice`, `reflexrl.rewards.online`).

The measure is success within 2 steps (the valid tool at the first or second decision),
per pass and per window of requests. The first pass is all prompts never seen before: what
it gains over memory off comes from neighbours learned earlier in the same pass. Each
request records what its memory blocks advised and its neighbours' votes when it came
(`reflexrl.memory.advice.votes`: per tool, the similarity of the stored prompts it served),
and the report lists the first-pass requests served without memory that failed with it.

    python evals/online.py --suites paper assistant --seeds 0 1 2 --jobs 2 --out evals/reports

Runs already in the JSON report are kept (an interrupted measurement goes on). `--jobs 2`
runs two at once with one llama.cpp thread each (scores do not depend on the thread count).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import mean
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import ModelCallLimitMiddleware
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from reflexrl import (
    Learning,
    ReflexMiddleware,
    Suite,
    feedback,
    load_judge,
    load_model,
    open_memory,
)
from reflexrl.agent.learning import decisions_of
from reflexrl.envs.simulated_user import RephrasingUser
from reflexrl.memory.advice import votes
from reflexrl.models.judging import tool_descriptions
from reflexrl.prompt.block import advised_actions
from reflexrl.records import CLARIFY
from reflexrl.rewards.answer_key import RewardModel

CONDITIONS = ("off", "key", "noisy", "judge", "missing", "flipped")
DEFAULT_CONDITIONS = CONDITIONS[:4]
MISSING, FLIPPED = 0.3, 0.1
NOISE = {"noisy": (MISSING, FLIPPED), "missing": (MISSING, 0.0), "flipped": (0.0, FLIPPED)}


def run_one(
    suite_name: str, seed: int, condition: str, model_spec: str, passes: int, judge_spec: str
) -> dict[str, Any]:
    """One online run: every request's outcome, in order."""
    suite = Suite.load(suite_name)
    order_rng = random.Random(f"online:{suite_name}:{seed}")  # the same for every condition
    noise = random.Random(f"noise:{suite_name}:{seed}")
    requests: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        memory = None if condition == "off" else open_memory(Path(folder) / "m.db", lookup="knn")
        learn: bool | Learning = memory is not None
        judge = None
        if condition == "judge":
            judge = load_judge(judge_spec, tool_descriptions(suite.tools))
            # Judged before the next request, as measured (a server would judge in the
            # background, and a request could come before the judgment lands).
            learn = Learning(judge=judge, judge_in_background=False, wait_for_feedback=False)
        reflex = ReflexMiddleware(memory, suite=suite.name, render="advice", learn=learn)
        limit = ModelCallLimitMiddleware(thread_limit=5, exit_behavior="end")
        model = load_model(model_spec, suite, seed=seed)
        agent = create_agent(
            model, suite.tools, middleware=[reflex, limit], checkpointer=InMemorySaver()
        )
        for pass_index in range(passes):
            order = list(suite.prompts())
            order_rng.shuffle(order)
            for i, (query, prompt) in enumerate(order):
                thread = f"{pass_index}-{i}"
                config: dict[str, Any] = {
                    "configurable": {"thread_id": thread},
                    "run_id": uuid.uuid4(),
                }
                user = RephrasingUser(
                    suite.prompts_of(query), random.Random(f"user:{seed}:{thread}")
                )
                tally = {} if memory is None else votes(memory.nearest(suite.name, prompt))
                state = serve(agent, prompt, config, user)
                advice = advice_of(memory, state.get("reflexrl_run_id"))
                _, decisions = decisions_of(state["messages"])
                actions = [d.action for d in decisions]
                valid = [suite.reward_model.is_valid(query, a) for a in actions]
                first = next((k for k, v in enumerate(valid) if v), None)
                sent: float | None = None
                if condition != "judge" and memory is not None and actions:
                    right = 1.0 if served(suite.reward_model, query, actions) else -1.0
                    score = noisy(right, noise, *NOISE[condition]) if condition in NOISE else right
                    if score is not None:
                        feedback(memory, state["reflexrl_run_id"], score)
                        sent = score
                requests.append(
                    {
                        "pass": pass_index,
                        "query": query,
                        "prompt": prompt,
                        "actions": actions,
                        "success_within_2": first is not None and first <= 1,
                        "feedback": sent,
                        "advice": advice,
                        "votes": {t: round(w, 3) for t, w in tally.items()},
                    }
                )
        counts = dict(memory.pending_counts()) if memory is not None else {}
        if memory is not None:
            memory.close()
    return {
        "suite": suite_name,
        "seed": seed,
        "condition": condition,
        "model": model_spec,
        "passes": passes,
        "seconds": round(time.perf_counter() - started, 1),
        "pending_counts": counts,
        "judge": None if judge is None else {"name": judge.name, "failures": judge.failures},
        "requests": requests,
    }


def serve(agent: Any, prompt: str, config: dict[str, Any], user: RephrasingUser) -> Any:
    """One request to its end: each clarification is answered by the simulated user."""
    state = agent.invoke({"messages": [HumanMessage(prompt)]}, config)
    current = prompt
    while "__interrupt__" in state:
        current = user.answer("", current)
        state = agent.invoke(Command(resume=current), config)
    return state


def advice_of(memory: Any, run_id: str | None) -> list[list[str] | None]:
    """What the block of each logged decision of an invocation advised (None: nothing)."""
    logged = None if memory is None or run_id is None else memory.pending_episode(run_id)
    if logged is None:
        return []
    found = [advised_actions(d.block) if d.block else None for d in logged.decisions]
    return [None if a is None else sorted(a) for a in found]


def noisy(score: float, rng: random.Random, missing: float, flipped: float) -> float | None:
    """`score`, or, with probability `missing`, nothing, or, with `flipped`, its opposite."""
    draw = rng.random()
    if draw < missing:
        return None
    return -score if draw < missing + flipped else score


@functools.cache
def answer_key(suite: str) -> RewardModel:
    """A bundled suite's answer key, loaded once for every row of a report."""
    return Suite.load(suite).reward_model


def flips(run: dict[str, Any]) -> int:
    """How many of the feedbacks a run sent said the opposite of the answer key."""
    key = answer_key(run["suite"])
    sent = [r for r in run["requests"] if r["feedback"] is not None]
    return sum((r["feedback"] > 0) != served(key, r["query"], r["actions"]) for r in sent)


def served(key: RewardModel, query: str, actions: Sequence[str]) -> bool:
    """Whether an invocation's last tool call (not a question) was valid: the answer key's
    feedback for it is +1, else -1."""
    calls = [a for a in actions if a != CLARIFY]
    return bool(calls) and key.is_valid(query, calls[-1])


def per_pass(run: dict[str, Any]) -> list[float]:
    """Success within 2 steps in each pass."""
    return [
        mean(r["success_within_2"] for r in run["requests"] if r["pass"] == p)
        for p in range(run["passes"])
    ]


def windows(run: dict[str, Any], size: int) -> list[float]:
    """Success within 2 steps per window of `size` requests, in order."""
    done = [r["success_within_2"] for r in run["requests"]]
    return [mean(done[i : i + size]) for i in range(0, len(done), size)]


def markdown(results: dict[str, list[dict[str, Any]]], window: int) -> str:
    """The report: per suite, every seed, each condition's success per pass, gains over off."""
    lines: list[str] = []
    for suite, runs in sorted(results.items()):
        model, passes = runs[0]["model"], runs[0]["passes"]
        seeds = sorted({r["seed"] for r in runs})
        lines += [
            f"### suite `{suite}`, {model}, {passes} passes, kNN memory starting empty",
            "",
            "Success within 2 steps per pass (frozen greedy model; memory learns online from "
            "feedback). Gains are points over memory off in the same pass.",
            "",
            "| seed | condition | "
            + " | ".join(f"pass {p + 1}" for p in range(passes))
            + " | first-pass gain | last-pass gain | credited / pending / flipped |",
            "|---|---|" + "---|" * passes + "---|---|---|",
        ]
        gains: dict[str, list[tuple[float, float]]] = {}
        for seed in seeds:
            lines += _seed_rows([r for r in runs if r["seed"] == seed], gains)
        lines.append("")
        for condition, pairs in gains.items():
            firsts, lasts = [p[0] for p in pairs], [p[1] for p in pairs]
            first = f"first-pass gain mean {mean(firsts):+.1f} (worst {min(firsts):+.1f})"
            last = f"last-pass gain mean {mean(lasts):+.1f} (worst {min(lasts):+.1f})"
            lines.append(f"- `{condition}`: {first}, {last}, over {len(pairs)} seeds.")
        lines.append("")
        lines.append(f"Windows of {window} requests (success within 2), seed by seed:")
        lines.append("")
        for r in sorted(runs, key=lambda r: (r["seed"], CONDITIONS.index(r["condition"]))):
            cells = " ".join(f"{x:.1f}" for x in windows(r, window))
            lines.append(f"- seed {r['seed']} `{r['condition']}`: {cells}")
        lines.append("")
        lines += _first_pass_losses(runs)
    return "\n".join(lines)


def _first_pass_losses(runs: list[dict[str, Any]]) -> list[str]:
    """The first-pass requests served without memory that failed with it: what they did and
    what their blocks advised (runs that recorded it)."""
    off = {(r["seed"], q["prompt"]): q for r in runs if r["condition"] == "off"
           for q in r["requests"] if q["pass"] == 0}  # fmt: skip
    rows = []
    for r in runs:
        for q in (q for q in r["requests"] if q["pass"] == 0 and "advice" in q):
            before = off.get((r["seed"], q["prompt"]))
            if before and before["success_within_2"] and not q["success_within_2"]:
                advice = " / ".join("-" if a is None else ", ".join(a) for a in q["advice"])
                voted = ", ".join(f"{t} {w:.2f}" for t, w in q.get("votes", {}).items())
                rows.append(
                    f"| {r['seed']} | {r['condition']} | {q['query']} | {q['prompt'][:60]} "
                    f"| {', '.join(before['actions'])} | {', '.join(q['actions'])} | {advice} "
                    f"| {voted or '-'} |"
                )
    if not rows:
        return []
    return [
        "First-pass requests served without memory that failed with it:",
        "",
        "| seed | condition | query | prompt | without memory | with memory "
        "| advice, per decision | votes |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def _seed_rows(
    runs: list[dict[str, Any]], gains: dict[str, list[tuple[float, float]]]
) -> list[str]:
    """One seed's table rows; its (first-pass, last-pass) gains are added to `gains`."""
    by = {r["condition"]: r for r in runs}
    if "off" not in by:
        return []
    seed, off = runs[0]["seed"], per_pass(by["off"])
    rows = []
    for condition in (c for c in CONDITIONS if c in by):
        got = per_pass(by[condition])
        cells = " | ".join(f"{x:.2f}" for x in got)
        if condition == "off":
            rows.append(f"| {seed} | off | {cells} | | | |")
            continue
        first, last = 100 * (got[0] - off[0]), 100 * (got[-1] - off[-1])
        gains.setdefault(condition, []).append((first, last))
        counts = by[condition]["pending_counts"]
        flipped = "-" if condition == "judge" else flips(by[condition])  # no feedback sent
        credited = f"{counts.get('credited', 0)} / {counts.get('pending', 0)} / {flipped}"
        rows.append(f"| {seed} | {condition} | {cells} | {first:+.0f} | {last:+.0f} | {credited} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local:smollm2")
    parser.add_argument("--suites", nargs="+", default=["paper", "assistant"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--conditions", nargs="+", choices=CONDITIONS, default=list(DEFAULT_CONDITIONS)
    )
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--judge", default="local:smollm2", help="the judge's model spec")
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=1, help="runs at once")
    parser.add_argument("--out", type=Path, default=Path("evals/reports"))
    parser.add_argument(
        "--score-cache",
        type=Path,
        help="a SQLite file of the local model's scores, shared by every run and variant: the "
        "same numbers, in seconds per run (evals/score_cache.py)",
    )
    parser.add_argument(
        "--one", nargs=3, metavar=("SUITE", "SEED", "CONDITION"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.score_cache:
        from score_cache import install  # noqa: PLC0415  (beside this script)

        try:
            install(args.score_cache)
        except sqlite3.Error as exc:
            parser.error(f"--score-cache {args.score_cache}: {exc}")
    if args.one:
        suite, seed, condition = args.one
        run = run_one(suite, int(seed), condition, args.model, args.passes, args.judge)
        print(json.dumps(run))
        return
    stem = f"online-{args.model.replace(':', '-')}"
    report = args.out / f"{stem}.json"
    results: dict[str, list[dict[str, Any]]] = (
        json.loads(report.read_text()) if report.exists() else {}
    )
    done = {(r["suite"], r["seed"], r["condition"]) for runs in results.values() for r in runs}
    todo = [
        (s, seed, c)
        for s in args.suites
        for seed in args.seeds
        for c in args.conditions
        if (s, seed, c) not in done
    ]
    env = dict(os.environ)
    if args.jobs > 1:
        env.setdefault("REFLEXRL_LOCAL_THREADS", "1")

    def launch(item: tuple[str, int, str]) -> dict[str, Any]:
        suite, seed, condition = item
        cmd = [sys.executable, __file__, "--model", args.model, "--passes", str(args.passes)]
        cmd += ["--judge", args.judge]
        cmd += ["--score-cache", str(args.score_cache)] if args.score_cache else []
        cmd += ["--one", suite, str(seed), condition]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr[-3000:]}")
        return json.loads(done.stdout.splitlines()[-1])

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for run in pool.map(launch, todo):
            results.setdefault(run["suite"], []).append(run)
            report.write_text(json.dumps(results, indent=1))
            name = f"{run['suite']} seed {run['seed']} {run['condition']}"
            print(f"{name}: {per_pass(run)} ({run['seconds']} s)", flush=True)
    (args.out / f"{stem}.md").write_text(markdown(results, args.window))


if __name__ == "__main__":
    main()
