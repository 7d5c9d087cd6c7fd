"""The `reflexrl` command line: train, eval, memory show/reset, report, export, suites."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .. import event_loop
from ..agent.build import build_agent
from ..envs.suite import Suite, bundled_suites
from ..errors import BadInputError, RunFailedError
from ..export import (
    ExportFormat,
    ExportOptions,
    check_dataset_dir,
    export_records,
    save_dataset,
    write_jsonl,
)
from ..files.atomic import check_output, write_text_atomically
from ..loop.config import RunConfig
from ..loop.metrics import Metrics
from ..loop.report import (
    build_report,
    cost_text,
    epoch_table,
    print_report,
    table2,
    table2_table,
    usage_summary,
)
from ..loop.runner import (
    EvalResult,
    TrainResult,
    check_resumable,
    evaluate,
    plan_size,
    resume_info,
    total_usage,
    train,
)
from ..memory import MemoryStore, check_memory, memory_files, open_memory, sort_rows
from ..models.budget import Budget
from ..models.call_policy import ModelCallMiddleware
from ..models.local import registry as local_models
from ..models.rate_limit import RateLimiter
from ..models.response_cache import ResponseCache
from ..models.retry import RetryPolicy
from ..models.specs import HOSTED, choose_model, load_model
from ..prompt.render import get_renderer, prompt_memory
from ..records import Episode, Failure
from ..safety.text import for_terminal
from ..usage import price_for
from .common import (
    DEFAULT_MEMORY,
    JsonOpt,
    MemoryOpt,
    cli_errors,
    err,
    error,
    out,
    print_json,
    say,
)
from .history import POINTS, memory_diff, memory_log, memory_rollback

app = typer.Typer(
    help=(
        "Teach a tool-using agent when to ask for clarification instead of guessing a tool, "
        "by verbal reinforcement learning: rewards are kept in a memory table that is "
        "rendered into the agent's system prompt.\n\n"
        "Example: reflexrl train --suite paper --model anthropic:claude-sonnet-4-6 --epochs 10"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
memory_app = typer.Typer(
    help="Inspect, compare, roll back or reset a memory database.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(memory_app, name="memory")
memory_app.command("log")(memory_log)
memory_app.command("diff")(memory_diff)
memory_app.command("rollback")(memory_rollback)


SuiteOpt = Annotated[
    str, typer.Option(help="Bundled suite name (see `reflexrl suites`) or a suite YAML path.")
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        help="anthropic:MODEL, openai:MODEL, litellm:MODEL, or fake:oracle|first|clarify (test "
        "doubles). Default: $REFLEXRL_MODEL, else a hosted model whose API key is set."
    ),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        help="Endpoint for a hosted spec: a proxy, or any OpenAI-compatible server "
        "(e.g. http://127.0.0.1:8000/v1 with --model openai:NAME)."
    ),
]
SeedOpt = Annotated[int, typer.Option(help="Seed of the episode order, resets and user.")]


def _finite(value: float | None) -> float | None:
    """Refuse NaN and infinities (click's ranges let NaN through)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


TemperatureOpt = Annotated[
    float | None,
    typer.Option(
        min=0.0,
        callback=_finite,
        help="Sampling temperature (default: the provider's; local models: 2.0 in train, "
        "0 in eval).",
    ),
]
DEFAULT_EPSILON = 0.05
StepsOpt = Annotated[
    int, typer.Option(min=1, help="Most actions (tools or clarifications) per episode.")
]
RenderOpt = Annotated[
    str | None,
    typer.Option(
        help="Memory rendering: focused (the prompt's row or its neighbours, with the advice), "
        "advice (the advice alone: the default for local models, which copy every tool name "
        "they read) or paper (all rows). Default: advice for local:, focused otherwise."
    ),
]
LookupOpt = Annotated[
    Literal["exact", "knn"],
    typer.Option(
        help="How a prompt finds its memory: its own row (exact, the paper's table) or the "
        "rows of its K most similar stored prompts (knn, by embedding; generalizes to "
        "prompts never seen). The memory file records the embedding model."
    ),
]
KOpt = Annotated[int, typer.Option("--k", min=1, max=100, help="kNN: neighbours per prompt.")]
ThresholdOpt = Annotated[
    float,
    typer.Option(
        min=-1.0,
        max=1.0,
        callback=_finite,
        help="kNN: least cosine similarity of a neighbour; a prompt with none is told to explore.",
    ),
]
NeighbourTextOpt = Annotated[
    bool,
    typer.Option(
        "--neighbour-text/--no-neighbour-text",
        help="kNN: quote the neighbours' prompts in the block (--no-neighbour-text: their "
        "similarity and record only; in production they are other users' words).",
    ),
]
UntriedOpt = Annotated[
    bool,
    typer.Option(
        "--untried/--no-untried",
        help="Name the tools a prompt never tried in its memory block and advise trying one "
        "while no tool has earned a reward (--no-untried: advise the best record, asking "
        "counting 0).",
    ),
]
HoldoutOpt = Annotated[
    int,
    typer.Option(
        min=0,
        help="Hold out the last N prompts of each query (in the suite's order): training "
        "never visits them; eval --split heldout measures them alone.",
    ),
]


@contextmanager
def _progress(
    total: int, label: str, calls: ModelCallMiddleware
) -> Iterator[Callable[[Episode | Failure], None]]:
    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[spent]}"),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(label, total=total, spent="")

        def tick(_record: Episode | Failure) -> None:
            progress.update(task, advance=1, spent=cost_text(calls.totals.cost))

        yield tick


