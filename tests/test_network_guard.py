"""The autouse guard in conftest.py: no test can reach past the loopback, whatever the loop."""

from __future__ import annotations

import asyncio

import aiohttp
import httpx
import pytest

from reflexrl import event_loop

OFF_LOOPBACK = "http://192.0.2.1:80/"  # TEST-NET-1: documentation only, never routed


async def _httpx_get() -> None:
    async with httpx.AsyncClient() as client:
        await client.get(OFF_LOOPBACK, timeout=2)


async def _aiohttp_get() -> None:
    async with aiohttp.ClientSession() as session:
        await session.get(OFF_LOOPBACK, timeout=aiohttp.ClientTimeout(total=2))


@pytest.mark.parametrize("client", [_httpx_get, _aiohttp_get])
@pytest.mark.parametrize("runner", ["reflexrl", "asyncio"])
def test_the_guard_stops_async_clients_on_every_loop(client, runner) -> None:  # type: ignore[no-untyped-def]
    run = event_loop.run if runner == "reflexrl" else asyncio.run
    with pytest.raises(BaseException) as caught:
        run(client())
    assert _stopped_by_guard(caught.value), caught.value


def _stopped_by_guard(exc: BaseException) -> bool:
    """The guard's failure, possibly inside the exception group of a happy-eyeballs connect."""
    if isinstance(exc, BaseExceptionGroup):
        return any(_stopped_by_guard(e) for e in exc.exceptions)
    return isinstance(exc, pytest.fail.Exception) and "tried to reach the network" in str(exc)
