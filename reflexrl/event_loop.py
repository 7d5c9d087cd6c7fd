"""The event loop behind reflexrl's blocking API (`train`, `evaluate`): one per thread, kept
open from one run to the next, on uvloop where it is installed.

Kept open because a chat model's HTTP client binds its connections to the loop of its first
request: with a fresh loop per run (`asyncio.run`), the second run of the same model would find
every pooled connection dead. The HTTP clients `load_model` makes are closed on it at exit.

On these loops, LangSmith's per-call trace setup runs inline while tracing is off (see
`_trace_setup`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import functools
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, Protocol, TypeVar

import langsmith
from langsmith.utils import tracing_is_enabled

T = TypeVar("T")
P = ParamSpec("P")


class AsyncClosable(Protocol):
    """An async client (an `httpx.AsyncClient`) with connections to close."""

    def aclose(self) -> Awaitable[None]: ...


C = TypeVar("C", bound=AsyncClosable)
_local = threading.local()
_runners: list[asyncio.Runner] = []
_clients: list[AsyncClosable] = []
_lock = threading.Lock()


def run(coro: Coroutine[Any, Any, T], *, threads: int = 0) -> T:
    """Run `coro` to completion on this thread's loop (Ctrl-C cancels it, as `asyncio.run`).

    `threads`: at least this many worker threads for the blocking calls the coroutine hands
    off (the agent's synchronous tools): asyncio's default pool has `cpu_count + 4`, which
    would make 32 concurrent episodes queue for their tools on a small machine.

    Raises:
        RuntimeError: called from a running event loop (there, await the coroutine instead).
    """
    runner: asyncio.Runner | None = getattr(_local, "runner", None)
    if runner is None:
        runner = asyncio.Runner(loop_factory=loop_factory())
        _local.runner = runner
        with _lock:
            if not _runners:
                atexit.register(_shutdown)
                _install_trace_setup()
            _runners.append(runner)
    _ensure_threads(runner, threads)
    try:
        return runner.run(_tracked(coro))
    except asyncio.CancelledError:
        if not getattr(_local, "interrupted", False):
            raise
        raise KeyboardInterrupt from None  # what Ctrl-C would have raised
    finally:
        _local.interrupted = False


def blocking(afunc: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """The blocking twin of the coroutine function `afunc` (same arguments, same
    documentation): it runs `afunc` on this thread's loop (`run`)."""

    @functools.wraps(afunc)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        return run(afunc(*args, **kwargs))

    return call


def reserve_threads(threads: int) -> None:
    """From a coroutine `run` is running: give its loop at least `threads` worker threads
    for the blocking calls it hands off (the agent's synchronous tools): asyncio's default
    pool has `cpu_count + 4`, which would make 32 concurrent episodes queue for their tools
    on a small machine. On another loop (the application's own) nothing changes."""
    runner: asyncio.Runner | None = getattr(_local, "runner", None)
    if runner is not None and runner.get_loop() is asyncio.get_running_loop():
        _ensure_threads(runner, threads)


async def _tracked(coro: Coroutine[Any, Any, T]) -> T:
    """`coro`, its task known to `interrupt` while it runs."""
    _local.task = asyncio.current_task()
    try:
        return await coro
    finally:
        _local.task = None


def interrupt() -> None:
    """Do what Ctrl-C does, from a signal handler on this thread, whatever SIGINT's handler
    is: cancel the coroutine `run` is running (its code sees `CancelledError` and cleans up;
    `run` then raises `KeyboardInterrupt`), or raise `KeyboardInterrupt` when none is.

    asyncio's runner cancels its task on SIGINT only when SIGINT has Python's default
    handler; a job started with `&` from a script ignores SIGINT, and there a
    `KeyboardInterrupt` raised from inside the loop's own code would leave the loop broken
    and the run unrecorded.
    """
    task: asyncio.Task[Any] | None = getattr(_local, "task", None)
    if task is None or task.done() or getattr(_local, "interrupted", False):
        raise KeyboardInterrupt
    _local.interrupted = True
    task.cancel()
    task.get_loop().call_soon_threadsafe(lambda: None)  # wake the loop if it is waiting


def _ensure_threads(runner: asyncio.Runner, threads: int) -> None:
    """Give the loop a default executor with at least `threads` workers (started lazily)."""
    if threads <= getattr(_local, "threads", 0):
        return
    old: ThreadPoolExecutor | None = getattr(_local, "executor", None)
    _local.executor, _local.threads = ThreadPoolExecutor(threads, "reflexrl"), threads
    runner.get_loop().set_default_executor(_local.executor)
    if old is not None:
        old.shutdown(wait=False)


def close_at_exit(client: C) -> C:
    """`client`, to be closed on reflexrl's loop when the interpreter exits."""
    with _lock:
        _clients.append(client)
    return client


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop if it is installed (less CPU per callback with many episodes in flight),
    else asyncio's default."""
    try:
        import uvloop  # noqa: PLC0415  (optional: not on Windows)
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _trace_setup(
    default: Callable[..., Awaitable[Any]],
    ctx: contextvars.Context,
    func: Callable[..., Any],
    /,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """LangSmith runs the setup of every traced call (each middleware hook of an agent) in a
    worker thread so that tracing never blocks the loop. With tracing off the setup is a few
    microseconds of CPU, and the thread hop, twice per model call, costs more than the call's
    own bookkeeping: on reflexrl's loops it then runs inline. Anywhere else, or with tracing
    on, LangSmith's default applies."""
    runner: asyncio.Runner | None = getattr(_local, "runner", None)
    mine = runner is not None and runner.get_loop() is asyncio.get_running_loop()
    if mine and not tracing_is_enabled():
        return ctx.run(func, *args, **kwargs)
    return await default(ctx, func, *args, **kwargs)


def _install_trace_setup() -> None:
    """Install `_trace_setup`, unless the application set its own override."""
    try:
        from langsmith._runtime_overrides import get_runtime_overrides  # noqa: PLC0415
    except ImportError:  # another LangSmith: leave it as it is
        return
    if get_runtime_overrides().aio_to_thread is None:
        langsmith.set_runtime_overrides(aio_to_thread=_trace_setup)


async def _aclose(client: AsyncClosable) -> None:
    await client.aclose()


def _shutdown() -> None:
    """At exit: close the clients on this (the main) thread's loop, then every loop."""
    runner: asyncio.Runner | None = getattr(_local, "runner", None)
    for client in _clients:
        with contextlib.suppress(Exception):  # used on another loop, now closed: nothing to do
            if runner is not None:
                runner.run(_aclose(client))
    for each in _runners:
        with contextlib.suppress(Exception):
            each.close()