def _model(
    spec: str | None,
    suite: Suite,
    base_url: str | None,
    temperature: float | None,
    seed: int,
    training: bool,
    options: CallOptions,
) -> tuple[str, Any]:
    """Resolve and load the model; a local model also gets the run's seed, and samples in
    training (it explores) but not in a frozen evaluation."""
    choice = choose_model(spec)
    kwargs: dict[str, Any] = {}
    headers = options.header_map()
    if choice.spec.split(":")[0] in HOSTED:
        kwargs.update(headers=headers, timeout=options.timeout)
    elif headers or base_url:
        flag = "--header" if headers else "--base-url"
        raise BadInputError(f"{flag}: only hosted models (anthropic:, openai:, litellm:) use it")
    if choice.spec.startswith("local:"):
        kwargs["seed"] = seed
        if temperature is None and training:
            temperature = local_models.TRAIN_TEMPERATURE
    if temperature is not None and not choice.spec.startswith("fake:"):
        kwargs["temperature"] = temperature
    model = load_model(choice.spec, suite, base_url=base_url, **kwargs)
    say(f"model: {choice.spec} ({choice.reason})", err)
    return choice.spec, model


MAX_CONCURRENCY = 1024
ConcurrencyOpt = Annotated[
    int,
    typer.Option(
        min=1,
        max=MAX_CONCURRENCY,
        help="Episodes run at once (asyncio), 1 to 1024. Each sees the memory as of its own "
        "start; 1 reproduces a run exactly.",
    ),
]
RetriesOpt = Annotated[
    int,
    typer.Option(
        min=0,
        help="Retries of a model call on 429, 5xx, timeouts and connection errors "
        "(exponential backoff with jitter, at least the server's retry-after).",
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(min=0.1, callback=_finite, help="Seconds before a model call times out."),
]
RpmOpt = Annotated[int | None, typer.Option(min=1, help="Most model requests per minute.")]
TpmOpt = Annotated[int | None, typer.Option(min=1, help="Most tokens per minute (estimated).")]
MaxCostOpt = Annotated[
    float | None,
    typer.Option(
        min=0.0,
        callback=_finite,
        help="Stop before the run spends more than this many USD (LiteLLM's price map; a "
        "resumed run counts what it spent before).",
    ),
]
CacheOpt = Annotated[
    Path | None,
    typer.Option(
        help="Response cache (SQLite): a request sent before, identical in every byte that "
        "matters, is answered from it for free. For reproducible reruns.",
    ),
]
HeaderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--header",
        help="Extra HTTP header for a hosted spec, 'Name: value' (repeatable). Values are "
        "treated as secrets (see the README).",
    ),
]


