"""`reflexrl feedback`: a late reward for an invocation of an agent that learns (`learn=True`)."""

from __future__ import annotations

from contextlib import closing
from typing import Annotated

import typer

from ..memory import memory_location, open_memory
from ..rewards.online import feedback
from .common import DEFAULT_MEMORY, JsonOpt, MemoryOpt, cli_errors, print_json, say


@cli_errors
def feedback_cmd(
    run_id: Annotated[
        str, typer.Argument(help="The invocation's run id (the state's reflexrl_run_id).")
    ],
    score: Annotated[
        float,
        typer.Option(
            help="The reward, from -1 (the wrong tool) to 1 (the right one).", show_default=False
        ),
    ],
    memory: MemoryOpt = DEFAULT_MEMORY,
    step: Annotated[
        int | None,
        typer.Option(help="Score this decision (0: the first); default: the last tool call."),
    ] = None,
    key: Annotated[
        str, typer.Option(help="What is scored (LangSmith's feedback key); one credit per run.")
    ] = "user_score",
    comment: Annotated[str | None, typer.Option(help="Kept with the feedback.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Credit an invocation an agent logged with learn=True, once.

    The same feedback again (a retry, another process) credits nothing and says so. An
    unknown run id, or one that expired before its feedback, is an error.

    Example: reflexrl feedback 7f9c0e1a-... --score 1 --memory memory/prod.db
    """
    with closing(open_memory(memory, create=False)) as store:
        done = feedback(store, run_id, score, step=step, key=key, comment=comment)
    if json_out:
        print_json(
            {
                "run_id": done.run_id,
                "credited": done.credited,
                "settled_by": done.settled_by,
                "rewards": {str(i): r for i, r in done.rewards.items()},
            }
        )
    elif done.credited:
        say(f"credited {len(done.rewards)} decision(s) of {run_id} in {memory_location(memory)}")
    else:
        say(f"{run_id} was already credited (by {done.settled_by}); nothing changed")
