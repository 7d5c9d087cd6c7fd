"""What train and eval share: the model, the suite, the memory, the model-call policy and
the progress bar."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..envs.simulated_user import parse_user
from ..envs.suite import Suite
from ..errors import BadInputError, ModelSpecError
from ..loop.config import RunConfig
from ..loop.report import cost_text
from ..memory import MemoryStore, open_memory
from ..models.budget import Budget
from ..models.call_policy import ModelCallMiddleware
from ..models.rate_limit import RateLimiter
from ..models.response_cache import ResponseCache
from ..models.retry import RetryPolicy
from ..models.specs import HOSTED, ModelChoice, choose_model, load_model
from ..records import Episode, Failure
from ..usage import price_for
from .common import err, say
from .options import CallOptions, LookupOptions, RunTarget


@contextmanager
def progress_bar(
    total: int, label: str, calls: ModelCallMiddleware
) -> Iterator[Callable[[Episode | Failure], None]]:
    """A progress bar on stderr, with what the run spent so far; yields its tick."""
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


def header_map(options: CallOptions) -> dict[str, str]:
    """`--header 'Name: value'` options as a mapping (a bad one is refused without showing
    it: it may be a secret)."""
    found = {}
    for n, header in enumerate(options.header or (), 1):
        name, sep, value = header.partition(":")
        if not sep or not name.strip() or not name.strip().isprintable():
            msg = f"--header number {n}: expected 'Name: value' (the option is not shown)"
            raise BadInputError(msg)
        found[name.strip()] = value.strip()
    return found


def check_calls(options: CallOptions) -> None:
    """Refuse a response-cache path that cannot be used, before anything is created."""
    if options.response_cache is not None:
        ResponseCache.check(options.response_cache)


def call_policy(options: CallOptions, spec: str, spent: float = 0.0) -> ModelCallMiddleware:
    """Retries, limits, budget, prices and cache for the model `spec`."""
    price = price_for(spec)
    if options.max_cost is not None and price is None:
        msg = f"LiteLLM's price map has no price for '{spec}'"
        raise BadInputError(msg, setting="max_cost")
    limits = options.rpm is not None or options.tpm is not None
    return ModelCallMiddleware(
        spec,
        retry=RetryPolicy(retries=options.retries),
        limiter=RateLimiter(options.rpm, options.tpm) if limits else None,
        budget=Budget(options.max_cost, spent) if options.max_cost is not None else None,
        price=price,
        cache=ResponseCache(options.response_cache) if options.response_cache else None,
    )


def run_config(
    target: RunTarget,
    view: LookupOptions,
    calls: CallOptions,
    *,
    training: bool,
    **settings: Any,
) -> tuple[ModelChoice, RunConfig]:
    """The model that will run (`--model`, else the environment's), and the run's settings:
    the options given, and the model's defaults for the rest."""
    choice = choose_model(target.model)
    config = RunConfig.for_model(
        choice.spec,
        training=training,
        suite=target.suite,
        temperature=target.temperature,
        concurrency=calls.concurrency,
        **view.settings(),
        **settings,
    )
    return choice, config


def load_chat_model(
    choice: ModelChoice,
    suite: Suite,
    base_url: str | None,
    config: RunConfig,
    options: CallOptions,
) -> Any:
    """Load the chosen model with the run's temperature; a local model also gets the run's
    seed."""
    spec = choice.spec
    kwargs: dict[str, Any] = {}
    headers = header_map(options)
    if spec.split(":")[0] in HOSTED:
        kwargs.update(headers=headers, timeout=options.timeout)
    elif headers or base_url:
        flag = "--header" if headers else "--base-url"
        raise BadInputError(f"{flag}: only hosted models (anthropic:, openai:, litellm:) use it")
    if spec.startswith("local:"):
        kwargs["seed"] = config.seed
    if config.temperature is not None and not spec.startswith("fake:"):
        kwargs["temperature"] = config.temperature
    model = load_model(spec, suite, base_url=base_url, **kwargs)
    say(f"model: {spec} ({choice.reason})", err)
    return model


def load_user_model(config: RunConfig, suite: Suite) -> BaseChatModel | None:
    """The chat model that plays an `llm:` user (`--user llm:MODEL`), else None. A local
    model gets the run's seed."""
    user = parse_user(config.user)
    if user.kind != "llm":
        return None
    kwargs: dict[str, Any] = {"seed": config.seed} if user.model.startswith("local:") else {}
    try:
        return load_model(user.model, suite, **kwargs)
    except ModelSpecError as exc:  # about the user's model, not --model
        raise ModelSpecError(f"{config.user}: {exc.message}", setting="user") from None


def open_for_run(path: str | Path, config: RunConfig, *, read_only: bool = False) -> MemoryStore:
    """The memory at `path` (a file or a URL), opened with the config's lookup."""
    return open_memory(
        path, lookup=config.lookup, k=config.k, threshold=config.threshold, read_only=read_only
    )


def load_suite(suite: str) -> Suite:
    """The suite with its tools loaded (their modules imported): bad input is found before
    any file is created."""
    loaded = Suite.load(suite)
    _ = loaded.tools
    return loaded