@dataclass(frozen=True)
class CallOptions:
    """The model-call options shared by train and eval."""

    concurrency: int = 1
    retries: int = 6
    timeout: float = 60.0
    rpm: int | None = None
    tpm: int | None = None
    max_cost: float | None = None
    response_cache: Path | None = None
    headers: tuple[str, ...] = ()

    def header_map(self) -> dict[str, str]:
        """`--header 'Name: value'` options as a mapping (a bad one is refused without
        showing it: it may be a secret)."""
        found = {}
        for n, header in enumerate(self.headers, 1):
            name, sep, value = header.partition(":")
            if not sep or not name.strip() or not name.strip().isprintable():
                msg = f"--header number {n}: expected 'Name: value' (the option is not shown)"
                raise BadInputError(msg)
            found[name.strip()] = value.strip()
        return found

    def check(self) -> None:
        """Refuse a response-cache path that cannot be used, before anything is created."""
        if self.response_cache is not None:
            ResponseCache.check(self.response_cache)

    def middleware(self, spec: str, spent: float = 0.0) -> ModelCallMiddleware:
        """Retries, limits, budget, prices and cache for the model `spec`."""
        price = price_for(spec)
        if self.max_cost is not None and price is None:
            msg = f"--max-cost: LiteLLM's price map has no price for '{spec}'"
            raise BadInputError(msg)
        limits = self.rpm is not None or self.tpm is not None
        return ModelCallMiddleware(
            spec,
            retry=RetryPolicy(retries=self.retries),
            limiter=RateLimiter(self.rpm, self.tpm) if limits else None,
            budget=Budget(self.max_cost, spent) if self.max_cost is not None else None,
            price=price,
            cache=ResponseCache(self.response_cache) if self.response_cache else None,
        )


@app.command("train")
@cli_errors
def train_cmd(
    ctx: typer.Context,
    suite: SuiteOpt = "paper",
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    temperature: TemperatureOpt = None,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over every prompt.")] = 10,
    epsilon: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            callback=_finite,
            help="Exploration: chance an episode sees every value as zero (default 0.05, the "
            "paper's; 0.3 for local models, whose prior needs more exploring).",
        ),
    ] = None,
    epsilon_end: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, callback=_finite, help="Decay epsilon linearly to this."),
    ] = None,
    seed: SeedOpt = 0,
    memory: MemoryOpt = DEFAULT_MEMORY,
    max_steps: StepsOpt = 4,
    render: RenderOpt = None,
    lookup: LookupOpt = "exact",
    k: KOpt = 5,
    threshold: ThresholdOpt = 0.5,
    neighbour_text: NeighbourTextOpt = True,
    untried: UntriedOpt = True,
    holdout: HoldoutOpt = 0,
    credit: Annotated[
        Literal["current", "origin"],
        typer.Option(
            help="Credit each reward to the prompt being handled (current) or to the prompt "
            "that started the episode (origin, seed 001's rule)."
        ),
    ] = "origin",
    resume: Annotated[
        str | None,
        typer.Option(
            help="Continue run RUN_ID where it stopped: its unfinished episodes, with its own "
            "settings (suite, model, seed, epochs, max-steps, epsilon, render, lookup, "
            "holdout, credit, temperature: do not pass those). Give --base-url, --header "
            "and the limits again.",
        ),
    ] = None,
    concurrency: ConcurrencyOpt = 1,
    retries: RetriesOpt = 6,
    timeout: TimeoutOpt = 60.0,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    max_cost: MaxCostOpt = None,
    response_cache: CacheOpt = None,
    header: HeaderOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Train: run EPOCHS passes over the suite, crediting every action's reward to MEMORY.

    Each epoch visits every prompt once in a seeded order; each action earns +1 (valid tool),
    -1 (wrong tool) or 0 (asking), credited to the prompt that started the episode (see
    --credit). Prints the per-epoch table, the first-vs-last-epoch table per query, and what
    the run spent (tokens, prompt-cache hits, retries, cost).

    A failed episode (after retries) is logged, credits nothing, and the run goes on; resume
    the run to retry it. Ctrl-C stops cleanly. Exit codes: 0 completed, 1 some episodes
    failed, 3 stopped by --max-cost, 130 interrupted (resume with --resume RUN_ID).

    Example (a scripted test double, no key needed):
    reflexrl train --model fake:first --epochs 3 --memory /tmp/demo.db
    """
    options = CallOptions(
        concurrency, retries, timeout, rpm, tpm, max_cost, response_cache, tuple(header or ())
    )
    spent = 0.0
    if resume is None:
        asked = RunConfig(
            suite=suite,
            model=model or "",
            epochs=epochs,
            seed=seed,
            max_steps=max_steps,
            credit=credit,
            render=_render_for(render, model),
            neighbour_text=neighbour_text,
            untried=untried,
            lookup=lookup,
            k=k,
            threshold=threshold,
            temperature=temperature,
            holdout=holdout,
            concurrency=concurrency,
        )
    else:
        _reject_with_resume(ctx)
        asked, spent = _resumed(memory, resume)
        asked = asked.with_(concurrency=concurrency)
        epsilon, epsilon_end = asked.epsilon, asked.epsilon_end
    loaded = _load_suite(asked.suite, asked.render)
    loaded.check_holdout(asked.holdout)
    check_memory(memory)
    options.check()
    spec, chat_model = _model(
        asked.model or None, loaded, base_url, asked.temperature, asked.seed, True, options
    )
    if epsilon is None:
        epsilon = local_models.TRAIN_EPSILON if spec.startswith("local:") else DEFAULT_EPSILON
    config = asked.with_(
        model=spec,
        epsilon=epsilon,
        epsilon_end=epsilon_end,
        temperature=getattr(chat_model, "temperature", None),
    )
    with closing(_open_memory(memory, config)) as store:
        calls = options.middleware(spec, spent)
        agent = build_agent(chat_model, loaded, store, config, calls=calls)
        total = plan_size(loaded, config.epochs, "train", config.holdout)
        with _progress(total, "training", calls) as tick:
            try:
                result = train(agent, loaded, store, config, resume=resume, on_episode=tick)
            except RunFailedError as exc:
                if json_out:
                    print_json(exc.result.to_json())
                raise
    _print_train(result, config, memory, json_out)


def _open_memory(path: Path, config: RunConfig, *, read_only: bool = False) -> MemoryStore:
    """The memory at `path`, opened with the config's lookup."""
    return open_memory(
        path, lookup=config.lookup, k=config.k, threshold=config.threshold, read_only=read_only
    )


