"""An opt-in cache of model replies, keyed by the full request, for reproducible reruns.

The key is a SHA-256 of everything that decides a reply: the model spec and its sampling
parameters, the system message (memory block included), every message in the provider's wire
shape, the tools' schemas and the tool choice. A rerun that sends the same requests gets the
same replies without calling the provider (nothing spent, nothing rate-limited).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain.agents.middleware import ModelRequest
from langchain_core.messages import (
    AIMessage,
    convert_to_openai_messages,
    messages_from_dict,
    messages_to_dict,
)
from langchain_core.utils.function_calling import convert_to_openai_tool

from ..errors import MemoryStoreError
from ..files.sqlite import ReadOnlyFile, check_path
from ..safety.redaction import redact

__all__ = ["HIT", "ResponseCache", "request_key"]

HIT = "reflexrl_response_cache"
"""`response_metadata` key set on a reply that came from the cache."""


def request_key(spec: str, request: ModelRequest) -> str:
    """The cache key of a model request (see module docstring)."""
    messages = list(request.messages)
    if request.system_message is not None:
        messages.insert(0, request.system_message)
    tools = [t if isinstance(t, dict) else convert_to_openai_tool(t) for t in request.tools]
    payload = {
        "spec": spec,
        "params": _params(request.model),
        "settings": request.model_settings,
        "messages": convert_to_openai_messages(messages),
        "tools": tools,
        "tool_choice": request.tool_choice,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _params(model: Any) -> dict[str, Any]:
    getter = getattr(model, "_get_ls_params", None)
    return dict(getter()) if callable(getter) else {"type": type(model).__name__}


WHAT = "response cache"
TABLE = "responses"


class ResponseCache:
    """Model replies in a SQLite file, one row per request key."""

    @staticmethod
    def check(path: str | Path) -> None:
        """Raise `MemoryStoreError`/`BadInputError` if `path` cannot be a response cache (a
        directory, a folder that is a file, a file that is not one). Changes nothing."""
        path = Path(path)
        check_path(path, must_exist=False, what=WHAT)
        if not path.exists():
            return
        file = ReadOnlyFile(path, WHAT)
        try:
            found = {r[0] for r in file.first.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as exc:
            raise file.unusable(exc) from exc
        finally:
            file.close()
        if found and TABLE not in found:
            raise MemoryStoreError(f"{path}: not a reflexrl {WHAT} (no table {TABLE})")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.check(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, spec TEXT NOT NULL,"
                " message TEXT NOT NULL, created_at TEXT NOT NULL)"
            )
        except sqlite3.DatabaseError as exc:
            raise MemoryStoreError(f"{self.path}: not a usable response cache ({exc})") from exc

    def get(self, key: str) -> AIMessage | None:
        """The cached reply for `key` (with a fresh id, marked as a cache hit), or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT message FROM responses WHERE key = ?", [key]
            ).fetchone()
        if row is None:
            return None
        (message,) = messages_from_dict(json.loads(row[0]))
        assert isinstance(message, AIMessage)
        metadata = {**message.response_metadata, HIT: True}
        return message.model_copy(
            update={"id": f"cached-{uuid.uuid4()}", "response_metadata": metadata}
        )

    def put(self, key: str, spec: str, message: AIMessage) -> None:
        """Store a reply (secrets redacted)."""
        text = redact(json.dumps(messages_to_dict([message]), default=str))
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", [key, spec, text, now]
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Close the file."""
        self._conn.close()
