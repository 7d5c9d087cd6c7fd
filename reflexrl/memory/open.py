"""`open_memory`: how every command and the Python API open a memory."""

from __future__ import annotations

from pathlib import Path

from langchain_core.embeddings import Embeddings

from ..errors import BadInputError
from .knn import DEFAULT_K, DEFAULT_THRESHOLD, KnnLookup
from .lookup import ExactLookup, Lookup
from .protocols import LookupKind, MemoryStore
from .sqlite.store import SQLiteMemory


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
    """Open a memory (today a SQLite file; ":memory:" for a throwaway one).

    Args:
        path: The memory file.
        lookup: "exact" (the paper's lookup table), "knn" (nearest stored prompts by
            embedding), or a `Lookup` object.
        embeddings: For "knn": any LangChain `Embeddings` (default: all-MiniLM-L6-v2, local).
            The file records the embedding model and refuses another one.
        k: For "knn": neighbours per prompt (default 5).
        threshold: For "knn": least cosine similarity of a neighbour (default 0.5).
        create: If False, a missing file raises `MemoryNotFoundError`.
        read_only: Change nothing (see `SQLiteMemory`).

    Raises:
        MemoryStoreError: not a usable memory, or built with another embedding model.
    """
    finder = (
        make_lookup(lookup, embeddings=embeddings, k=k, threshold=threshold)
        if isinstance(lookup, str)
        else lookup
    )
    return SQLiteMemory(path, create=create, read_only=read_only, lookup=finder)


def check_memory(path: str | Path, *, must_exist: bool = False) -> None:
    """Raise what opening `path` for writing would raise, and refuse a damaged file (every
    page is read: a run would otherwise append to it), creating and changing nothing."""
    SQLiteMemory.check(path, must_exist=must_exist, thorough=True)


def memory_files(path: str | Path) -> tuple[Path, ...]:
    """The files a memory at `path` is made of (database, side files, index folder)."""
    return SQLiteMemory.files(path)