def _render_for(render: str | None, model: str | None) -> str:
    """--render, else the default for the model that will run: the advice alone for local
    models (see `local_models.RENDER`), the focused block for the others."""
    if render is not None:
        return render
    return local_models.RENDER if choose_model(model).spec.startswith("local:") else "focused"


def _load_suite(suite: str, render: str) -> Suite:
    """The suite with its tools loaded (their modules imported), and the rendering checked:
    bad input is found before any file is created."""
    try:
        get_renderer(render)
    except BadInputError as exc:
        raise BadInputError(f"--render: {exc}") from None
    loaded = Suite.load(suite)
    _ = loaded.tools
    return loaded


def _resumed(memory: Path, run_id: str) -> tuple[RunConfig, float]:
    """The settings of the logged run to resume, and what it spent so far (read-only: an
    unknown or completed run changes nothing)."""
    with closing(open_memory(memory, read_only=True)) as store:
        logged = check_resumable(store, resume_info(store, run_id))
        spent = total_usage([*store.episodes(run_id), *store.failures(run_id)]).cost or 0.0
    config = RunConfig.from_json(logged.settings).with_(
        model=logged.model, seed=logged.seed, epochs=logged.epochs, max_steps=logged.max_steps
    )
    if "suite" not in logged.settings and "suite_source" not in logged.settings:
        config = config.with_(suite=logged.suite)
    return config, spent


RESUME_FIXED = (
    "suite",
    "model",
    "seed",
    "epochs",
    "max_steps",
    "epsilon",
    "epsilon_end",
    "render",
    "lookup",
    "k",
    "threshold",
    "neighbour_text",
    "untried",
    "holdout",
    "credit",
    "temperature",
)


def _reject_with_resume(ctx: typer.Context) -> None:
    """A resumed run keeps its own plan: options that would change it are refused."""
    for name in RESUME_FIXED:
        source = ctx.get_parameter_source(name)  # typer vendors click: compare by name
        if source is not None and source.name == "COMMANDLINE":
            flag = "--" + name.replace("_", "-")
            raise BadInputError(f"{flag}: a resumed run keeps its own; drop {flag} or --resume")


def _print_train(result: TrainResult, config: RunConfig, memory: Path, json_out: bool) -> None:
    if json_out:
        print_json(result.to_json())
    else:
        out.print(epoch_table(result.epochs))
        out.print(table2_table(table2(result.episodes)))
        out.print(f"run {result.run_id} ({result.status}): memory written to {result.memory}")
        say(f"spent: {usage_summary(result.usage)}")
        say(
            f"These numbers include exploration (epsilon {config.schedule().describe()}, "
            f"temperature {config.temperature}); the frozen before/after: reflexrl eval "
            f"--compare --model {config.model} --memory {result.memory}{_eval_flags(config)}"
        )
    if result.status != "completed":
        say(
            f"{result.unfinished} episodes did not finish ({result.status}); continue with: "
            f"reflexrl train --resume {result.run_id} --memory {memory}",
            err,
        )
        raise typer.Exit(3 if result.status == "stopped" else 1)


def _eval_flags(config: RunConfig) -> str:
    """The eval options that match a training run's lookup and holdout."""
    flags = "" if config.lookup == "exact" else f" --lookup {config.lookup}"
    return flags + (f" --holdout {config.holdout}" if config.holdout else "")


