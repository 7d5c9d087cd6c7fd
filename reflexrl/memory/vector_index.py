"""Nearest-neighbour search over unit vectors, by cosine similarity (their inner product).

Three indexes with one interface (`VectorIndex`): `ExactIndex` (numpy, exact, the default up
to tens of thousands of vectors), `AnnIndex` (an HNSW graph from usearch, approximate, for
millions) and `AutoIndex` (exact, then HNSW past a size). Ids are non-negative ints, unique per
index; the caller maps them to its rows. Vectors are float32 rows of unit length (see
`reflexrl.memory.embeddings.as_unit_matrix`); the indexes do not normalize them.

usearch comes with the `knn` extra and is imported only when an `AnnIndex` is built.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from ..errors import BadInputError
from ..files.atomic import replacing

INSTALL_HINT = "pip install 'reflexrl[knn]'"
ANN_THRESHOLD = 5_000
# Past 5,000 vectors HNSW is the faster search and loses almost nothing. On real
# all-MiniLM-L6-v2 embeddings of prose lines (`evals/benchmarks/knn_lookup.py --data real`, 2
# cores) an exact search takes 0.13 / 0.28 / 4.1 ms (p50) at 5,000 / 10,000 / 50,000 vectors
# against 0.16 / 0.20 / 0.45 ms for HNSW, whose recall@5 is 0.996-0.999 there; the switch
# builds the graph once (0.3 s at 5,000 vectors, 6.9 s at 50,000).
# HNSW settings, measured on 384-dimensional clustered vectors (evals/benchmarks/knn_lookup.py)
# on 2 cores: bf16 storage (similarities within 0.001) keeps f32's and f16's recall at half of
# f32's memory and builds about 25% faster than f16 on a CPU with bf16 instructions (i8 loses
# 4-5 points of recall); connectivity 16 (usearch's default) builds twice as fast as 32;
# expansion_add 128 gains 2-3 points of recall over 64 for 1.7x the build time; expansion_search
# 128 gives recall@5 of 0.99 at 100,000 vectors (0.995 on 40,000 real MiniLM embeddings) for
# 1-2 ms per search, but 0.59 at 1,000,000 synthetic ones (0.75 / 0.84 / 0.91 with 256 / 512 /
# 1024, 3 / 6 / 11 ms), whose cluster centres are random in 384 dimensions, the hardest case;
# on a million real embeddings (`evals/benchmarks/postgres.py --data real`) a whole lookup
# through the SQLite store takes 3.5 ms p50 at recall@5 0.985.
ANN_DTYPE = "bf16"
ANN_CONNECTIVITY = 16
ANN_EXPANSION_ADD = 128
ANN_EXPANSION_SEARCH = 128


class IndexUnavailableError(BadInputError):
    """The approximate index needs usearch, which is not installed."""


class VectorIndex(Protocol):
    """Nearest neighbours by inner product among stored unit vectors."""

    @property
    def dimensions(self) -> int:
        """The length of every vector."""
        ...

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Stores vectors (rows of an (n, dimensions) array) under new, distinct ids."""
        ...

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The (id, similarity) of the k stored vectors closest to `vector`, best first."""
        ...

    def __len__(self) -> int:
        """The number of stored vectors."""
        ...


class ExactIndex:
    """Exact search: one matrix-vector product over all stored vectors.

    The vectors live in a float32 matrix whose capacity doubles when full, so adding one
    vector copies nothing in the common case. Searches run outside the lock on a snapshot
    (adds only write past it or into a new matrix), so they run in parallel with each other.
    """

    def __init__(self, dimensions: int, capacity: int = 1024) -> None:
        """An empty index.

        Args:
            dimensions: The length of every vector.
            capacity: Vectors to make room for up front (it grows as needed).
        """
        self._dimensions = _positive(dimensions, "dimensions")
        self._matrix = np.empty((max(capacity, 1), dimensions), dtype=np.float32)
        self._ids = np.empty(max(capacity, 1), dtype=np.int64)
        self._size = 0
        self._known: set[int] = set()
        self._lock = threading.Lock()

    @property
    def dimensions(self) -> int:
        """The length of every vector."""
        return self._dimensions

    def __len__(self) -> int:
        return self._size

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Stores vectors under new ids.

        Raises:
            BadInputError: Shapes that do not match, values that are not finite, or ids that
                are negative, repeated or already stored.
        """
        keys, matrix = _checked_batch(ids, vectors, self._dimensions)
        new = keys.tolist()
        with self._lock:
            known = self._known.intersection(new)
            if known:
                raise BadInputError(f"id {min(known)} is already in the index")
            end = self._size + len(keys)
            self._reserve(end)
            self._matrix[self._size : end] = matrix
            self._ids[self._size : end] = keys
            self._known.update(new)
            self._size = end

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The (id, similarity) of the up to k nearest stored vectors, best first."""
        query = _checked_query(vector, k, self._dimensions)
        matrix, ids = self.snapshot()
        return _top_k(matrix @ query, ids, k)

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Read-only views of the stored vectors and their ids, as they are now."""
        with self._lock:
            matrix, ids = self._matrix[: self._size], self._ids[: self._size]
        matrix.flags.writeable = ids.flags.writeable = False
        return matrix, ids

    def _reserve(self, size: int) -> None:
        """Makes room for `size` vectors, doubling the capacity (the caller holds the lock)."""
        capacity = len(self._ids)
        if size <= capacity:
            return
        while capacity < size:
            capacity *= 2
        matrix = np.empty((capacity, self._dimensions), dtype=np.float32)
        matrix[: self._size] = self._matrix[: self._size]
        ids = np.empty(capacity, dtype=np.int64)
        ids[: self._size] = self._ids[: self._size]
        self._matrix, self._ids = matrix, ids


