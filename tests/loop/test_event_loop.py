"""reflexrl's event loop: kept between runs, sized for concurrent tools, trace setup inline."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import langsmith
import pytest

from reflexrl import event_loop


def test_the_loop_is_kept_from_one_run_to_the_next() -> None:
    async def current() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    first = event_loop.run(current())
    assert event_loop.run(current()) is first and not first.is_closed()


def test_enough_worker_threads_for_every_concurrent_blocking_call() -> None:
    """40 blocking calls must all be running at once: the barrier opens only then (a pool of
    asyncio's default size would leave it broken after its timeout)."""
    barrier = threading.Barrier(40, timeout=10)

    async def forty() -> None:
        await asyncio.gather(*(asyncio.to_thread(barrier.wait) for _ in range(40)))

    event_loop.run(forty(), threads=40)
    assert not barrier.broken


def _default_in_a_thread(calls: list[str]):  # type: ignore[no-untyped-def]
    async def default(ctx, func, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("thread")
        return await asyncio.to_thread(ctx.run, func, *args, **kwargs)

    return default


async def _setup_thread(calls: list[str], tracing: bool) -> int:
    with langsmith.tracing_context(enabled=tracing):
        ctx = contextvars.copy_context()
        default = _default_in_a_thread(calls)
        return await event_loop._trace_setup(default, ctx, threading.get_ident)


@pytest.mark.parametrize(
    ("runner", "tracing", "inline"),
    [("reflexrl", False, True), ("reflexrl", True, False), ("asyncio", False, False)],
)
def test_trace_setup_runs_inline_only_on_reflexrl_loops_with_tracing_off(
    runner: str, tracing: bool, inline: bool
) -> None:
    calls: list[str] = []
    run = event_loop.run if runner == "reflexrl" else asyncio.run
    thread = run(_setup_thread(calls, tracing))
    assert (thread == threading.get_ident()) is inline
    assert calls == ([] if inline else ["thread"])