@app.command("eval")
@cli_errors
def eval_cmd(
    suite: SuiteOpt = "paper",
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    temperature: TemperatureOpt = None,
    memory: MemoryOpt = DEFAULT_MEMORY,
    no_memory: Annotated[
        bool, typer.Option("--no-memory", help="Show no memory (the 'before' baseline).")
    ] = False,
    seed: SeedOpt = 0,
    max_steps: StepsOpt = 4,
    repeats: Annotated[int, typer.Option(min=1, help="Passes over every prompt.")] = 1,
    render: RenderOpt = None,
    lookup: LookupOpt = "exact",
    k: KOpt = 5,
    threshold: ThresholdOpt = 0.5,
    neighbour_text: NeighbourTextOpt = True,
    untried: UntriedOpt = True,
    holdout: HoldoutOpt = 0,
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
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Log the metrics in MEMORY (changing no reward): `reflexrl ui` and the HTML "
            "report show them on the page of the run trained last.",
        ),
    ] = False,
    concurrency: ConcurrencyOpt = 1,
    retries: RetriesOpt = 6,
    timeout: TimeoutOpt = 60.0,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    max_cost: MaxCostOpt = None,
    response_cache: CacheOpt = None,
    header: HeaderOpt = None,
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
    if split != "all" and holdout == 0:
        raise BadInputError(f"--split {split}: give --holdout N (the prompts held out)")
    if record:
        check_memory(memory, must_exist=True)
    options = CallOptions(
        concurrency, retries, timeout, rpm, tpm, max_cost, response_cache, tuple(header or ())
    )
    config = RunConfig(
        suite=suite,
        epochs=repeats,
        seed=seed,
        max_steps=max_steps,
        render=_render_for(render, model),
        neighbour_text=neighbour_text,
        untried=untried,
        lookup=lookup,
        k=k,
        threshold=threshold,
        temperature=temperature,
        holdout=holdout,
        split=split,
        concurrency=concurrency,
    )
    loaded = _load_suite(suite, config.render)
    loaded.check_holdout(holdout)
    options.check()
    with ExitStack() as stack:
        empty = stack.enter_context(closing(open_memory(":memory:")))  # what "off" reads
        store = empty
        if not no_memory:
            store = stack.enter_context(closing(_open_memory(memory, config, read_only=True)))
        spec, chat_model = _model(model, loaded, base_url, temperature, seed, False, options)
        calls = options.middleware(spec)
        results = {}
        for use_memory in [False, True] if compare else [not no_memory]:
            run = config.with_(model=spec, epsilon=0.0, use_memory=use_memory)
            table = store if use_memory else empty
            agent = build_agent(chat_model, loaded, table, run, calls=calls)
            label = "with memory" if use_memory else "without memory"
            total = plan_size(loaded, repeats, split, holdout)
            with _progress(total, f"evaluating {label}", calls) as tick:
                results[use_memory] = evaluate(
                    agent, loaded, run, memory=str(memory), on_episode=tick
                )
    _print_eval(results, json_out)
    if not json_out:
        say(f"spent: {usage_summary(calls.totals)}")
    if record:
        metrics = {("after" if on else "before"): r.metrics.to_json() for on, r in results.items()}
        with closing(open_memory(memory, create=False)) as store:
            store.record_evaluation(loaded.name, spec, split, metrics)


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


