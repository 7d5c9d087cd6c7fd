"""After the agent asks about a prompt it never saw, what the user's answer is advised.

A held-out prompt whose neighbours disagree is advised to ask (`reflexrl.memory.advice`).
The simulated user answers with another prompt of the same query, drawn at random, and the
block of that second turn advises the answer's leading vote (no second question). So whether
an asked prompt is served within 2 steps depends on which answer the user draws: this script
lists, for every held-out prompt advised to ask and every answer the user could give, the
advice of that turn, read from a memory `evals/generalization.py --memories DIR` trained.
No model runs: it measures what the advice allows, not what a model does with it.

Beside the rule (the answer alone, as the agent reads it: "rule"), two ways of reading the
answer with the request it answers, to test whether the conversation would choose better
than its last turn: their similarity-weighted votes summed ("summed"), and one lookup of the
two texts joined ("joined").

    python evals/answer_advice.py --memories /tmp/mem --suites paper --seeds 8 9 10 \\
        --out evals/reports
"""

from __future__ import annotations

import argparse
import json
from contextlib import closing
from pathlib import Path
from typing import Any

from reflexrl import Suite, open_memory
from reflexrl.memory import MemoryReader
from reflexrl.memory.advice import advice_for, votes
from reflexrl.memory.lookup import own_row
from reflexrl.records import CLARIFY

READINGS = ("rule", "summed", "joined")


def tally_advice(tally: dict[str, float]) -> str | None:
    """The leading vote of a tally (None: nobody voted)."""
    return min(tally, key=lambda t: (-tally[t], t)) if tally else None


def answer_readings(
    store: MemoryReader, suite: str, tools: list[str], request: str, answer: str
) -> dict[str, Any]:
    """The action each reading advises for the turn after the user's answer, to an agent
    that can call `tools`. A stored answer is advised by its own record in every reading:
    the readings differ only where the answer is a prompt the memory never saw."""
    found = store.nearest(suite, answer)
    _, advice = advice_for(found, answer, tools, answered=True)
    rule = None if advice is None else min(advice.actions, default=None)
    theirs = votes(found)
    if own_row(found, answer) is not None:
        summed = joined = rule
    else:
        own = votes(store.nearest(suite, request))
        both = {t: own.get(t, 0.0) + theirs.get(t, 0.0) for t in {*own, *theirs}}
        summed = tally_advice(both)
        joined = tally_advice(votes(store.nearest(suite, f"{request}\n{answer}")))
    return {
        "rule": rule,
        "summed": summed,
        "joined": joined,
        "votes": {t: round(w, 2) for t, w in sorted(theirs.items(), key=lambda x: -x[1])},
    }


def one_memory(db: Path, suite: Suite, holdout: int) -> list[dict[str, Any]]:
    """Every held-out prompt advised to ask, with each answer the user could give."""
    found: list[dict[str, Any]] = []
    tools = [*suite.tool_names, CLARIFY]  # what the agent's middleware offers
    with closing(open_memory(db, lookup="knn", read_only=True)) as store:
        for query, prompt in suite.prompts("heldout", holdout):
            _, advice = advice_for(store.nearest(suite.name, prompt), prompt, tools)
            if advice is None or advice.best != CLARIFY:
                continue
            answers = []
            for answer in suite.prompts_of(query):
                if answer == prompt:
                    continue
                read = answer_readings(store, suite.name, tools, prompt, answer)
                outcome = {r: _outcome(suite, query, read[r]) for r in READINGS}
                answers.append({"answer": answer, **read, "outcome": outcome})
            found.append({"query": query, "prompt": prompt, "answers": answers})
    return found


def _outcome(suite: Suite, query: str, action: str | None) -> str:
    """ "right" (a valid action advised), "wrong" (another one), "silent" (no advice: the
    model decides alone)."""
    if action is None:
        return "silent"
    return "right" if suite.reward_model.is_valid(query, action) else "wrong"


def _shares(answers: list[dict[str, Any]], reading: str) -> tuple[float, float]:
    """The shares of `answers` after which `reading` advises a valid action, and another."""
    found = [a["outcome"][reading] for a in answers]
    return found.count("right") / len(found), found.count("wrong") / len(found)


def markdown(suite: str, seeds: dict[int, list[dict[str, Any]]]) -> str:
    """Per seed and held-out prompt: the share of answers each reading serves."""
    lines = [
        f"### suite `{suite}`: held-out prompts advised to ask, and the user's answers",
        "",
        "Per reading, the share of the answers the user could give after which the advice "
        "names a valid action / another action (the rest: no advice, the model decides "
        "alone). The last column lists the answers the rule advises wrongly.",
        "",
        "| seed | query | prompt | rule | summed | joined | answers the rule advises wrongly |",
        "|---|---|---|---|---|---|---|",
    ]
    every = [a for prompts in seeds.values() for p in prompts for a in p["answers"]]
    for seed, prompts in sorted(seeds.items()):
        for p in prompts:
            cells = " | ".join(
                "{:.2f} / {:.2f}".format(*_shares(p["answers"], r)) for r in READINGS
            )
            wrong = "; ".join(
                f'"{a["answer"][:45]}..." -> {a["rule"]} {a["votes"]}'
                for a in p["answers"]
                if a["outcome"]["rule"] == "wrong"
            )
            lines.append(f'| {seed} | {p["query"]} | "{p["prompt"][:50]}..." | {cells} | {wrong} |')
    if every:
        cells = " | ".join("{:.2f} / {:.2f}".format(*_shares(every, r)) for r in READINGS)
        lines.append(f"| all | | {len(every)} answers | {cells} | |")
    return "\n".join([*lines, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=Path, required=True)
    parser.add_argument("--suites", nargs="+", default=["paper"])
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--holdout", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("evals/reports"))
    args = parser.parse_args()
    results: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for name in args.suites:
        suite = Suite.load(name)
        for seed in args.seeds:
            db = args.memories / f"{name}-seed{seed}.db"
            if not db.is_file():
                parser.error(f"--memories: no memory {db}")
            results.setdefault(name, {})[seed] = one_memory(db, suite, args.holdout)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "answer-advice.json").write_text(json.dumps(results, indent=2) + "\n")
    text = "\n".join(markdown(s, seeds) for s, seeds in results.items())
    (args.out / "answer-advice.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
