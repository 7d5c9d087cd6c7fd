"""`ModelCallMiddleware`: every model call of an agent retried, rate-limited, budgeted, metered
and (optionally) answered from a response cache.

Order of a call: the response cache (a hit costs nothing and skips the rest); the budget
(`--max-cost`); the rate limiter (RPM/TPM); the provider, retried on 429/5xx/timeouts with
backoff; then the reply's tokens and cost are added to the episode's `usage` and the
middleware's `totals`. Put it after `ReflexMiddleware` so that the request it sees (and
caches by) carries the memory block.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage

from ..envs.context import current_episode
from ..usage import Price, Usage, message_usage
from .budget import Budget
from .rate_limit import RateLimiter, Reservation
from .response_cache import ResponseCache, request_key
from .retry import RetryPolicy


@dataclass
class _Call:
    """The bookkeeping of one model call across its attempts."""

    key: str | None
    reserved: float = 0.0
    slot: Reservation | None = None


class ModelCallMiddleware(AgentMiddleware):
    """Resilient, metered model calls (see the module docstring).

    Args:
        spec: The model spec (labels cache entries and is part of their key).
        retry: Backoff policy for transient failures.
        limiter: Requests- and tokens-per-minute limits, shared by every episode.
        budget: Spending limit (needs `price`).
        price: Prices per token (None: unknown, costs are reported as unknown).
        cache: Response cache; None disables it.
    """

    def __init__(
        self,
        spec: str = "",
        *,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        budget: Budget | None = None,
        price: Price | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self.budget = budget
        self.price = price
        self.cache = cache
        self.totals = Usage()
        self._lock = threading.Lock()

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> ModelResponse:
        """Call the model (blocking), with the policy of the module docstring."""
        call = _Call(self._key(request))
        if (hit := self._cached(call)) is not None:
            return hit
        for attempt in itertools.count():
            self._reserve(call)
            if self.limiter is not None:
                call.slot = self.limiter.acquire_blocking(_estimate(request))
            try:
                return self._done(call, handler(request))
            except Exception as exc:
                time.sleep(self._failed(call, attempt, exc))
        raise AssertionError("unreachable")

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> ModelResponse:
        """Async twin of `wrap_model_call`: waits with `asyncio.sleep`."""
        call = _Call(self._key(request))
        if (hit := self._cached(call)) is not None:
            return hit
        for attempt in itertools.count():
            self._reserve(call)
            if self.limiter is not None:
                call.slot = await self.limiter.acquire(_estimate(request))
            try:
                return self._done(call, await handler(request))
            except Exception as exc:
                await asyncio.sleep(self._failed(call, attempt, exc))
        raise AssertionError("unreachable")

    def _key(self, request: ModelRequest) -> str | None:
        return request_key(self.spec, request) if self.cache is not None else None

    def _cached(self, call: _Call) -> ModelResponse | None:
        message = self.cache.get(call.key) if self.cache and call.key else None
        if message is None:
            return None
        self._add(Usage(cached_responses=1))
        return ModelResponse(result=[message])

    def _reserve(self, call: _Call) -> None:
        """Admit one attempt under the budget (raises `BudgetExceededError`)."""
        call.reserved = self.budget.reserve() if self.budget is not None else 0.0

    def _done(self, call: _Call, response: ModelResponse) -> ModelResponse:
        reply = next((m for m in response.result if isinstance(m, AIMessage)), None)
        usage = message_usage(reply) if reply is not None else Usage(calls=1)
        usage = replace(usage, cost=None if self.price is None else self.price.cost(usage))
        if self.budget is not None:
            self.budget.settle(call.reserved, usage.cost or 0.0)
        if call.slot is not None:
            call.slot.settle(usage.input_tokens + usage.output_tokens)
        if self.cache is not None and call.key and reply is not None:
            self.cache.put(call.key, self.spec, reply)
        self._add(usage)
        return response

    def _failed(self, call: _Call, attempt: int, exc: Exception) -> float:
        """Seconds to wait before the next attempt; re-raises when it is not worth one."""
        if self.budget is not None:
            self.budget.settle(call.reserved, 0.0)
        delay = self.retry.delay(attempt, exc)
        if delay is None:
            raise exc
        self._add(Usage(retries=1))
        return delay

    def _add(self, usage: Usage) -> None:
        with self._lock:
            self.totals = self.totals + usage
            ctx = current_episode()
            if ctx is not None:
                ctx.usage = ctx.usage + usage


def _estimate(request: ModelRequest) -> int:
    """A rough token count of a request (4 characters a token), for the TPM limit."""
    chars = sum(len(str(m.content)) for m in request.messages)
    if request.system_message is not None:
        chars += len(str(request.system_message.content))
    return chars // 4 + 100 * len(request.tools)