@memory_app.command("show")
@cli_errors
def memory_show(
    memory: MemoryOpt = DEFAULT_MEMORY,
    suite: Annotated[str | None, typer.Option(help="Only this suite's rows.")] = None,
    sort: Annotated[
        Literal["reward", "visits", "prompt"], typer.Option(help="Sort rows by this.")
    ] = "prompt",
    limit: Annotated[int | None, typer.Option(min=1, help="Show at most N rows.")] = None,
    at: Annotated[
        str | None, typer.Option(help="Show the rows as they were at this point. " + POINTS)
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option(
            help="Print what the agent would see for this prompt: the memory block, as the "
            "lookup finds it (with --json: its neighbours and the estimate per action)."
        ),
    ] = None,
    lookup: LookupOpt = "exact",
    k: KOpt = 5,
    threshold: ThresholdOpt = 0.5,
    neighbour_text: NeighbourTextOpt = True,
    json_out: JsonOpt = False,
) -> None:
    """Show the memory table: reward, visits, clarifications and actions per prompt.

    With --prompt TEXT: the block the agent would be shown for TEXT (try --lookup knn on a
    prompt the memory never saw). Read-only: the file is not changed (a read-only disk works).
    """
    config = RunConfig(lookup=lookup, k=k, threshold=threshold, neighbour_text=neighbour_text)
    with closing(_open_memory(memory, config, read_only=True)) as store:
        if prompt is not None:
            name = _suite_for(store, suite)
            tools = _tools_for(store, name)
            seen = prompt_memory(store, name, prompt, tools=tools, neighbour_text=neighbour_text)
            if json_out:
                print_json(seen.to_json())
            else:
                for line in seen.block.splitlines():  # user text in it is already escaped
                    say(line)
            return
        if at is None:
            rows = store.rows(suite, sort=sort, limit=limit)
        else:
            rows = sort_rows(store.rows_at(store.point(at), suite), sort)[:limit]
    if json_out:
        print_json([r.to_json() for r in rows])
        return
    table = Table(title=for_terminal(f"{memory}: {len(rows)} rows"))
    for column in ("suite", "query", "prompt", "reward", "visits", "clarify", "best action"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            for_terminal(r.suite),
            for_terminal(r.query or ""),
            for_terminal(r.prompt),
            f"{r.reward:+g}",
            str(r.visits),
            str(r.clarifications),
            for_terminal(r.best_action() or ""),
        )
    out.print(table)


def _suite_for(store: MemoryStore, suite: str | None) -> str:
    """The suite a prompt is looked up in: the one named, else the memory's only suite."""
    if suite is not None:
        return suite
    suites = sorted({r.suite for r in store.rows(actions=False)})
    if len(suites) == 1:
        return suites[0]
    if not suites:
        raise BadInputError(f"--prompt: {store.location} holds no rows yet; name a --suite")
    raise BadInputError(f"--suite: the memory holds suites {', '.join(suites)}; name one")


def _tools_for(store: MemoryStore, suite: str) -> list[str]:
    """The tools an agent of `suite` can call: a bundled suite's, else every action its rows
    recorded (a tool no prompt ever tried is then not known)."""
    if suite in bundled_suites():
        return [t.name for t in Suite.load(suite).tools]
    return sorted({a for r in store.rows(suite) for a in r.actions})


@memory_app.command("reset")
@cli_errors
def memory_reset(
    memory: MemoryOpt = DEFAULT_MEMORY,
    suite: Annotated[str | None, typer.Option(help="Only this suite's rows.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Really reset.")] = False,
) -> None:
    """Forget the learned rewards (the episode log is kept)."""
    if not yes:
        raise BadInputError("memory reset: refusing without --yes")
    with closing(open_memory(memory, create=False)) as store:
        removed = store.reset(suite)
    say(f"removed {removed} rows from {memory}")


@app.command("report")
@cli_errors
def report_cmd(
    memory: MemoryOpt = DEFAULT_MEMORY,
    run: Annotated[str | None, typer.Option(help="Run id (default: the latest run).")] = None,
    format: Annotated[
        Literal["text", "json", "html"], typer.Option(help="Output format.")
    ] = "text",
    out_path: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
) -> None:
    """Report a run: per-epoch metrics and seed 001's Table 2 (first vs last epoch).

    --format html writes one self-contained page (learning curves, Fig. 4 heat maps, Table 2,
    usage) that opens offline. Read-only: the memory file is not changed.
    """
    if out_path is not None:
        _check_output(out_path, memory)
    ui = _ui() if format == "html" else None
    with closing(open_memory(memory, read_only=True)) as store:
        if ui is not None:  # aggregated in SQL: a long run is not loaded whole
            text = ui.report_html(store, run)
        else:
            report = build_report(store, run)
    if format == "json":
        text = json.dumps(report.to_json(), indent=2) + "\n"
    elif format == "text":
        console = Console(record=True, width=120, file=io.StringIO())
        print_report(report, console)
        text = console.export_text()
    if out_path is None:
        sys.stdout.write(text)
    else:
        write_text_atomically(out_path, text)
        say(f"wrote {out_path}", err)


def _ui() -> ModuleType:
    """reflexrl.ui, or a clean error when its extra is not installed."""
    try:
        import reflexrl.ui  # noqa: PLC0415  (Starlette, Jinja2, matplotlib: the ui extra)
    except ImportError as exc:
        msg = f"the page needs the ui extra ({exc.name} is missing): pip install 'reflexrl[ui]'"
        raise BadInputError(msg) from None
    return reflexrl.ui


