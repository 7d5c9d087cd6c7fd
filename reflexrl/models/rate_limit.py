"""Requests-per-minute and tokens-per-minute limits over a sliding 60-second window.

A call reserves one request and an estimate of its tokens before it is sent, and settles the
estimate to the tokens actually used when it returns. The window logic is pure (`wait`): the
caller sleeps (`ModelCallMiddleware`, in a thread or on an event loop).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["WINDOW", "RateLimiter", "Reservation"]

WINDOW = 60.0


@dataclass
class Reservation:
    """One call in the window: when it was sent and the tokens it counts for."""

    at: float
    tokens: int

    def settle(self, tokens: int) -> None:
        """Count the tokens the call really used instead of the estimate."""
        self.tokens = tokens


@dataclass
class RateLimiter:
    """At most `rpm` requests and `tpm` tokens in any 60 s (None: no limit)."""

    rpm: int | None = None
    tpm: int | None = None
    clock: Callable[[], float] = time.monotonic
    _window: deque[Reservation] = field(default_factory=deque, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def wait(self, tokens: int) -> float | Reservation:
        """Seconds to wait before a call of `tokens` fits, or its reservation if it fits now."""
        with self._lock:
            now = self.clock()
            while self._window and self._window[0].at <= now - WINDOW:
                self._window.popleft()
            used = sum(r.tokens for r in self._window)
            full = self.rpm is not None and len(self._window) >= self.rpm
            over = self.tpm is not None and self._window and used + tokens > self.tpm
            if full or over:
                return self._window[0].at + WINDOW - now
            self._window.append(Reservation(now, tokens))
            return self._window[-1]
