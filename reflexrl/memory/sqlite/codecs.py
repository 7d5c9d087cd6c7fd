"""How the SQLite memory stores records as rows, and reads them back.

One `Codec` per table says what differs between a record and its row (a column named
otherwise, a field stored as JSON or as 0/1); every other field is its column, unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ...records import Decision, Episode, Failure, MemoryRow, PendingEpisode, RunInfo, Step
from ...safety.redaction import redact, redact_error
from ...safety.text import for_storage
from ...usage import Usage

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "EPISODES",
    "FAILURES",
    "MEMORY",
    "PENDING",
    "RUNS",
    "STEPS",
    "Codec",
    "storable",
    "suite_filter",
]

R = TypeVar("R", bound="DataclassInstance")
Convert = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Codec(Generic[R]):
    """How records of one type are stored as rows of their table.

    A field is stored in the column of its name unless `renamed` names another, converted
    by `dump` when written and by `load` when read where its stored form differs. Fields in
    `elsewhere` live in other tables (an episode's steps, a row's actions): `to_row` leaves
    them out and `from_row` takes them from its caller.
    """

    kind: type[R]
    renamed: Mapping[str, str] = field(default_factory=dict)
    dump: Mapping[str, Convert] = field(default_factory=dict)
    load: Mapping[str, Convert] = field(default_factory=dict)
    elsewhere: frozenset[str] = frozenset()

    def to_row(self, record: R, **columns: Any) -> dict[str, Any]:
        """The row of `record`; `columns` adds the columns no field holds, or overrides."""
        row = {
            self.renamed.get(name, name): self.dump.get(name, _same)(getattr(record, name))
            for name in self._stored()
        }
        return row | columns

    def from_row(self, row: Mapping[str, Any], **given: Any) -> R:
        """The record `row` holds; `given` supplies the fields kept elsewhere."""
        values = {
            name: self.load.get(name, _same)(row[self.renamed.get(name, name)])
            for name in self._stored()
        }
        return self.kind(**values, **given)

    def _stored(self) -> list[str]:
        return [f.name for f in fields(self.kind) if f.name not in self.elsewhere]


def _json_usage(usage: Usage) -> str:
    return json.dumps(usage.to_json())


def _usage(text: str) -> Usage:
    return Usage.from_json(json.loads(text))


def _redacted_json(value: Any) -> str:
    """JSON of model-written or user-given data, keys and tokens redacted."""
    return redact(json.dumps(value, default=str))


EPISODES: Codec[Episode] = Codec(
    Episode,
    renamed={"index": "episode_index"},
    dump={
        "messages": lambda m: _redacted_json(list(m)),
        "memory_blocks": lambda b: json.dumps(list(b)),
        "usage": _json_usage,
    },
    load={
        "explored": bool,
        "messages": lambda text: tuple(json.loads(text)),
        "memory_blocks": lambda text: tuple(json.loads(text)),
        "usage": _usage,
    },
    elsewhere=frozenset({"steps"}),
)

STEPS: Codec[Step] = Codec(
    Step,
    renamed={"index": "step_index"},
    dump={"args": lambda a: _redacted_json(dict(a))},
    load={"args": json.loads, "valid": bool, "also_prompt": bool},
)

MEMORY: Codec[MemoryRow] = Codec(MemoryRow, elsewhere=frozenset({"actions"}))

FAILURES: Codec[Failure] = Codec(
    Failure,
    renamed={"index": "episode_index"},
    dump={"error": redact_error, "usage": _json_usage},
    load={"usage": _usage},
)

RUNS: Codec[RunInfo] = Codec(
    RunInfo,
    dump={"settings": lambda s: redact(json.dumps(dict(s), sort_keys=True))},
    load={"settings": json.loads},
)


def _dump_decisions(decisions: tuple[Decision, ...]) -> str:
    return _redacted_json([{**vars(d), "args": dict(d.args)} for d in decisions])


def _load_decisions(text: str) -> tuple[Decision, ...]:
    return tuple(Decision(**d) for d in json.loads(text))


PENDING: Codec[PendingEpisode] = Codec(
    PendingEpisode,
    dump={
        "decisions": _dump_decisions,
        "proposed": lambda p: json.dumps({str(i): r for i, r in p.items()}),
    },
    load={
        "decisions": _load_decisions,
        "proposed": lambda text: {int(i): r for i, r in json.loads(text).items()},
    },
)


def storable(params: list[Any]) -> list[Any]:
    """Query parameters with every string as SQLite can hold it (see `for_storage`)."""
    return [for_storage(p) if isinstance(p, str) else p for p in params]


def suite_filter(suite: str | None) -> tuple[str, list[Any]]:
    """The `WHERE` clause and parameters that keep one suite's rows (None: every row)."""
    return ("WHERE suite = ?", [suite]) if suite else ("", [])