@app.command("ui")
@cli_errors
def ui_cmd(
    memory: MemoryOpt = DEFAULT_MEMORY,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8765,
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on: a loopback one (127.0.0.0/8, ::1, localhost) unless "
            "--allow-remote. Never every interface (0.0.0.0, ::)."
        ),
    ] = "127.0.0.1",
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Let --host be an address other machines reach: anyone who reaches it reads "
            "the whole memory (no password, no encryption).",
        ),
    ] = False,
) -> None:
    """Browse a memory in a web page: the memory table, each prompt's history and episodes,
    each run's learning curves, Fig. 4 and Table 2.

    Read-only (the file is not changed), no script, nothing loaded from the network. Open
    the address it prints; Ctrl-C stops it. Example: reflexrl ui --memory memory/paper.db
    """
    ui = _ui()
    try:  # before the memory is opened: a refused host fails at once
        ui.check_host(host, allow_remote=allow_remote)
    except ui.RemoteHostError as exc:
        raise BadInputError(f"--host: {exc} (--allow-remote)") from None
    except BadInputError as exc:
        raise BadInputError(f"--host: {exc}") from None
    store = ui.open_for_ui(memory)
    with closing(store):
        sock = ui.bind(host, port, allow_remote=allow_remote)
        address = sock.getsockname()
        shown = f"[{address[0]}]" if ":" in address[0] else address[0]
        url = f"http://{shown}:{address[1]}/"
        if not ui.is_loopback(address[0]):
            say(
                f"WARNING: not the loopback: anyone who can reach {url} can read {memory} "
                "(every prompt, episode and model message; no password, no encryption)",
                err,
            )

        def ready() -> None:
            say(f"serving {memory} at {url} (read-only; Ctrl-C stops)")

        try:
            ui.serve(store, sock, host, on_ready=ready)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the server has shut down
            say("stopped", err)


def _check_output(path: Path, memory: Path) -> None:
    """Refuse an output that is the memory (or one of its files), a directory, a device, a
    FIFO or a socket, or in a folder that is missing or not writable: before anything runs."""
    try:
        check_output(path, protected=memory_files(memory))
    except BadInputError as exc:
        raise BadInputError(f"--out: {exc}") from None


