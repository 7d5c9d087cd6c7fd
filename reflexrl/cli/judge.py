"""`reflexrl judge calibrate`: a judge model's agreement with a suite's answer key."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ..loop.calibrate import FAILED, calibrate_judge
from ..models.judging import load_judge, tool_descriptions
from ..rewards.judge import QUESTION_LABELS, TOOL_LABELS
from .common import JsonOpt, cli_errors, out, print_json, say
from .options import BaseUrlOpt, SuiteOpt
from .running import load_suite

judge_app = typer.Typer(help="Judge models: rewards without an answer key.", no_args_is_help=True)


@judge_app.command("calibrate")
@cli_errors
def judge_calibrate(
    model: Annotated[
        str,
        typer.Option(
            help="The judge: local:smollm2 or local:gemma3-270m (no key), or any model spec "
            "(openai:MODEL, also with --base-url for an OpenAI-compatible server).",
            show_default=False,
        ),
    ],
    suite: SuiteOpt = "paper",
    base_url: BaseUrlOpt = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Judge only the first N decisions.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Judge every (prompt, action) of a suite and compare with its answer key.

    A valid tool should be labelled right_tool, any other wrong_tool; a question
    needed_question on a prompt that stands in two queries, else unneeded_question. Prints
    the confusion matrix, the agreement per label, Cohen's kappa, failures and cost.

    Example: reflexrl judge calibrate --suite paper --model local:smollm2
    """
    loaded = load_suite(suite)
    options = {"base_url": base_url} if base_url else {}
    judge = load_judge(model, tool_descriptions(loaded.tools), **options)
    report = calibrate_judge(judge, loaded, limit=limit)
    if json_out:
        print_json(report.to_json())
        return
    labels = [*TOOL_LABELS, *QUESTION_LABELS]
    table = Table(title=f"{judge.name} on {loaded.name}: key (rows) vs judge (columns)")
    table.add_column("key \\ judge")
    for label in [*labels, FAILED]:
        table.add_column(label, justify="right")
    table.add_column("agreement", justify="right")
    for label in (lab for lab in labels if lab in report.confusion):
        row = report.confusion[label]
        agreed = report.agreement(label)
        cells = [str(row.get(x, 0)) for x in [*labels, FAILED]]
        table.add_row(label, *cells, "-" if agreed is None else f"{agreed:.2f}")
    out.print(table)
    cost = "unknown" if report.usage.cost is None else f"${report.usage.cost:.4f}"
    say(
        f"{report.total} decisions: accuracy {report.accuracy:.2f}, Cohen's kappa "
        f"{report.kappa:.2f}, {report.usage.calls} judge calls, cost {cost}, "
        f"{report.seconds:.1f} s"
    )