class AnnIndex:
    """Approximate search: an HNSW graph (usearch), for large memories.

    A search takes 1-2 ms at 100,000 to 1,000,000 vectors where `ExactIndex` takes 10-30 and
    100-200 ms (2 cores); adding is slower (each vector is linked into the graph: about 2 ms,
    and about 17 minutes to build a million at once). Recall falls as the index grows (see the
    ANN_* settings); raise `expansion_search` to trade time for it. Calls are serialized by a
    lock (usearch grows its storage during adds).
    """

    def __init__(
        self,
        dimensions: int,
        *,
        dtype: str = ANN_DTYPE,
        connectivity: int = ANN_CONNECTIVITY,
        expansion_add: int = ANN_EXPANSION_ADD,
        expansion_search: int = ANN_EXPANSION_SEARCH,
    ) -> None:
        """An empty index.

        Args:
            dimensions: The length of every vector.
            dtype: How usearch stores the vectors: "bf16", "f16", "f32" or "i8".
            connectivity: Graph edges per node (HNSW's M).
            expansion_add: Candidates kept while linking a new vector (efConstruction).
            expansion_search: Candidates kept while searching (ef); at least k is used.

        Raises:
            IndexUnavailableError: usearch is not installed.
        """
        self._dimensions = _positive(dimensions, "dimensions")
        self._index = _usearch_index(
            ndim=dimensions,
            metric="ip",
            dtype=dtype,
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=expansion_search,
        )
        self._lock = threading.Lock()

    @property
    def dimensions(self) -> int:
        """The length of every vector."""
        return self._dimensions

    @property
    def expansion_search(self) -> int:
        """Candidates kept while searching (HNSW's ef): more is slower and finds more."""
        return int(self._index.expansion_search)

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        with self._lock:
            self._index.expansion_search = _positive(value, "expansion_search")

    def __len__(self) -> int:
        return len(self._index)

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Stores vectors under new ids (a batch is linked by all cores).

        Raises:
            BadInputError: Shapes that do not match, values that are not finite, or ids that
                are negative, repeated or already stored.
        """
        keys, matrix = _checked_batch(ids, vectors, self._dimensions)
        if not len(keys):
            return
        with self._lock:
            known = keys[self._index.contains(keys)]
            if len(known):
                raise BadInputError(f"id {int(known[0])} is already in the index")
            self._index.add(keys, matrix)

    def save(self, path: Path) -> None:
        """Write the index to `path` (a temporary file renamed over it: never half-written)."""
        with self._lock, replacing(path) as temporary:
            self._index.save(str(temporary))

    @classmethod
    def load(cls, path: Path, expansion_search: int = ANN_EXPANSION_SEARCH) -> AnnIndex | None:
        """The index saved at `path`, or None if there is none or it is not a usearch index."""
        try:
            index = _usearch_index_class().restore(str(path))
        except (OSError, ValueError, RuntimeError):
            return None
        if index is None:
            return None
        loaded = cls.__new__(cls)
        index.expansion_search = expansion_search  # not stored in the file
        loaded._dimensions, loaded._index, loaded._lock = index.ndim, index, threading.Lock()
        return loaded

    def stored(self, ids: Sequence[int]) -> list[np.ndarray | None]:
        """The vectors stored under `ids`, as float32 (None for an id not stored)."""
        keys = np.asarray(ids, dtype=np.uint64)
        with self._lock:
            found = self._index.get(keys, dtype=np.float32)
        return [None if v is None else np.asarray(v, dtype=np.float32) for v in found]

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The (id, similarity) of (about) the k nearest stored vectors, best first."""
        query = _checked_query(vector, k, self._dimensions)
        with self._lock:
            matches = self._index.search(query, k)
        keys, distances = matches.keys, matches.distances
        return [(int(key), 1.0 - float(d)) for key, d in zip(keys, distances, strict=True)]