@app.command("export")
@cli_errors
def export_cmd(
    out_path: Annotated[
        Path,
        typer.Option(
            "--out",
            help="FILE.jsonl (JSON lines), or a new directory: a Hugging Face dataset "
            "(`datasets.load_from_disk`; needs the `distill` extra).",
        ),
    ],
    format: Annotated[ExportFormat, typer.Option(help="Record format.")] = "trl-sft",
    memory: MemoryOpt = DEFAULT_MEMORY,
    suite: Annotated[
        str | None,
        typer.Option(help="Suite of the runs (default: theirs, if it is bundled)."),
    ] = None,
    run: Annotated[list[str] | None, typer.Option(help="Only this run (repeatable).")] = None,
    epoch: Annotated[
        list[int] | None, typer.Option(min=1, help="Only this epoch (repeatable).")
    ] = None,
    last_epochs: Annotated[
        int | None, typer.Option(min=1, help="Only the last N epochs of each run.")
    ] = None,
    explored: Annotated[
        Literal["include", "exclude", "only"],
        typer.Option(help="Episodes that saw every value as zero (epsilon resets)."),
    ] = "include",
    successful_only: Annotated[
        bool, typer.Option("--successful-only", help="Only episodes that reached a valid tool.")
    ] = False,
    min_visits: Annotated[
        int, typer.Option(min=1, help="Only prompts decided on at least N times.")
    ] = 1,
    dedupe: Annotated[bool, typer.Option(help="Write each distinct record once.")] = True,
    with_memory: Annotated[
        bool,
        typer.Option(
            "--with-memory",
            help="Keep the memory block the agent saw (distils the memory-conditioned "
            "policy). Default: without it, the decision the memory taught, for a model that "
            "runs without memory.",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Export the log as training data for a weight-update stage (SFT, DPO, KTO, GRPO).

    Every record carries the tool schemas the agent was offered.

    The memory is only read; the output is written whole or not at all.

    Example: reflexrl export --format trl-dpo --last-epochs 5 --out dpo.jsonl
    """
    as_jsonl = out_path.suffix == ".jsonl"
    _check_export_output(out_path, as_jsonl, memory)
    options = ExportOptions(
        format=format,
        runs=tuple(run or ()),
        epochs=tuple(epoch or ()),
        last_epochs=last_epochs,
        explored=explored,
        successful_only=successful_only,
        min_visits=min_visits,
        dedupe=dedupe,
        with_memory=with_memory,
    )
    with closing(open_memory(memory, read_only=True)) as store:
        loaded = Suite.load(suite or _runs_suite(store, options.runs))
        result = export_records(store, loaded, options)
    (write_jsonl if as_jsonl else save_dataset)(result, out_path)
    if json_out:
        print_json({**result.summary(), "out": str(out_path)})
        return
    summary = result.summary()
    say(f"wrote {summary['records']} {format} records to {out_path}", err)
    say(
        f"{summary['decisions']} decisions, {summary['situations']} situations, "
        f"{summary['duplicates']} duplicates left out, {summary['prompts_without_signal']} "
        "prompts without a preference signal (every decision the same reward)",
        err,
    )


def _runs_suite(store: MemoryStore, runs: Sequence[str]) -> str:
    """The one suite of the runs to export (all runs if none is named)."""
    known = {r.run_id: r.suite for r in store.runs()}
    unknown = [r for r in runs if r not in known]
    if unknown:
        raise BadInputError(f"--run: no run {unknown[0]!r} in {store.location}")
    suites = {s for r, s in known.items() if not runs or r in runs}
    if len(suites) != 1:
        found = ", ".join(sorted(suites)) or "none"
        raise BadInputError(f"--suite: name the suite to export (suites in the memory: {found})")
    name = suites.pop()
    if name not in bundled_suites():
        raise BadInputError(f"--suite: suite {name} is not bundled: pass its YAML file")
    return name


def _check_export_output(path: Path, as_jsonl: bool, memory: Path) -> None:
    """Refuse an output that cannot be written before anything is read."""
    if as_jsonl:
        _check_output(path, memory)
        return
    try:
        check_dataset_dir(path)
    except BadInputError as exc:
        raise BadInputError(f"--out: {exc}") from None
    if not path.parent.is_dir():
        raise BadInputError(f"--out: {path}: no directory {path.parent}")
    if not os.access(path.parent, os.W_OK):
        raise BadInputError(f"--out: {path}: directory {path.parent} is not writable")


@app.command("suites")
@cli_errors
def suites_cmd(json_out: JsonOpt = False) -> None:
    """List the bundled suites."""
    found = [Suite.load(path) for path in bundled_suites().values()]
    if json_out:
        print_json([_suite_json(s) for s in found])
        return
    table = Table(title="Bundled suites")
    for column in ("name", "queries", "prompts", "tools", "description"):
        table.add_column(column, overflow="fold")
    for s in found:
        n_prompts = sum(1 for _ in s.prompts())
        row = (s.name, str(len(s.spec.queries)), str(n_prompts), ", ".join(s.tool_names))
        table.add_row(*map(for_terminal, row), for_terminal(s.spec.description))
    out.print(table)


def _suite_json(suite: Suite) -> dict[str, Any]:
    return {
        "name": suite.name,
        "queries": len(suite.spec.queries),
        "prompts": sum(1 for _ in suite.prompts()),
        "tools": suite.tool_names,
        "path": str(suite.path),
        "description": suite.spec.description,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point. A bad flag is one `error:` line and exit code 2 (not
    click's usage box); SIGTERM is handled as Ctrl-C."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        code = app(args=argv, prog_name="reflexrl", standalone_mode=False)
    except typer.TyperException as exc:  # click's errors, as typer raises them
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare `reflexrl`: its help
            say(exc.format_message(), err)
            sys.exit(0)
        error(_usage_message(exc))
        sys.exit(getattr(exc, "exit_code", 2))
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-C before a command started
        say("interrupted", err)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _usage_message(exc: typer.TyperException) -> str:
    """click's message, naming the flag, and where to read more."""
    param = getattr(exc, "param", None)
    message = str(getattr(exc, "message", "") or exc).removeprefix("Value error, ")
    if param is not None and getattr(param, "opts", None) and message:
        flag = max(param.opts, key=len)
        message = f"{flag}: {message[:1].lower()}{message[1:]}"
    else:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "reflexrl"
    return f"{message} (see: {command} --help)"


def _terminate(_signum: int, frame: FrameType | None) -> None:
    """SIGTERM: what Ctrl-C does (the run is saved and marked interrupted, exit code 130),
    whatever SIGINT's handler is (a job started with `&` from a script ignores SIGINT)."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not signal.default_int_handler:
        handler(signal.SIGINT, frame)  # asyncio's, while a run is going: it cancels the run
    else:
        event_loop.interrupt()
