"""The option vocabulary the commands share, and groups of options taken as one value.

A group is a frozen dataclass of typer options (`RunTarget`, `LookupOptions`,
`CallOptions`). A command declares it as one parameter, where its options belong in
`--help`; `takes_groups` shows typer the group's fields there, as ordinary options, and
hands the command one value.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_type_hints

import typer

F = TypeVar("F", bound=Callable[..., Any])


def finite(value: float | None) -> float | None:
    """Refuse NaN and infinities (click's ranges let NaN through)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


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
TemperatureOpt = Annotated[
    float | None,
    typer.Option(
        min=0.0,
        callback=finite,
        help="Sampling temperature (default: the provider's; local models: 2.0 in train, "
        "0 in eval).",
    ),
]
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
UntriedOpt = Annotated[
    bool,
    typer.Option(
        "--untried/--no-untried",
        help="Advise a tool the prompt never tried in its memory block, the next to try, "
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
UserOpt = Annotated[
    str,
    typer.Option(
        help="Who answers the agent's questions: another prompt of the query (rephrase, "
        "Curuksu's user), the same said with an attitude that gives up past its patience "
        "(template:cooperative, template:impatient, template:confused, template:polite, "
        "template:frustrated), or a chat model playing the user (llm:MODEL, e.g. "
        "llm:local:smollm2 or llm:openai:gpt-4.1-mini; an openai: model reads "
        "OPENAI_BASE_URL). Controls follow commas: "
        "template:impatient,patience=2,verbosity=verbose (attitude, patience, reveal, "
        "verbosity, formality, grammar).",
    ),
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write to this file.")]


class OptionGroup:
    """Marks a frozen dataclass whose fields are typer options taken together."""


@dataclass(frozen=True)
class RunTarget(OptionGroup):
    """What a run runs: the suite, and the model (train, eval)."""

    suite: SuiteOpt = "paper"
    model: ModelOpt = None
    base_url: BaseUrlOpt = None
    temperature: TemperatureOpt = None


@dataclass(frozen=True)
class LookupOptions(OptionGroup):
    """How a prompt finds its memory (train, eval, memory show)."""

    lookup: Annotated[
        Literal["exact", "knn"],
        typer.Option(
            help="How a prompt finds its memory: its own row (exact, the paper's table) or the "
            "rows of its K most similar stored prompts (knn, by embedding; generalizes to "
            "prompts never seen). The memory file records the embedding model."
        ),
    ] = "exact"
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="kNN: neighbours per prompt.")] = 5
    threshold: Annotated[
        float,
        typer.Option(
            min=-1.0,
            max=1.0,
            callback=finite,
            help="kNN: least cosine similarity of a neighbour; a prompt with none is told to "
            "explore.",
        ),
    ] = 0.5
    neighbour_text: Annotated[
        bool,
        typer.Option(
            "--neighbour-text/--no-neighbour-text",
            help="kNN: quote the neighbours' prompts in the block (--no-neighbour-text: their "
            "similarity and record only; in production they are other users' words).",
        ),
    ] = True

    def settings(self) -> dict[str, Any]:
        """The `RunConfig` fields these options set."""
        return asdict(self)


MAX_CONCURRENCY = 1024


@dataclass(frozen=True)
class CallOptions(OptionGroup):
    """The model-call options of train and eval: concurrency, retries, limits, cache."""

    concurrency: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_CONCURRENCY,
            help="Episodes run at once (asyncio), 1 to 1024. Each sees the memory as of its "
            "own start; 1 reproduces a run exactly.",
        ),
    ] = 1
    retries: Annotated[
        int,
        typer.Option(
            min=0,
            help="Retries of a model call on 429, 5xx, timeouts and connection errors "
            "(exponential backoff with jitter, at least the server's retry-after).",
        ),
    ] = 6
    timeout: Annotated[
        float,
        typer.Option(min=0.1, callback=finite, help="Seconds before a model call times out."),
    ] = 60.0
    rpm: Annotated[int | None, typer.Option(min=1, help="Most model requests per minute.")] = None
    tpm: Annotated[int | None, typer.Option(min=1, help="Most tokens per minute (estimated).")] = (
        None
    )
    max_cost: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            callback=finite,
            help="Stop before the run spends more than this many USD (LiteLLM's price map; a "
            "resumed run counts what it spent before).",
        ),
    ] = None
    response_cache: Annotated[
        Path | None,
        typer.Option(
            help="Response cache (SQLite): a request sent before, identical in every byte "
            "that matters, is answered from it for free. For reproducible reruns.",
        ),
    ] = None
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            help="Extra HTTP header for a hosted spec, 'Name: value' (repeatable). Values are "
            "treated as secrets (see the README).",
        ),
    ] = None


def _group_fields(group: type[OptionGroup]) -> list[inspect.Parameter]:
    hints = get_type_hints(group, include_extras=True)
    kind = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter(f.name, kind, annotation=hints[f.name], default=f.default)
        for f in fields(group)  # type: ignore[arg-type]
    ]


def takes_groups(command: F) -> F:
    """Show typer each `OptionGroup` parameter of `command` as its fields, in its place,
    and call `command` with the group built from them."""
    signature = inspect.signature(command, eval_str=True)
    groups: dict[str, type[OptionGroup]] = {}
    params: list[inspect.Parameter] = []
    for p in signature.parameters.values():
        if isinstance(p.annotation, type) and issubclass(p.annotation, OptionGroup):
            groups[p.name] = p.annotation
            params.extend(_group_fields(p.annotation))
        else:
            params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        for name, group in groups.items():
            names = [f.name for f in fields(group)]  # type: ignore[arg-type]
            kwargs[name] = group(**{n: kwargs.pop(n) for n in names})
        return command(**kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper  # type: ignore[return-value]
