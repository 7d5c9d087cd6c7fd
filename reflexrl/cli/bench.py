"""`reflexrl bench`: call, ask or decline on a file of items, memory off vs on."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..agent.build import build_agent
from ..envs.item_suite import ItemSuite
from ..errors import BadInputError
from ..loop.bench import BenchResult, bench
from ..memory import check_memory, memory_exists, memory_location
from ..records import KINDS
from . import options as opt
from . import running
from .common import JsonOpt, cli_errors, err, memory_arg, out, print_json, say


@cli_errors
@opt.takes_groups
def bench_cmd(
    items: Annotated[
        Path,
        typer.Argument(
            help="A JSON Lines file of items (reflexrl items import-acebench writes one).",
            show_default=False,
        ),
    ],
    memory: Annotated[
        str,
        typer.Option(
            parser=memory_arg,
            metavar="PATH|URL",
            help="A new memory to train into (kept, to inspect or reuse): a SQLite file, or "
            "a PostgreSQL database URL without a memory in it.",
        ),
    ],
    model: opt.ModelOpt = None,
    base_url: opt.BaseUrlOpt = None,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training items.")] = 3,
    seed: opt.SeedOpt = 0,
    share: Annotated[
        float,
        typer.Option(
            min=0.01,
            max=0.99,
            callback=opt.finite,
            help="Share of each behaviour's items (and each source's) trained on; the rest "
            "are held out.",
        ),
    ] = 0.5,
    view: opt.LookupOptions = opt.LookupOptions(),
    calls: opt.CallOptions = opt.CallOptions(),
    json_out: JsonOpt = False,
) -> None:
    """Call, ask or decline: split the items, train on one part, evaluate both, memory off/on.

    The split is stratified by expected behaviour and source subset, seeded by --seed. Each
    item offers its own tools; an episode is the model's first decision: a tool call, a
    question, or an answer without a tool (declining). Reports, for the held-out and the
    training part, with the memory off and on: F1 per behaviour, macro-F1, accuracy, the
    tool-hallucination rate (a tool called where declining was right), the ask rate, the
    advised rate (items whose memory block advised something: the only ones the memory can
    change), and the accuracy per source. Both evaluations are recorded in the memory; the
    training run's page (reflexrl ui) shows them.

    Example (no key needed; scripted, so it shows the machinery, not learning), after
    `reflexrl items import-acebench ACEBENCH_DIR --out ace.jsonl`:

    reflexrl bench ace.jsonl --model fake:oracle --memory /tmp/bench.db
    """
    if memory_exists(memory):
        msg = f"{memory_location(memory)} exists; bench trains into a new memory"
        raise BadInputError(msg, setting="memory")
    suite = ItemSuite.from_file(items)
    target = opt.RunTarget(suite=suite.source, model=model, base_url=base_url)
    settings = {"epochs": epochs, "seed": seed, "max_steps": 1}
    choice, config = running.run_config(target, view, calls, training=True, **settings)
    _, frozen = running.run_config(target, view, calls, training=False, **settings)
    check_memory(memory)
    running.check_calls(calls)
    trainee = running.load_chat_model(choice, suite, base_url, config, calls)
    greedy = running.load_chat_model(choice, suite, base_url, frozen, calls)
    config = config.with_(temperature=getattr(trainee, "temperature", None))
    with closing(running.open_for_run(memory, config)) as store:
        policy = running.call_policy(calls, config.model)
        agent = build_agent(trainee, suite, store, config, calls=policy)
        frozen_agent = build_agent(greedy, suite, store, frozen, calls=policy)
        say(f"bench: {len(suite.items)} items, training {share:.0%} of them", err)
        result = bench(agent, suite, store, config, frozen_agent=frozen_agent, share=share)
    if json_out:
        print_json(result.to_json())
        return
    out.print(bench_table(result))
    say(f"run {result.train.run_id}: memory written to {memory_location(memory)}")


def bench_table(result: BenchResult) -> Table:
    """Each part, memory off and on: the behaviour metrics."""
    table = Table(title="call / ask / decline: frozen evaluations")
    for column in ("part", "memory", "items", "macro-F1", *(f"F1 {k}" for k in KINDS)):
        table.add_column(column, justify="left" if column in ("part", "memory") else "right")
    for column in ("accuracy", "hallucination", "asks", "advised"):
        table.add_column(column, justify="right")
    for part in result.parts:
        for on in (False, True):
            m = result.metrics[(part, on)]
            f1 = [f"{m.f1[k]:.2f}" if k in m.f1 else "-" for k in KINDS]
            table.add_row(
                part,
                "on" if on else "off",
                str(m.items),
                f"{m.macro_f1:.2f}",
                *f1,
                f"{m.accuracy:.2f}",
                f"{m.hallucination_rate:.2f}",
                f"{m.ask_rate:.2f}",
                f"{m.advised_rate:.2f}",
            )
    return table
