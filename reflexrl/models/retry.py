"""When and how long to wait before retrying a failed model call.

Retried: HTTP 408, 409, 429 and 5xx answers (Anthropic's 529 "overloaded" included), timeouts
and connection errors, as the OpenAI, Anthropic and LiteLLM clients raise them. The wait is
exponential with full jitter, and never shorter than the server's `retry-after`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = [
    "RETRY_STATUS",
    "TRANSIENT_NAMES",
    "RetryPolicy",
    "is_transient",
    "retry_after",
    "status_of",
]

RETRY_STATUS = frozenset({408, 409, 429})
TRANSIENT_NAMES = (
    "Timeout",
    "TimeoutError",
    "APIConnectionError",
    "ConnectError",
    "ConnectionError",
)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter.

    Args:
        retries: Retries after the first attempt (0: never retry).
        base_delay: Seconds of the first backoff window; it doubles with every retry.
        max_delay: Cap of a backoff window (a longer `retry-after` is still honoured).
    """

    retries: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempt: int, exc: BaseException) -> float | None:
        """Seconds to wait before retry number `attempt + 1`, or None: give up and raise."""
        if attempt >= self.retries or not is_transient(exc):
            return None
        window = min(self.max_delay, self.base_delay * 2**attempt)
        return max(self.rng.uniform(0.0, window), retry_after(exc) or 0.0)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an SDK exception carries, if any."""
    for holder in (exc, getattr(exc, "response", None)):
        status = getattr(holder, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: rate limits, server errors, timeouts, dropped connections."""
    status = status_of(exc)
    if status is not None:
        return status in RETRY_STATUS or status >= 500
    names = [cls.__name__ for cls in type(exc).__mro__]
    return isinstance(exc, TimeoutError | ConnectionError) or any(
        part in name for name in names for part in TRANSIENT_NAMES
    )


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked to wait (`retry-after-ms` or `retry-after`), if it did."""
    headers = _headers(exc)
    if headers is None:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        return _seconds(ms, 1000.0)
    value = headers.get("retry-after")
    return None if value is None else _seconds(value, 1.0)


def _headers(exc: BaseException) -> Any:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return headers if headers is not None else getattr(exc, "litellm_response_headers", None)


def _seconds(value: str, per_second: float) -> float | None:
    try:
        return max(0.0, float(value) / per_second)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
