"""The vector indexes: exact, HNSW (usearch) and the automatic switch between them."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from reflexrl.errors import BadInputError
from reflexrl.memory.vector_index import (
    AnnIndex,
    AutoIndex,
    ExactIndex,
    IndexUnavailableError,
    VectorIndex,
)

DIMS = 384


def unit_vectors(n: int, seed: int = 0, dims: int = DIMS) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dims)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


FACTORIES: dict[str, Callable[[int], VectorIndex]] = {
    "exact": ExactIndex,
    "ann": AnnIndex,
    "auto": lambda dims: AutoIndex(dims, ann_threshold=20),
}


@pytest.fixture(params=list(FACTORIES))
def make(request: pytest.FixtureRequest) -> Callable[[int], VectorIndex]:
    return FACTORIES[request.param]


def test_empty_index_finds_nothing(make: Callable[[int], VectorIndex]) -> None:
    index = make(DIMS)
    assert len(index) == 0
    assert index.dimensions == DIMS
    assert index.search(unit_vectors(1)[0], 5) == []


def test_ids_and_k_larger_than_the_index(make: Callable[[int], VectorIndex]) -> None:
    index = make(4)
    index.add([10, 20, 30], np.eye(4, dtype=np.float32)[:3])
    hits = index.search(np.array([0.0, 0.8, 0.6, 0.0], dtype=np.float32), 10)
    assert [i for i, _ in hits] == [20, 30, 10]
    assert [round(s, 2) for _, s in hits] == [0.8, 0.6, 0.0]
    assert len(index.search(np.eye(4, dtype=np.float32)[0], 1)) == 1


def test_a_stored_vector_comes_back_first(make: Callable[[int], VectorIndex]) -> None:
    vectors = unit_vectors(300)
    index = make(DIMS)
    index.add(range(1000, 1300), vectors)
    for row in (0, 123, 299):
        best, similarity = index.search(vectors[row], 5)[0]
        assert best == 1000 + row
        assert similarity == pytest.approx(1.0, abs=2e-3)  # bf16 storage in the HNSW


def test_incremental_adds_after_searches(make: Callable[[int], VectorIndex]) -> None:
    vectors = unit_vectors(200, seed=1)
    index = make(DIMS)
    for start in range(0, 200, 10):
        index.add(range(start, start + 10), vectors[start : start + 10])
        assert len(index) == start + 10
        assert index.search(vectors[start], 1)[0][0] == start
        assert index.search(vectors[0], 1)[0][0] == 0
    if isinstance(index, AutoIndex):
        assert index.kind == "ann"


def test_bad_input(make: Callable[[int], VectorIndex]) -> None:
    index = make(4)
    index.add([1], np.eye(4, dtype=np.float32)[:1])
    with pytest.raises(BadInputError, match="already"):
        index.add([1], np.eye(4, dtype=np.float32)[1:2])
    with pytest.raises(BadInputError, match="distinct"):
        index.add([2, 2], np.eye(4, dtype=np.float32)[:2])
    with pytest.raises(BadInputError, match="negative"):
        index.add([-1], np.eye(4, dtype=np.float32)[:1])
    with pytest.raises(BadInputError, match="shape"):
        index.add([2], np.ones((1, 3), dtype=np.float32))
    with pytest.raises(BadInputError, match="NaN"):
        index.add([2], np.full((1, 4), np.nan, dtype=np.float32))
    with pytest.raises(BadInputError, match="k must"):
        index.search(np.eye(4, dtype=np.float32)[0], 0)
    with pytest.raises(BadInputError, match="4 numbers"):
        index.search(np.ones(3, dtype=np.float32), 1)
    assert len(index) == 1


def _collecting(errors: list[BaseException], work: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            work()
        except BaseException as error:
            errors.append(error)

    return run


def test_concurrent_adds_and_searches(make: Callable[[int], VectorIndex]) -> None:
    vectors = unit_vectors(800, seed=2)
    index = make(DIMS)
    errors: list[BaseException] = []

    def write(part: int) -> None:
        for start in range(part * 200, part * 200 + 200, 5):
            index.add(range(start, start + 5), vectors[start : start + 5])

    def read() -> None:
        for row in range(300):
            hits = index.search(vectors[row], 5)
            assert len(hits) <= 5
            assert all(0 <= i < 800 for i, _ in hits)

    threads = [threading.Thread(target=_collecting(errors, lambda p=p: write(p))) for p in range(4)]
    threads += [threading.Thread(target=_collecting(errors, read)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(index) == 800
    assert index.search(vectors[799], 1)[0][0] == 799


def clustered_unit_vectors(n: int, seed: int) -> np.ndarray:
    """Clusters of about 8 (centre + 0.8 x noise): HNSW recall on these matches its recall on
    real sentence embeddings (see evals/benchmarks/knn_lookup.py)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n // 8, DIMS)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), n)]
    vectors += 0.8 * rng.standard_normal((n, DIMS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def recall_at_5(stored: np.ndarray, queries: np.ndarray, ann: AnnIndex) -> float:
    exact = ExactIndex(DIMS)
    exact.add(range(len(stored)), stored)
    ann.add(range(len(stored)), stored)
    found = 0
    for query in queries:
        truth = {i for i, _ in exact.search(query, 5)}
        found += len(truth & {i for i, _ in ann.search(query, 5)})
    return found / (5 * len(queries))


def test_ann_recall_on_random_vectors() -> None:
    # Random unit vectors in 384 dimensions are the worst case for a graph index (no structure,
    # all distances nearly equal), so this takes a wider search than the default 128.
    # Measured recall@5 (bf16, M=16, expansion_add 128) by expansion_search:
    # 64: 0.598, 128: 0.792, 256: 0.934, 512: 0.984.
    stored, queries = unit_vectors(5000, seed=3), unit_vectors(200, seed=4)
    assert recall_at_5(stored, queries, AnnIndex(DIMS, expansion_search=512)) >= 0.95


def test_ann_recall_on_clustered_vectors_with_the_defaults() -> None:
    # Measured recall@5 by expansion_search: 64: 0.986, 128 (the default): 0.993, 256: 0.996.
    vectors = clustered_unit_vectors(5200, seed=7)
    assert recall_at_5(vectors[:5000], vectors[5000:], AnnIndex(DIMS)) >= 0.97


def test_auto_index_switches_past_its_threshold() -> None:
    vectors = unit_vectors(60, seed=5)
    index = AutoIndex(DIMS, ann_threshold=50)
    index.add(range(50), vectors[:50])
    assert index.kind == "exact"
    index.add([50], vectors[50:51])
    assert index.kind == "ann"
    assert len(index) == 51
    assert index.search(vectors[7], 1)[0][0] == 7


def test_an_ann_index_saved_and_loaded_answers_the_same(tmp_path: Path) -> None:
    vectors = unit_vectors(500, seed=3)
    ann = AnnIndex(DIMS, expansion_search=64)
    ann.add(range(500), vectors)
    ann.save(tmp_path / "i.usearch")
    loaded = AnnIndex.load(tmp_path / "i.usearch", expansion_search=64)
    assert loaded is not None and len(loaded) == 500 and loaded.dimensions == DIMS
    assert loaded.expansion_search == 64
    for query in unit_vectors(20, seed=4):
        assert loaded.search(query, 5) == ann.search(query, 5)
    auto = AutoIndex(DIMS, ann_threshold=100, ann=loaded)  # goes on from the loaded graph
    auto.add([500], unit_vectors(1, seed=5))
    assert auto.kind == "ann" and auto.ann is loaded and len(auto) == 501
    (tmp_path / "bad.usearch").write_bytes(b"not an index" * 10)
    assert AnnIndex.load(tmp_path / "bad.usearch") is None
    assert AnnIndex.load(tmp_path / "missing.usearch") is None


def test_exact_index_grows_without_losing_vectors() -> None:
    vectors = unit_vectors(100, seed=6, dims=8)
    index = ExactIndex(8, capacity=1)
    for row in range(100):
        index.add([row], vectors[row : row + 1])
    for row in (0, 1, 63, 64, 99):
        assert index.search(vectors[row], 1)[0] == (row, pytest.approx(1.0, abs=1e-5))


def test_without_usearch_only_the_ann_index_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usearch.index", None)
    index = AutoIndex(4, ann_threshold=1)
    index.add([1], np.eye(4, dtype=np.float32)[:1])
    assert index.search(np.eye(4, dtype=np.float32)[0], 1)[0][0] == 1
    with pytest.raises(IndexUnavailableError, match=r"pip install 'reflexrl\[knn\]'"):
        index.add([2], np.eye(4, dtype=np.float32)[1:2])
    assert (len(index), index.kind) == (1, "exact")  # the failed add changed nothing
    with pytest.raises(IndexUnavailableError):
        AnnIndex(4)
