"""A disk cache of the local model's scores, for a measurement run again with one rule changed.

Choosing an advice rule runs the same online measurement once per variant, and most of what
the local model reads (a request and its memory block) is the same in every one. A local
model's scores are a function of the text it reads (`PrefixScorer.score`: log-likelihoods,
no sampling), so they can be kept in a SQLite file keyed by the model file and that text, and
shared by the runs of every variant: an online run then takes seconds instead of about 50.
The numbers are the ones the model gives: with the cache, the seeds 0-2 of the report of
`online-choice/tied-ask/` and the seeds 3-5 of `online-local-smollm2.*` came out the same
request by request. Only what the model reads is cached; the agent, the memory and the
feedback run as they do without it.

    python evals/online.py --score-cache /tmp/scores.db ...
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reflexrl.models.local.scoring import PrefixScorer


def install(path: Path) -> None:
    """Route every `PrefixScorer.score` of this process through the cache file at `path`."""
    scores = _ScoreFile(path)
    original = PrefixScorer.score

    def score(self: PrefixScorer, prompt: str, continuations: Sequence[str]) -> dict[str, float]:
        model = str(getattr(self.llama, "model_path", ""))
        key = hashlib.sha256(json.dumps([model, prompt, list(continuations)]).encode()).hexdigest()
        found = scores.get(key)
        if found is None:
            found = original(self, prompt, continuations)
            scores.put(key, found)
        return found

    PrefixScorer.score = score  # type: ignore[method-assign]


class _ScoreFile:
    """Scores by key in SQLite (WAL: the runs of `--jobs` share it)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, timeout=60, check_same_thread=False)
        self._db.execute("pragma journal_mode=wal")
        self._db.execute("create table if not exists scores (key text primary key, value text)")
        self._db.commit()
        self._lock = threading.Lock()  # one connection, shared by the threads of a run

    def get(self, key: str) -> dict[str, float] | None:
        with self._lock:
            row = self._db.execute("select value from scores where key = ?", (key,)).fetchone()
        return None if row is None else _loads(row[0])

    def put(self, key: str, value: dict[str, float]) -> None:
        with self._lock:
            row = (key, json.dumps(value))
            self._db.execute("insert or replace into scores values (?, ?)", row)
            self._db.commit()


def _loads(text: str) -> dict[str, float]:
    found: Any = json.loads(text)
    return {str(k): float(v) for k, v in found.items()}
