"""`open_memory`: how every command and the Python API open a memory: a path is a SQLite
file, a `postgresql://` (or `postgres://`) URL a PostgreSQL database (the `postgres` extra,
imported only then)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.embeddings import Embeddings

from ..errors import BadInputError, MemoryNotFoundError, MemoryStoreError
from .knn import DEFAULT_K, DEFAULT_THRESHOLD, KnnLookup
from .lookup import ExactLookup, Lookup
from .protocols import LookupKind, MemoryStore
from .sqlite.store import SQLiteMemory

if TYPE_CHECKING:
    from .postgres.store import PostgresMemory

__all__ = [
    "check_memory",
    "is_postgres_url",
    "make_lookup",
    "memory_exists",
    "memory_files",
    "memory_location",
    "open_memory",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(path: str | Path) -> bool:
    """Whether `path` names a PostgreSQL memory (a URL) rather than a SQLite file."""
    return isinstance(path, str) and path.lower().startswith(POSTGRES_SCHEMES)


def make_lookup(
    kind: LookupKind | str = "exact",
    *,
    embeddings: Embeddings | None = None,
    k: int | None = None,
    threshold: float | None = None,
) -> Lookup:
    """A lookup by name: `exact` (the prompt's own row) or `knn` (its nearest neighbours, by
    `embeddings`: the local all-MiniLM-L6-v2 by default)."""
    if kind == "exact":
        return ExactLookup()
    if kind != "knn":
        raise BadInputError(f"lookup: unknown lookup '{kind}' (choose exact or knn)")
    return KnnLookup(
        embeddings,
        k=DEFAULT_K if k is None else k,
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
    )


def open_memory(
    path: str | Path,
    *,
    lookup: LookupKind | Lookup = "exact",
    embeddings: Embeddings | None = None,
    k: int | None = None,
    threshold: float | None = None,
    create: bool = True,
    read_only: bool = False,
) -> MemoryStore:
    """Open a memory: a SQLite file (":memory:" for a throwaway one) or a PostgreSQL database.

    Args:
        path: The memory file, or a `postgresql://user:password@host:port/database` URL
            (see `PostgresMemory`; the password is never shown or stored).
        lookup: "exact" (the paper's lookup table), "knn" (nearest stored prompts by
            embedding), or a `Lookup` object.
        embeddings: For "knn": any LangChain `Embeddings` (default: all-MiniLM-L6-v2, local).
            The file records the embedding model and refuses another one.
        k: For "knn": neighbours per prompt (default 5).
        threshold: For "knn": least cosine similarity of a neighbour (default 0.5).
        create: If False, a missing file (a database without a memory) raises
            `MemoryNotFoundError`.
        read_only: Change nothing (see `SQLiteMemory`, `PostgresMemory`).

    Raises:
        MemoryStoreError: not a usable memory, or built with another embedding model; for
            a URL also an unreachable server or refused credentials.
    """
    finder = (
        make_lookup(lookup, embeddings=embeddings, k=k, threshold=threshold)
        if isinstance(lookup, str)
        else lookup
    )
    if is_postgres_url(path):
        return _postgres()(str(path), create=create, read_only=read_only, lookup=finder)
    return SQLiteMemory(path, create=create, read_only=read_only, lookup=finder)


def check_memory(path: str | Path, *, must_exist: bool = False) -> None:
    """Raise what opening `path` for writing would raise, and refuse a damaged file (every
    page is read: a run would otherwise append to it), creating and changing nothing. For
    a URL: connect, and check the database's schema without creating it."""
    if is_postgres_url(path):
        _postgres().check(str(path), must_exist=must_exist)
        return
    SQLiteMemory.check(path, must_exist=must_exist, thorough=True)


def memory_files(path: str | Path) -> tuple[Path, ...]:
    """The files a memory at `path` is made of (database, side files, index folder); none
    for a database on a server."""
    if is_postgres_url(path):
        return ()
    return SQLiteMemory.files(path)


def memory_exists(path: str | Path) -> bool:
    """Whether a memory is already there: a file (or anything else) at the path, or a
    reflexrl schema in the URL's database. Creates nothing.

    Raises:
        MemoryStoreError: for a URL, what `check_memory` raises (unreachable, refused, ...).
    """
    if not is_postgres_url(path):
        return Path(path).exists()
    try:
        check_memory(path, must_exist=True)
    except MemoryNotFoundError:
        return False
    return True


def memory_location(path: str | Path) -> str:
    """How messages show the memory at `path`: the path, or the URL without its password
    (which is then registered as a secret, so every error message redacts it too)."""
    if not is_postgres_url(path):
        return str(path)
    _postgres()  # a clear error if the extra is missing
    from .postgres.connect import location_of  # noqa: PLC0415  (the postgres extra)

    return location_of(str(path))


def _postgres() -> type[PostgresMemory]:
    """The Postgres store's class, or a clean error when its extra is not installed."""
    try:
        from .postgres.store import PostgresMemory  # noqa: PLC0415  (the postgres extra)
    except ImportError as exc:
        msg = (
            f"a PostgreSQL memory needs the postgres extra ({exc.name} is missing): "
            "pip install 'reflexrl[postgres]'"
        )
        raise MemoryStoreError(msg, setting="memory") from None
    return PostgresMemory
