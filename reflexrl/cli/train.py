"""`reflexrl train`: run the training loop, or resume a run where it stopped."""

from __future__ import annotations

from contextlib import closing
from typing import Annotated, Literal

import typer

from ..agent.build import build_agent
from ..envs.suite import Suite
from ..errors import BadInputError, RunFailedError
from ..loop.calibrate import calibrate_judge, check_agreement
from ..loop.config import RunConfig
from ..loop.plan import plan_size
from ..loop.report import before_after, before_after_table, epoch_table, usage_summary
from ..loop.resume import RESUME_FIXED, resumed_config
from ..loop.train import TrainResult, train
from ..memory import check_memory, memory_location, open_memory
from ..models.judging import load_judge, tool_descriptions
from ..models.specs import choose_model
from ..rewards.training import JudgedRewards, TrainingReward, training_reward
from . import options as opt
from . import running
from .common import (
    DEFAULT_MEMORY,
    JsonOpt,
    MemoryOpt,
    cli_errors,
    err,
    flag_of,
    out,
    print_json,
    say,
)


@cli_errors
@opt.takes_groups
def train_cmd(
    ctx: typer.Context,
    target: opt.RunTarget = opt.RunTarget(),
    epochs: Annotated[int, typer.Option(min=1, help="Passes over every prompt.")] = 10,
    epsilon: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            callback=opt.finite,
            help="Exploration: chance an episode sees every value as zero (default 0.05, the "
            "paper's; 0.3 for local models, whose prior needs more exploring).",
        ),
    ] = None,
    epsilon_end: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, callback=opt.finite, help="Decay epsilon linearly to this."),
    ] = None,
    seed: opt.SeedOpt = 0,
    memory: MemoryOpt = DEFAULT_MEMORY,
    max_steps: opt.StepsOpt = 4,
    render: opt.RenderOpt = None,
    view: opt.LookupOptions = opt.LookupOptions(),
    untried: opt.UntriedOpt = True,
    holdout: opt.HoldoutOpt = 0,
    credit: Annotated[
        Literal["current", "origin"],
        typer.Option(
            help="Credit each reward to the prompt being handled (current) or to the prompt "
            "that started the episode (origin, the rule of Curuksu's paper)."
        ),
    ] = "origin",
    reward: Annotated[
        str,
        typer.Option(
            help="What the memory is credited with: the answer key's rewards (key), a judge "
            "model's labels (judge:MODEL, e.g. judge:local:gemma3-270m), or the key's as "
            "imperfect feedback (feedback-noise:MISSING,FLIPPED, e.g. feedback-noise:0.3,0.1: "
            "30% of rewards lost, 10% flipped). The key still ends episodes and scores eval.",
        ),
    ] = "key",
    user: opt.UserOpt = "rephrase",
    min_kappa: Annotated[
        float | None,
        typer.Option(
            min=-1.0,
            max=1.0,
            callback=opt.finite,
            help="With --reward judge:MODEL: first label every (prompt, action) of the suite "
            "and refuse the judge if its Cohen's kappa with the answer key is below this.",
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Continue run RUN_ID where it stopped: its unfinished episodes, with its own "
            "settings (suite, model, seed, epochs, max-steps, epsilon, render, lookup, "
            "holdout, credit, temperature, reward, user: do not pass those). Give "
            "--base-url, --header and the limits again.",
        ),
    ] = None,
    calls: opt.CallOptions = opt.CallOptions(),
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
    spent = 0.0
    if resume is None:
        choice, asked = running.run_config(
            target,
            view,
            calls,
            training=True,
            epochs=epochs,
            seed=seed,
            max_steps=max_steps,
            credit=credit,
            epsilon=epsilon,
            epsilon_end=epsilon_end,
            render=render,
            untried=untried,
            holdout=holdout,
            reward=reward,
            user=user,
        )
    else:
        _reject_with_resume(ctx)
        asked, spent = _resumed(memory, resume)
        asked = asked.with_(concurrency=calls.concurrency)
        choice = choose_model(asked.model)
    loaded = running.load_suite(asked.suite)
    loaded.check_holdout(asked.holdout)
    check_memory(memory)
    running.check_calls(calls)
    scorer = _training_reward(asked, loaded, min_kappa)
    chat_model = running.load_chat_model(choice, loaded, target.base_url, asked, calls)
    config = asked.with_(temperature=getattr(chat_model, "temperature", None))
    user_model = running.load_user_model(config, loaded)
    with closing(running.open_for_run(memory, config)) as store:
        policy = running.call_policy(calls, config.model, spent)
        agent = build_agent(chat_model, loaded, store, config, calls=policy)
        total = plan_size(loaded, config.epochs, "train", config.holdout)
        with running.progress_bar(total, "training", policy) as tick:
            try:
                result = train(
                    agent,
                    loaded,
                    store,
                    config,
                    resume=resume,
                    on_episode=tick,
                    reward_source=scorer,
                    user_model=user_model,
                )
            except RunFailedError as exc:
                if json_out:
                    print_json(exc.result.to_json())
                hint = f"{exc}, resume it with --resume {exc.result.run_id}"
                raise RunFailedError(hint, exc.result) from None
    _print_train(result, config, memory, json_out)


def _training_reward(
    config: RunConfig, suite: Suite, min_kappa: float | None
) -> TrainingReward | None:
    """The reward `--reward` names; a judge is loaded, and, with `--min-kappa`, calibrated
    on the suite's answer key first and refused below it."""
    kind, _, spec = config.reward.partition(":")
    if kind != "judge":
        if min_kappa is not None:
            raise BadInputError(
                "there is no judge to check (--reward judge:MODEL)", setting="min_kappa"
            )
        return training_reward(config.reward, config.seed)
    judge = load_judge(spec, tool_descriptions(suite.tools))
    if min_kappa is not None:
        calibration = calibrate_judge(judge, suite)
        say(
            f"judge {judge.name}: Cohen's kappa {calibration.kappa:.2f} with the answer key "
            f"over {calibration.total} decisions ({calibration.seconds:.0f} s)",
            err,
        )
        check_agreement(judge.name, calibration, min_kappa)
    return JudgedRewards(judge)


def _resumed(memory: str, run_id: str) -> tuple[RunConfig, float]:
    """The settings of the logged run to resume, and what it spent so far (read-only: an
    unknown or completed run changes nothing)."""
    with closing(open_memory(memory, read_only=True)) as store:
        return resumed_config(store, run_id)


def _reject_with_resume(ctx: typer.Context) -> None:
    """A resumed run keeps its own plan: options that would change it are refused."""
    for name in RESUME_FIXED:
        source = ctx.get_parameter_source(name)  # typer vendors click: compare by name
        if source is not None and source.name == "COMMANDLINE":
            flag = flag_of(name)
            raise BadInputError(f"{flag}: a resumed run keeps its own; drop {flag} or --resume")


def _print_train(result: TrainResult, config: RunConfig, memory: str, json_out: bool) -> None:
    if json_out:
        print_json(result.to_json())
    else:
        out.print(epoch_table(result.epochs))
        out.print(before_after_table(before_after(result.episodes)))
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
            f"reflexrl train --resume {result.run_id} --memory {memory_location(memory)}",
            err,
        )
        raise typer.Exit(3 if result.status == "stopped" else 1)


def _eval_flags(config: RunConfig) -> str:
    """The eval options that match a training run's lookup and holdout."""
    flags = "" if config.lookup == "exact" else f" --lookup {config.lookup}"
    return flags + (f" --holdout {config.holdout}" if config.holdout else "")