class AutoIndex:
    """Exact search while small, HNSW once it holds more than `ann_threshold` vectors.

    The add that crosses the threshold moves every vector into an `AnnIndex` (0.3 s at 5,000
    vectors on 2 cores); searches meanwhile keep being answered by the exact index.
    """

    def __init__(
        self, dimensions: int, ann_threshold: int = ANN_THRESHOLD, ann: AnnIndex | None = None
    ) -> None:
        """An empty index, or one that goes on from a loaded HNSW index.

        Args:
            dimensions: The length of every vector.
            ann_threshold: Past this many vectors, switch to HNSW (needs usearch then).
            ann: An HNSW index to start from (see `AnnIndex.load`).
        """
        self._dimensions = _positive(dimensions, "dimensions")
        self.ann_threshold = ann_threshold
        self._index: ExactIndex | AnnIndex = ann or ExactIndex(dimensions)
        self._lock = threading.Lock()

    @property
    def ann(self) -> AnnIndex | None:
        """The HNSW index once in use (to save it), else None."""
        return self._index if isinstance(self._index, AnnIndex) else None

    @property
    def dimensions(self) -> int:
        """The length of every vector."""
        return self._dimensions

    @property
    def kind(self) -> Literal["exact", "ann"]:
        """The index in use now: "exact" or "ann"."""
        return "exact" if isinstance(self._index, ExactIndex) else "ann"

    def __len__(self) -> int:
        return len(self._index)

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Stores vectors under new ids; moves to HNSW past the threshold.

        An add that fails changes nothing (the switch included).

        Raises:
            BadInputError: As `ExactIndex.add`.
            IndexUnavailableError: The threshold is crossed and usearch is not installed.
        """
        keys, matrix = _checked_batch(ids, vectors, self._dimensions)
        with self._lock:
            index = self._index
            if isinstance(index, ExactIndex) and len(index) + len(keys) > self.ann_threshold:
                self._index = _to_ann(index, keys, matrix)
            else:
                index.add(keys, matrix)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The (id, similarity) of the up to k nearest stored vectors, best first."""
        return self._index.search(vector, k)


def _to_ann(exact: ExactIndex, ids: np.ndarray, vectors: np.ndarray) -> AnnIndex:
    """A new `AnnIndex` holding the vectors of `exact` and then `vectors` (under `ids`)."""
    ann = AnnIndex(exact.dimensions)
    matrix, stored = exact.snapshot()
    ann.add(stored, matrix)
    ann.add(ids, vectors)
    return ann


def _usearch_index(**options: Any) -> Any:
    """A usearch `Index`, or a clear error if usearch is missing."""
    return _usearch_index_class()(**options)


def _usearch_index_class() -> Any:
    try:
        from usearch.index import Index  # noqa: PLC0415  (the knn extra, only for HNSW)
    except ImportError:
        raise IndexUnavailableError(
            f"the approximate vector index needs the knn extra (usearch): {INSTALL_HINT}"
        ) from None
    return Index


def _positive(value: int, name: str) -> int:
    if value < 1:
        raise BadInputError(f"{name} must be at least 1, not {value}")
    return value


def _checked_batch(
    ids: Sequence[int] | np.ndarray, vectors: np.ndarray, dimensions: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ids as int64 and the vectors as a float32 (n, dimensions) array, checked."""
    keys = np.asarray(ids, dtype=np.int64).reshape(-1)
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] != dimensions or len(matrix) != len(keys):
        raise BadInputError(
            f"expected {len(keys)} vectors of {dimensions} numbers, got shape {matrix.shape}"
        )
    if len(keys) and keys.min() < 0:
        raise BadInputError(f"ids must not be negative: {int(keys.min())}")
    if len(np.unique(keys)) != len(keys):
        raise BadInputError("the ids of one add must be distinct")
    if not np.isfinite(matrix).all():
        raise BadInputError("the vectors hold NaN or infinite values")
    return keys, matrix


def _checked_query(vector: np.ndarray, k: int, dimensions: int) -> np.ndarray:
    """The query as a float32 vector of `dimensions` numbers, checked, and k checked."""
    if k < 1:
        raise BadInputError(f"k must be at least 1, not {k}")
    query = np.asarray(vector, dtype=np.float32).reshape(-1)
    if len(query) != dimensions:
        raise BadInputError(f"expected a vector of {dimensions} numbers, got {len(query)}")
    if not np.isfinite(query).all():
        raise BadInputError("the query vector holds NaN or infinite values")
    return query


def _top_k(scores: np.ndarray, ids: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k best (id, score) pairs, best first."""
    k = min(k, len(scores))
    if k == 0:
        return []
    best = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(k)
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(ids[i]), float(scores[i])) for i in best]
