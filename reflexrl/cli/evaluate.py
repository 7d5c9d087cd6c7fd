"""`reflexrl eval`: the frozen evaluation, without and with the memory."""

from __future__ import annotations

from contextlib import ExitStack, closing
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from ..agent.build import build_agent
from ..errors import BadInputError
from ..loop.evaluate import EvalResult, evaluate
from ..loop.metrics import Metrics
from ..loop.plan import plan_size
from ..loop.report import usage_summary
from ..memory import check_memory, memory_location, open_memory
from ..safety.text import for_terminal
from . import options as opt
from . import running
from .common import DEFAULT_MEMORY, JsonOpt, MemoryOpt, cli_errors, out, print_json, say


@cli_errors
@opt.takes_groups
def eval_cmd(
    target: opt.RunTarget = opt.RunTarget(),
    memory: MemoryOpt = DEFAULT_MEMORY,
    no_memory: Annotated[
        bool, typer.Option("--no-memory", help="Show no memory (the 'before' baseline).")
    ] = False,
    seed: opt.SeedOpt = 0,
    max_steps: opt.StepsOpt = 4,
    repeats: Annotated[int, typer.Option(min=1, help="Passes over every prompt.")] = 1,
    render: opt.RenderOpt = None,
    view: opt.LookupOptions = opt.LookupOptions(),
    untried: opt.UntriedOpt = True,
    holdout: opt.HoldoutOpt = 0,
    split: Annotated[
        Literal["all", "train", "heldout"],
        typer.Option(
            help="With --holdout: evaluate the held-out prompts only, the training ones "
            "only, or all."
        ),
    ] = "all",
    compare: Annotated[
        bool,
        typer.Option(
            "--compare", help="Run without and with the memory; report both side by side."
        ),
    ] = False,
    user: opt.UserOpt = "rephrase",
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Log the metrics in MEMORY (changing no reward): `reflexrl ui` and the HTML "
            "report show them on the page of the run trained last.",
        ),
    ] = False,
    calls: opt.CallOptions = opt.CallOptions(),
    json_out: JsonOpt = False,
) -> None:
    """Frozen evaluation: no exploration, greedy, nothing written; memory shown or not.

    `reflexrl eval --compare` runs the same model without memory (before) and with MEMORY
    (after) and prints them side by side; `--no-memory` runs only the first. With
    `--holdout N --split heldout` it measures prompts training never saw (use
    `--lookup knn` to let them find their neighbours' memory).
    """
    if compare and no_memory:
        raise BadInputError("--compare runs without and with the memory: drop --no-memory")
    if record:
        check_memory(memory, must_exist=True)
    choice, config = running.run_config(
        target,
        view,
        calls,
        training=False,
        epochs=repeats,
        seed=seed,
        max_steps=max_steps,
        render=render,
        untried=untried,
        holdout=holdout,
        split=split,
        epsilon=0.0,
        user=user,
    )
    loaded = running.load_suite(config.suite)
    loaded.check_holdout(holdout)
    running.check_calls(calls)
    with ExitStack() as stack:
        store = None  # --no-memory: no file is opened
        if not no_memory:
            store = stack.enter_context(
                closing(running.open_for_run(memory, config, read_only=True))
            )
        chat_model = running.load_chat_model(choice, loaded, target.base_url, config, calls)
        user_model = running.load_user_model(config, loaded)
        policy = running.call_policy(calls, config.model)
        results = {}
        for use_memory in [False, True] if compare else [not no_memory]:
            run = config.with_(use_memory=use_memory)
            agent = build_agent(chat_model, loaded, store, run, calls=policy)
            label = "with memory" if use_memory else "without memory"
            total = plan_size(loaded, repeats, split, holdout)
            with running.progress_bar(total, f"evaluating {label}", policy) as tick:
                results[use_memory] = evaluate(
                    agent,
                    loaded,
                    run,
                    memory=memory_location(memory),
                    on_episode=tick,
                    user_model=user_model,
                )
    _print_eval(results, json_out)
    if not json_out:
        say(f"spent: {usage_summary(policy.totals)}")
    if record:
        metrics = {("after" if on else "before"): _recorded(r) for on, r in results.items()}
        with closing(open_memory(memory, create=False)) as store:
            store.record_evaluation(loaded.name, config.model, split, metrics)


def _recorded(result: EvalResult) -> dict[str, Any]:
    """What `--record` keeps of an evaluation: its metrics and, as `conversation_*`, each
    episode scored as a conversation (the run page shows both)."""
    talk = {f"conversation_{k}": v for k, v in result.conversations().items()}
    return {**result.metrics.to_json(), **talk}


def _print_eval(results: dict[bool, EvalResult], json_out: bool) -> None:
    if len(results) == 1:
        (result,) = results.values()
        if json_out:
            print_json(result.to_json())
        else:
            out.print(_eval_table(result))
    elif json_out:
        print_json({"before": results[False].to_json(), "after": results[True].to_json()})
    else:
        out.print(_compare_table(results[False], results[True]))
    if not json_out:
        for memory_on, result in results.items():
            _say_gave_up(result, memory_on)


def _say_gave_up(result: EvalResult, memory_on: bool) -> None:
    """Where users gave up (a user with an attitude: --user template:...), say how often."""
    talk = result.conversations()
    if talk["gave_up"]:
        say(
            f"memory {'on' if memory_on else 'off'}: the user gave up in "
            f"{talk['gave_up']:.0%} of the conversations ({talk['user_turns']:.1f} user turns "
            "on average)"
        )


COMPARED = (
    ("success", "success_rate"),
    ("within 2", "success_within_2"),
    ("steps to valid", "steps_to_valid"),
    ("clarify", "clarification_rate"),
    ("wrong tool", "wrong_tool_rate"),
)


def _compare_table(before: EvalResult, after: EvalResult) -> Table:
    table = Table(title=for_terminal(f"{before.model}: without memory -> with {after.memory}"))
    table.add_column("query")
    for name, _ in COMPARED:
        table.add_column(name, justify="right")
    rows = [*((q, before.per_query[q], after.per_query[q]) for q in before.per_query)]
    for name, b, a in [*rows, ("all", before.metrics, after.metrics)]:
        cells = [f"{getattr(b, k):.2f} -> {getattr(a, k):.2f}" for _, k in COMPARED]
        table.add_row(for_terminal(name), *cells)
    return table


def _eval_table(result: EvalResult) -> Table:
    table = Table(title=for_terminal(f"{result.model}, memory: {result.memory or 'off'}"))
    columns = ("query", "episodes", "success", "within 2", "steps", "clarify", "wrong tool")
    for column in columns:
        table.add_column(column, justify="right")
    rows: list[tuple[str, Metrics]] = [*result.per_query.items(), ("all", result.metrics)]
    for name, m in rows:
        table.add_row(
            for_terminal(name),
            str(m.episodes),
            f"{m.success_rate:.2f}",
            f"{m.success_within_2:.2f}",
            f"{m.mean_steps:.2f}",
            f"{m.clarification_rate:.2f}",
            f"{m.wrong_tool_rate:.2f}",
        )
    return table
