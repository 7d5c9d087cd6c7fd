"""Resuming a logged run: which run, whether its plan still holds, and its settings."""

from __future__ import annotations

from ..errors import BadInputError
from ..memory import MemoryStore
from ..records import RunInfo
from .config import RunConfig
from .metrics import total_usage

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
    "reward",
    "user",
)
"""The settings a resumed run keeps from its log (the rest, e.g. concurrency, may change)."""


def resume_info(memory: MemoryStore, run_id: str) -> RunInfo:
    """The logged run to resume (its suite, model, seed, epochs, max_steps and settings)."""
    runs = {r.run_id: r for r in memory.runs()}
    if run_id not in runs:
        raise BadInputError(f"no run '{run_id}' in {memory.location}", setting="resume")
    return runs[run_id]


def check_resumable(memory: MemoryStore, run: RunInfo) -> RunInfo:
    """The logged run `run.run_id`, if it can be resumed with `run`'s plan.

    Raises:
        BadInputError: no such run, it already completed, or its plan differs.
    """
    logged = resume_info(memory, run.run_id)
    if logged.status == "completed":
        raise BadInputError(f"run {run.run_id} already completed", setting="resume")
    mine = (run.suite, run.seed, run.epochs, run.max_steps, run.settings.get("holdout", 0))
    theirs = (
        logged.suite,
        logged.seed,
        logged.epochs,
        logged.max_steps,
        logged.settings.get("holdout", 0),
    )
    if mine != theirs:
        msg = (
            f"run {run.run_id} was planned with suite, seed, epochs, max_steps, "
            f"holdout {theirs}, not {mine}"
        )
        raise BadInputError(msg, setting="resume")
    return logged


def resumed_config(memory: MemoryStore, run_id: str) -> tuple[RunConfig, float]:
    """The settings of the logged run `run_id`, as a run of its model gets them (a setting
    the log leaves unset takes the model's default), and what the run spent so far.

    Raises:
        BadInputError: no such run, or it already completed.
    """
    logged = check_resumable(memory, resume_info(memory, run_id))
    spent = total_usage([*memory.episodes(run_id), *memory.failures(run_id)]).cost or 0.0
    settings = RunConfig.from_json(logged.settings).to_json()
    settings.update(seed=logged.seed, epochs=logged.epochs, max_steps=logged.max_steps)
    if "suite" not in logged.settings and "suite_source" not in logged.settings:
        settings["suite"] = logged.suite
    del settings["model"]
    return RunConfig.for_model(logged.model, **settings), spent
