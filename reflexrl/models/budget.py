"""A run's budget (`max_cost`): stop spending before a run goes over it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..errors import BudgetExceededError

__all__ = ["Budget"]


@dataclass
class Budget:
    """A spending limit in USD, checked before every model call.

    A call is admitted only if what was spent, plus what admitted calls still in flight may
    cost, plus this call, stays within the limit; a call is estimated at the most expensive
    call seen so far (the first calls, with nothing seen yet, are estimated at zero).

    Args:
        limit: USD.
        spent: USD already spent (by the earlier sessions of a resumed run).
    """

    limit: float
    spent: float = 0.0
    largest_call: float = 0.0
    reserved: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def reserve(self) -> float:
        """Admit one call and return the amount reserved for it.

        Raises:
            BudgetExceededError: the call could take the run over its limit.
        """
        with self._lock:
            need = self.largest_call
            if self.spent + self.reserved + need > self.limit or self.spent >= self.limit:
                msg = f"${self.spent:.4f} of ${self.limit:.4f} spent, stopping"
                raise BudgetExceededError(msg)
            self.reserved += need
            return need

    def settle(self, reserved: float, cost: float) -> None:
        """Release a reservation and charge what the call cost."""
        with self._lock:
            self.reserved -= reserved
            self.spent += cost
            self.largest_call = max(self.largest_call, cost)
