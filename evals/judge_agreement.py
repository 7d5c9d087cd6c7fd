"""Judge agreement with the answer key, for each local model on each suite.

`reflexrl judge calibrate` for every (suite, model): every (prompt, action) of the suite is
labelled by the judge and compared with the key's label (see `reflexrl.loop.calibrate`).
Writes `judge-agreement.json` and `.md` under `--out`.

    python evals/judge_agreement.py --suites paper assistant \
        --models local:smollm2 local:gemma3-270m
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from reflexrl import Suite, load_judge
from reflexrl.loop.calibrate import FAILED, calibrate_judge
from reflexrl.models.judging import tool_descriptions


def markdown(results: list[dict[str, Any]]) -> str:
    """One table row per (suite, judge), then each confusion matrix."""
    lines = [
        "| suite | judge | decisions | accuracy | Cohen's kappa | agreement per label | "
        "failures | cost | seconds | per judgment |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        per = ", ".join(f"{lab} {a:.2f}" for lab, a in r["agreement"].items() if a is not None)
        cost = "n/a" if r["usage"]["cost"] is None else f"${r['usage']['cost']:.4f}"
        each = r["seconds"] / max(1, r["decisions"])
        lines.append(
            f"| {r['suite']} | {r['judge']} | {r['decisions']} | {r['accuracy']:.2f} | "
            f"{r['kappa']:.2f} | {per} | {r['failures']} | {cost} | {r['seconds']:.0f} | "
            f"{each:.2f} s |"
        )
    for r in results:
        labels = sorted(
            {lab for row in r["confusion"].values() for lab in row} | set(r["confusion"])
        )
        labels = [lab for lab in labels if lab != FAILED] + [FAILED]
        lines += ["", f"{r['judge']} on {r['suite']} (rows: the key; columns: the judge):", ""]
        lines.append("| key \\ judge | " + " | ".join(labels) + " |")
        lines.append("|---|" + "---|" * len(labels))
        for expected, row in sorted(r["confusion"].items()):
            lines.append(f"| {expected} | " + " | ".join(str(row.get(x, 0)) for x in labels) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", nargs="+", default=["paper", "assistant"])
    parser.add_argument("--models", nargs="+", default=["local:smollm2", "local:gemma3-270m"])
    parser.add_argument("--out", type=Path, default=Path("evals/reports"))
    args = parser.parse_args()
    results = []
    for model in args.models:
        for name in args.suites:
            suite = Suite.load(name)
            judge = load_judge(model, tool_descriptions(suite.tools))
            report = calibrate_judge(judge, suite).to_json()
            results.append(report)
            print(
                f"{model} on {name}: accuracy {report['accuracy']}, kappa {report['kappa']}",
                flush=True,
            )
    (args.out / "judge-agreement.json").write_text(json.dumps(results, indent=1))
    (args.out / "judge-agreement.md").write_text(markdown(results))


if __name__ == "__main__":
    main()
