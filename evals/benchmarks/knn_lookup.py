"""Benchmark: kNN lookup over 384-dimensional prompt embeddings, exact vs HNSW, and the time
to embed a new prompt with the local model.

Run on demand (not part of the tests):
`python evals/benchmarks/knn_lookup.py [--sizes 10000 100000 1000000] [--queries 1000]`.
Prints numbers only; nothing is asserted. Needs the knn extra.

`--data real`: real all-MiniLM-L6-v2 embeddings of prose lines found on this machine
(`corpus.py`, embedded beforehand and cached; this waits for that cache). Otherwise the
stored vectors are synthetic. `--data clustered` (the default): unit vectors in clusters of
about 8 (centre + 0.8 x noise, all Gaussian), which behaves like real sentence embeddings up
to 100,000: on 40,000 real all-MiniLM-L6-v2 embeddings (docstrings) HNSW recall@5 was 0.972
/ 0.990 at expansion_search 32 / 64, and 0.968 / 0.989 on this data; nearest-neighbour
cosine median 0.72 real vs 0.69 here. `--data gaussian`: plain random unit vectors, the worst
case for a graph index (no structure; recall and build time are much worse). Queries are
stored vectors plus noise (cosine about 0.86 to their source, like a paraphrase), searched one
at a time as an agent does; recall@5 is the ANN's top 5 against the exact top 5. At a million
vectors the clustered data's 125,000 cluster centres are themselves random in 384
dimensions, which drags the HNSW recall down (0.59 at expansion_search 128, 0.91 at 1024);
`--data real` is the measure at that size.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import corpus  # real sentence embeddings (evals/benchmarks/corpus.py)
import numpy as np
import onnxruntime
import usearch

from reflexrl.memory.embeddings import LocalEmbeddings
from reflexrl.memory.vector_index import (
    ANN_CONNECTIVITY,
    ANN_DTYPE,
    ANN_EXPANSION_ADD,
    ANN_EXPANSION_SEARCH,
    AnnIndex,
    ExactIndex,
    VectorIndex,
)

DIMENSIONS = 384
CLUSTER_SIZE = 8
SPREAD = 0.8
QUERY_NOISE = 0.6  # |noise| relative to the unit source vector: cosine ~ 1/sqrt(1.36) = 0.86
SINGLE_ADDS = 100


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def gaussian(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.standard_normal((n, DIMENSIONS), dtype=np.float32)


def stored_vectors(rng: np.random.Generator, n: int, data: str) -> np.ndarray:
    """n unit vectors: real sentence embeddings (`corpus.py`), clustered (like them) or plain
    Gaussian."""
    if data == "real":
        return corpus.embedded(n, wait=True)[1]
    if data == "gaussian":
        return unit_rows(gaussian(rng, n))
    centres = gaussian(rng, max(n // CLUSTER_SIZE, 1))
    vectors = gaussian(rng, n)
    vectors *= SPREAD
    vectors += centres[rng.integers(0, len(centres), n)]
    return unit_rows(vectors)


def noisy_queries(rng: np.random.Generator, stored: np.ndarray, count: int) -> np.ndarray:
    """Stored vectors moved by noise of norm QUERY_NOISE, renormalized."""
    noise = unit_rows(gaussian(rng, count)) * QUERY_NOISE
    return unit_rows(stored[rng.integers(0, len(stored), count)] + noise)


def percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    p50, p99 = np.percentile(np.asarray(seconds) * 1e3, [50, 99])
    return float(p50), float(p99)


def time_lookups(
    index: VectorIndex, queries: np.ndarray, k: int
) -> tuple[list[float], list[set[int]]]:
    """Seconds per single-query search, and the ids each one found."""
    times, found = [], []
    for query in queries:
        start = time.perf_counter()
        hits = index.search(query, k)
        times.append(time.perf_counter() - start)
        found.append({i for i, _ in hits})
    return times, found


def time_single_adds(index: VectorIndex, rng: np.random.Generator, first_id: int) -> float:
    """p50 ms of adding one new vector to the built index (as an agent records a prompt)."""
    extra = stored_vectors(rng, SINGLE_ADDS, "gaussian")
    times = []
    for offset, vector in enumerate(extra):
        start = time.perf_counter()
        index.add([first_id + offset], vector[None, :])
        times.append(time.perf_counter() - start)
    return percentiles(times)[0]


def memory_mb(index: ExactIndex | AnnIndex) -> float:
    """The index's allocated memory (private attributes: this is a benchmark)."""
    if isinstance(index, AnnIndex):
        return float(index._index.memory_usage) / 2**20
    return (index._matrix.nbytes + index._ids.nbytes) / 2**20


