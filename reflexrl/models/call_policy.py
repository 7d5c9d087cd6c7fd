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
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage

from ..envs.context import EpisodeContext, current_episode
from ..usage import Price, Usage, message_usage
from .budget import Budget
from .rate_limit import RateLimiter, Reservation
from .response_cache import ResponseCache, request_key
from .retry import RetryPolicy

__all__ = ["ModelCallMiddleware"]


@dataclass
class _Call:
    """The bookkeeping of one model call across its attempts."""

    key: str | None
    """Its response cache key (None: no cache)."""
    tokens: int
    """Its estimated tokens, for the TPM limit."""
    episode: EpisodeContext | None
    """The episode its usage counts in: looked up once, as a call never leaves its run."""
    attempt: int = 0
    reserved: float | None = None
    """Budget held for the attempt being made (None: not admitted yet)."""
    slot: Reservation | None = None
    backoff: float | None = None
    """Seconds to wait before the next attempt, after a failed one."""


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
        call = self._start(request)
        response = self._cached(call)
        while response is None:
            while (delay := self._wait(call)) is not None:
                time.sleep(delay)
            try:
                response = self._done(call, handler(request))
            except Exception as exc:
                self._failed(call, exc)
        return response

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> ModelResponse:
        """Async twin of `wrap_model_call`: waits with `asyncio.sleep`."""
        call = self._start(request)
        response = self._cached(call)
        while response is None:
            while (delay := self._wait(call)) is not None:
                await asyncio.sleep(delay)
            try:
                response = self._done(call, await handler(request))
            except Exception as exc:
                self._failed(call, exc)
        return response

    def _start(self, request: ModelRequest) -> _Call:
        key = request_key(self.spec, request) if self.cache is not None else None
        tokens = _estimate(request) if self.limiter is not None else 0
        return _Call(key, tokens, current_episode())

    def _cached(self, call: _Call) -> ModelResponse | None:
        message = self.cache.get(call.key) if self.cache and call.key else None
        if message is None:
            return None
        self._add(call, Usage(cached_responses=1))
        return ModelResponse(result=[message])

    def _wait(self, call: _Call) -> float | None:
        """Seconds to sleep before the next attempt may be sent, or None: send it now.

        Never sleeps itself, so that the blocking and the async hook differ only in how they
        wait: a failed attempt's backoff first, then the budget admits the attempt (raises
        `BudgetExceededError`), then the rate limiter holds it until it fits.
        """
        if call.backoff is not None:
            delay, call.backoff = call.backoff, None
            return delay
        if call.reserved is None:
            call.reserved = self.budget.reserve() if self.budget is not None else 0.0
        if self.limiter is None:
            return None
        fits = self.limiter.wait(call.tokens)
        if not isinstance(fits, Reservation):
            return fits
        call.slot = fits
        return None

    def _done(self, call: _Call, response: ModelResponse) -> ModelResponse:
        reply = next((m for m in response.result if isinstance(m, AIMessage)), None)
        usage = message_usage(reply) if reply is not None else Usage(calls=1)
        usage = replace(usage, cost=None if self.price is None else self.price.cost(usage))
        if self.budget is not None:  # settled once: a failure after this releases nothing
            reserved, call.reserved = call.reserved or 0.0, None
            self.budget.settle(reserved, usage.cost or 0.0)
        if call.slot is not None:
            call.slot.settle(usage.input_tokens + usage.output_tokens)
        if self.cache is not None and call.key and reply is not None:
            self.cache.put(call.key, self.spec, reply)
        self._add(call, usage)
        return response

    def _failed(self, call: _Call, exc: Exception) -> None:
        """Schedule the next attempt after a backoff; re-raise when it is not worth one."""
        if self.budget is not None:
            self.budget.settle(call.reserved or 0.0, 0.0)
        delay = self.retry.delay(call.attempt, exc)
        if delay is None:
            raise exc
        self._add(call, Usage(retries=1))
        call.attempt, call.reserved, call.backoff = call.attempt + 1, None, delay

    def _add(self, call: _Call, usage: Usage) -> None:
        with self._lock:
            self.totals = self.totals + usage
            if call.episode is not None:
                call.episode.usage = call.episode.usage + usage


def _estimate(request: ModelRequest) -> int:
    """A rough token count of a request (4 characters a token), for the TPM limit."""
    chars = sum(len(str(m.content)) for m in request.messages)
    if request.system_message is not None:
        chars += len(str(request.system_message.content))
    return chars // 4 + 100 * len(request.tools)
