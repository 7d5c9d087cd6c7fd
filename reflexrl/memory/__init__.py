"""The value memory: protocols, the credit rule, lookups (exact, kNN) and stores.

Open a memory with `open_memory(path, lookup="exact" | "knn")`; every store implements
`MemoryStore` and passes the same conformance tests.
"""

from .advice import Advice, advice_for, advise
from .credit import RewardCredit, credits
from .history import Point, RowChange, diff, sort_rows
from .knn import KnnLookup
from .lookup import ActionEstimate, ExactLookup, Lookup, best_estimated, estimate
from .open import LOOKUPS, check_memory, make_lookup, memory_files, open_memory
from .protocols import (
    EpisodeWriter,
    LookupKind,
    MemoryHistory,
    MemoryReader,
    MemoryStore,
    Neighbour,
    RunLog,
    SortKey,
)
from .sqlite_table import RewardTable

__all__ = [
    "LOOKUPS",
    "ActionEstimate",
    "Advice",
    "EpisodeWriter",
    "ExactLookup",
    "KnnLookup",
    "Lookup",
    "LookupKind",
    "MemoryHistory",
    "MemoryReader",
    "MemoryStore",
    "Neighbour",
    "Point",
    "RewardCredit",
    "RewardTable",
    "RowChange",
    "RunLog",
    "SortKey",
    "advice_for",
    "advise",
    "best_estimated",
    "check_memory",
    "credits",
    "diff",
    "estimate",
    "make_lookup",
    "memory_files",
    "open_memory",
    "sort_rows",
]