def bench_size(args: argparse.Namespace, n: int, rng: np.random.Generator) -> None:
    stored = stored_vectors(rng, n, args.data)
    queries = noisy_queries(rng, stored, args.queries)
    exact = ExactIndex(DIMENSIONS)
    build = timed_add(exact, stored)
    times, truth = time_lookups(exact, queries, args.k)
    print_row(n, "exact", build, exact, times, 1.0, time_single_adds(exact, rng, n))
    ann = AnnIndex(DIMENSIONS)
    build = timed_add(ann, stored)
    for ef in args.ef:
        ann.expansion_search = ef
        times, found = time_lookups(ann, queries, args.k)
        recall = sum(len(f & t) for f, t in zip(found, truth, strict=True)) / (args.k * len(truth))
        print_row(n, f"ann{ef}", build, ann, times, recall, None)
    print_row(n, "ann", build, ann, [], None, time_single_adds(ann, rng, n))
    time_save_and_load(ann)


def time_save_and_load(ann: AnnIndex) -> None:
    """What a memory's next open costs with its saved HNSW index instead of a rebuild."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "index.usearch"
        start = time.perf_counter()
        ann.save(path)
        saved = time.perf_counter() - start
        start = time.perf_counter()
        AnnIndex.load(path)
        loaded = time.perf_counter() - start
        size = path.stat().st_size / 2**20
    print(f"{'':>9}   saved HNSW index: {size:,.0f} MB, save {saved:.1f} s, load {loaded:.1f} s")


def timed_add(index: ExactIndex | AnnIndex, stored: np.ndarray) -> float:
    start = time.perf_counter()
    index.add(np.arange(len(stored)), stored)
    return time.perf_counter() - start


def print_row(
    n: int,
    kind: str,
    build: float,
    index: ExactIndex | AnnIndex,
    times: Sequence[float],
    recall: float | None,
    add_ms: float | None,
) -> None:
    """One line of the table; blank cells for what the row does not measure."""
    p50, p99 = percentiles(times) if times else (None, None)
    cells = [f"{n:>9,}", f"{kind:>7}", f"{build:>9.1f}"]
    cells += [_cell(add_ms, 9, 3), _cell(p50, 8, 3), _cell(p99, 8, 3), _cell(recall, 9, 3)]
    print(" ".join([*cells, f"{memory_mb(index):>9.0f}"]), flush=True)


def _cell(value: float | None, width: int, digits: int) -> str:
    return " " * width if value is None else f"{value:>{width}.{digits}f}"


def prompts(count: int) -> list[str]:
    """Distinct, realistic-looking agent prompts."""
    asks = ("Please", "Can you", "I need you to", "Could you quickly", "Help me")
    tasks = (
        "compute the compound interest on {} dollars over 7 years at 4.5 percent",
        "draw a picture of {} dogs running on a beach at sunset",
        "count the people in the attached photo number {} and describe what they wear",
        "run a Python script that sorts {} random integers and prints the median",
        "summarize the RLHF paper from Anthropic in {} bullet points",
        "translate this sentence into French and explain the {} hardest words",
        "find the flights from Paris to Tokyo leaving in {} days, cheapest first",
        "write a SQL query that returns the top {} customers by revenue last quarter",
    )
    combos = itertools.product(range(3, 1000, 7), asks, tasks)
    return [f"{ask} {task.format(number)}" for number, ask, task in itertools.islice(combos, count)]


def bench_embeddings(count: int) -> None:
    texts = prompts(count)
    for threads in sorted({1, LocalEmbeddings().threads}, reverse=True):
        model = LocalEmbeddings(threads=threads)
        start = time.perf_counter()
        model.embed_query("warm-up: load the model")
        load = time.perf_counter() - start
        for text in texts[:10]:
            model.embed_query(text)
        times = []
        for text in texts:
            start = time.perf_counter()
            model.embed_query(text)
            times.append(time.perf_counter() - start)
        p50, p99 = percentiles(times)
        print(
            f"LocalEmbeddings threads={threads}: load + first prompt {load:.2f} s; "
            f"one prompt p50 {p50:.2f} ms, p99 {p99:.2f} ms over {len(texts)} prompts"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", choices=("real", "clustered", "gaussian"), default="clustered")
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--no-embeddings", action="store_true", help="skip timing the model")
    parser.add_argument(
        "--ef",
        type=int,
        nargs="+",
        default=[ANN_EXPANSION_SEARCH],
        help="HNSW expansion_search values to time on each built index",
    )
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} cores, usearch {usearch.__version__}, onnxruntime "
        f"{onnxruntime.__version__}; {DIMENSIONS} dims, {args.data} data, k={args.k}, "
        f"{args.queries} queries; ann: usearch HNSW {ANN_DTYPE}, M={ANN_CONNECTIVITY}, "
        f"ef_add={ANN_EXPANSION_ADD}, ef={ANN_EXPANSION_SEARCH}"
    )
    if not args.no_embeddings:
        bench_embeddings(args.prompts)
    print(
        f"{'size':>9} {'index':>7} {'build s':>9} {'add1 ms':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'recall@' + str(args.k):>9} {'mem MB':>9}"
    )
    rng = np.random.default_rng(args.seed)
    for n in args.sizes:
        bench_size(args, n, rng)


if __name__ == "__main__":
    main()
