"""Benchmark: the PostgreSQL memory against the SQLite one: concurrent writers, and kNN lookup
latency and recall (the Python kNN on either store, and pgvector in PostgreSQL).

Run on demand (not part of the tests): `python evals/benchmarks/postgres.py [--workers 4 16]
[--episodes 200] [--sizes 10000 100000] [--queries 200] [--data random|real]
[--backends ...] [--pgvector-ef 40 200] [--shared-buffers 4GB] [--out FILE]`. Needs the
`postgres` and `knn` extras. It starts its own throwaway PostgreSQL 16 + pgvector from the
`pgserver` wheel, as the tests do (`tests/postgres_server.py`: loopback TCP, a password,
`nobody` when run as root; fsync and synchronous_commit off, so writes cost no disk flush),
raises `maintenance_work_mem` to 4 GB so an HNSW build fits in memory, and removes it at the
end. Prints a table and writes the numbers as JSON to `--out`; nothing is asserted but the
totals.

Writers: N processes each open the one memory (one PostgreSQL database, or one SQLite file),
wait until all are ready, then record M fake episodes of 1 or 2 steps over a small shared set
of prompts (so writers credit the same rows at once). Episodes per second is all episodes over
the time from the first writer's start to the last one's end. Then every logged episode's
credits are summed per prompt and compared with the store's rows (visits equal, reward within
1e-9).

kNN: n stored prompts (one suite), then `--queries` single lookups to warm up and `--queries`
more, each a new prompt, timed end to end through `store.nearest` (caching the query's
vector, searching, and reading the neighbours' rows; not the model's time to embed it, about
4 ms on 2 cores). recall@5 is the lookup's 5 neighbours against the exact top 5 by
brute-force cosine over the same vectors; the similarity threshold is set to -1 so each
lookup returns its k = 5 best.

- `--data random`: each text gets a deterministic random unit vector (384 dimensions, seeded
  by a hash of the text), and a query `near:J:Q` gets stored prompt J's vector plus noise of
  norm 0.6 (cosine about 0.86, like a paraphrase). No structure at all: the worst case for a
  graph index, whose 2nd to 5th neighbours are noise (cosine about 0.2, below any threshold a
  lookup would use), so recall@5 there says little.
- `--data real`: real all-MiniLM-L6-v2 vectors of up to a million distinct lines of prose
  found on this machine (`corpus.py`, embedded beforehand and cached; this waits for that
  cache), and each query is a stored line with one word left out, embedded by the model
  before the timing starts.

Backends: the SQLite store with the Python kNN (exact search, usearch HNSW past 5,000
prompts), PostgreSQL with the same Python kNN (vectors cached in the database, the index in
the process), and PostgreSQL with `PgvectorLookup` (exact scan, a per-suite HNSW index from
10,000 prompts, ef_search 40; `--pgvector-ef` times it again with other values); the plan
PostgreSQL picks for the search is printed. "first" is the first lookup after opening, which
caches the vector of every stored prompt and builds the index.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from langchain_core.embeddings import Embeddings

from reflexrl import open_memory
from reflexrl.memory import KnnLookup, MemoryStore, credits
from reflexrl.memory.embeddings import LocalEmbeddings, embedding_model_id
from reflexrl.memory.postgres.pgvector import EF_SEARCH, PgvectorLookup
from reflexrl.records import Episode, RunInfo, Step

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
import corpus  # real sentence embeddings (evals/benchmarks/corpus.py)
import postgres_server  # the tests' server: started here as there

PostgresServer = postgres_server.PostgresServer
run_server = postgres_server._run
"""Run a server binary (as the server's user when root)."""

DIMENSIONS = 384
QUERY_NOISE = 0.6
K = 5
SUITE = "bench"
BACKENDS = ("sqlite knn", "postgres knn", "postgres pgvector")
FILL_CHUNK = 10_000
"""Steps per episode when filling the kNN memories (one distinct prompt each)."""

WRITER = textwrap.dedent(
    """
    import sys, time
    from reflexrl import open_memory
    from reflexrl.records import Episode, RunInfo, Step

    location = sys.argv[1]
    worker, count, prompts = (int(a) for a in sys.argv[2:5])
    store = open_memory(location)
    run = f"run-{worker}"
    store.start_run(RunInfo(run, "s", "fake:first", worker, 1, 4))
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.time()
    for index in range(count):
        steps = tuple(
            Step(i, f"prompt {(index + 3 * i + worker) % prompts}", f"tool{(index + i) % 3}", {},
                 0.1 * ((worker + index + i) % 7) - 0.2, True)
            for i in range(1 + (index + worker) % 2)
        )
        episode = Episode(run, index, 1, "s", "q", steps[0].prompt, False, "valid", steps)
        store.record_episode(episode)
    end = time.time()
    store.finish_run(run, "completed")
    store.close()
    print(f"{start} {end}", flush=True)
    """
)


class RandomUnitEmbeddings(Embeddings):
    """A deterministic random unit vector per text (seeded by its sha256); `near:J:Q` is stored
    prompt J's vector plus noise. Says nothing about meaning: a benchmark of the index only."""

    model = "random-unit"
    dimensions = DIMENSIONS

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.array([text])[0].tolist()

    def array(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for row, text in enumerate(texts):
            if text.startswith("near:"):
                source = stored_prompt(int(text.split(":")[1]))
                vector = _random_unit(source) + QUERY_NOISE * _random_unit(text)
                out[row] = vector / np.linalg.norm(vector)
            else:
                out[row] = _random_unit(text)
        return out


class CorpusEmbeddings(LocalEmbeddings):
    """Real all-MiniLM-L6-v2 vectors: the corpus's (`corpus.py`, embedded beforehand) for
    stored texts, the model's for the queries (embedded before the timing starts), so a
    timed lookup costs the search and the rows, not the model (about 4 ms a prompt)."""

    model_id = "all-MiniLM-L6-v2:corpus"

    def __init__(self, texts: Sequence[str], vectors: np.ndarray, queries: Sequence[str]):
        super().__init__()
        self._rows = {text: i for i, text in enumerate(texts)}
        self._vectors = vectors
        self._queries = dict(zip(queries, super().embed_array(list(queries)), strict=True))

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        queries, rows, vectors = self._queries, self._rows, self._vectors
        return np.stack([queries[t] if t in queries else vectors[rows[t]] for t in texts])

    def array(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_array(texts)


def _random_unit(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(DIMENSIONS)
    return vector / np.linalg.norm(vector)


def stored_prompt(i: int) -> str:
    return f"stored prompt number {i}"


def percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    p50, p99 = np.percentile(np.asarray(seconds) * 1e3, [50, 99])
    return float(p50), float(p99)


# --- the server ---------------------------------------------------------------------------


@contextmanager
def throwaway_server(options: str = "") -> Iterator[postgres_server.PostgresServer]:
    """A PostgreSQL server started as the tests start theirs (with extra server `options`),
    stopped and removed at the end."""
    bin_dir = postgres_server._binaries()
    if bin_dir is None:
        raise SystemExit("the postgres extra (pgserver) is not installed")
    folder = Path(tempfile.mkdtemp(prefix="reflexrl-pg-bench-"))
    try:
        server = postgres_server._start(bin_dir, folder, options)
        try:
            with psycopg.connect(server.url(), autocommit=True) as conn:
                conn.execute("ALTER SYSTEM SET maintenance_work_mem = '4GB'")
                conn.execute("SELECT pg_reload_conf()")
            yield server
        finally:
            data = str(folder / "data")
            postgres_server._run([str(server.bin_dir / "pg_ctl"), "-D", data, "-m", "fast", "stop"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def server_version(server: postgres_server.PostgresServer) -> str:
    with psycopg.connect(server.url()) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        found = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        vector = found.fetchone()
        return (
            f"PostgreSQL {version[0] if version else '?'}, pgvector {vector[0] if vector else '?'}"
        )


# --- writers ------------------------------------------------------------------------------


def run_writers(location: str, workers: int, episodes: int, prompts: int) -> dict[str, Any]:
    """`workers` processes recording `episodes` each into the memory at `location`."""
    open_memory(location).close()  # created once, before the writers race
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, location, str(w), str(episodes), str(prompts)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(
                f"a writer failed to start: {proc.stderr.read() if proc.stderr else ''}"
            )
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    spans = []
    for proc in procs:
        out, err = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"a writer failed:\n{err}")
        start, end = (float(x) for x in out.split()[-2:])
        spans.append((start, end))
    seconds = max(e for _, e in spans) - min(s for s, _ in spans)
    total = workers * episodes
    return {
        "workers": workers,
        "episodes_per_worker": episodes,
        "episodes": total,
        "seconds": seconds,
        "episodes_per_second": total / seconds,
        **check_totals(location, total),
    }


def check_totals(location: str, expected_episodes: int) -> dict[str, Any]:
    """The store's rows against the credits of every logged episode."""
    with closing(open_memory(location)) as store:
        episodes = [e for run in store.runs() for e in store.episodes(run.run_id)]
        expected: dict[str, list[float]] = {}
        for credit in (c for e in episodes for c in credits(e)):
            expected.setdefault(credit.prompt, []).append(credit.reward)
        rows = {r.prompt: r for r in store.rows()}
    visits_equal = {p: r.visits for p, r in rows.items()} == {
        p: len(v) for p, v in expected.items()
    }
    worst = max(
        (abs(row.reward - sum(expected.get(p, []))) for p, row in rows.items()), default=0.0
    )
    exact = len(episodes) == expected_episodes and visits_equal and worst <= 1e-9
    return {
        "logged": len(episodes),
        "rows": len(rows),
        "visits_equal": visits_equal,
        "max_reward_error": worst,
        "totals_exact": exact,
    }


# --- kNN ----------------------------------------------------------------------------------


def fill(store: MemoryStore, texts: Sequence[str]) -> float:
    """The texts as distinct prompts, one credited step each, in episodes of FILL_CHUNK steps."""
    start = time.perf_counter()
    store.start_run(RunInfo("fill", SUITE, "fake:first", 0, 1, 4))
    for index, first in enumerate(range(0, len(texts), FILL_CHUNK)):
        steps = tuple(
            Step(i - first, texts[i], ("a", "b", "c")[i % 3], {}, 1.0, False)
            for i in range(first, min(first + FILL_CHUNK, len(texts)))
        )
        store.record_episode(
            Episode("fill", index, 1, SUITE, "q", steps[0].prompt, False, "valid", steps)
        )
    store.finish_run("fill", "completed")
    return time.perf_counter() - start


def stored_texts(n: int, data: str, cache: Path) -> list[str]:
    """The n prompts a memory stores: numbered texts, or the corpus's first n lines."""
    if data == "random":
        return [stored_prompt(i) for i in range(n)]
    return corpus.texts(n, cache)


def lookup_data(
    stored: list[str], count: int, data: str, cache: Path
) -> tuple[RandomUnitEmbeddings | CorpusEmbeddings, list[str]]:
    """The embeddings the lookups use and `count` query texts, each a paraphrase of a
    stored prompt: `near:J:Q` (random vectors), or a stored line with one word left out."""
    rng = np.random.default_rng(len(stored))
    picked = rng.integers(0, len(stored), count)
    if data == "random":
        return RandomUnitEmbeddings(), [f"near:{j}:{q}" for q, j in enumerate(picked)]
    texts, vectors = corpus.embedded(len(stored), cache, wait=True)
    queries = [_without_a_word(texts[j], rng) for j in picked]
    return CorpusEmbeddings(texts, vectors, queries), queries


def _without_a_word(text: str, rng: np.random.Generator) -> str:
    words = text.split()
    del words[int(rng.integers(0, len(words)))]
    return " ".join(words)


def truth(
    stored: list[str], texts: list[str], embeddings: RandomUnitEmbeddings | CorpusEmbeddings
) -> list[set[str]]:
    """The exact top k stored prompts of each query, by brute-force cosine."""
    matrix = embeddings.array(stored)
    found = []
    for query in embeddings.array(texts):
        scores = matrix @ query
        top = np.argpartition(-scores, K)[:K]
        found.append({stored[int(i)] for i in top})
    return found


def time_lookups(
    opener: Callable[[], MemoryStore], texts: list[str], exact: list[set[str]], warm: list[str]
) -> dict[str, Any]:
    """Open the store, time its first lookup, make the other `warm` lookups (as a server that
    has been answering: its caches hold the index's upper layers), then time each query's."""
    with closing(opener()) as store:
        start = time.perf_counter()
        store.nearest(SUITE, warm[0])
        first = time.perf_counter() - start
        for text in warm[1:]:
            store.nearest(SUITE, text)
        times, hits = [], 0
        for text, best in zip(texts, exact, strict=True):
            start = time.perf_counter()
            found = store.nearest(SUITE, text)
            times.append(time.perf_counter() - start)
            hits += len({nb.row.prompt for nb in found} & best)
    p50, p99 = percentiles(times)
    return {"first_s": first, "p50_ms": p50, "p99_ms": p99, "recall_at_5": hits / (K * len(texts))}


def bench_knn(
    server: postgres_server.PostgresServer, n: int, args: argparse.Namespace, folder: Path
) -> list[dict[str, Any]]:
    stored = stored_texts(n, args.data, args.corpus)
    path = folder / f"knn-{n}.db"
    with closing(open_memory(path)) as store:
        sqlite_fill = fill(store, stored)
    url = server.url(server.create_database())
    with closing(open_memory(url)) as store:
        pg_fill = fill(store, stored)
    embeddings, both = lookup_data(stored, 2 * args.queries, args.data, args.corpus)
    warm, texts = both[: args.queries], both[args.queries :]
    exact = truth(stored, texts, embeddings)
    results = []

    def python_knn(location: str | Path) -> Callable[[], MemoryStore]:
        return lambda: open_memory(location, lookup=KnnLookup(embeddings, k=K, threshold=-1.0))

    def pgvector(ef: int) -> Callable[[], MemoryStore]:
        lookup = PgvectorLookup(embeddings, k=K, threshold=-1.0, ef_search=ef)
        return lambda: open_memory(url, lookup=lookup)

    cases: list[tuple[str, float, Callable[[], MemoryStore]]] = [
        ("sqlite knn", sqlite_fill, python_knn(path)),
        ("postgres knn", pg_fill, python_knn(url)),
        *(
            (
                f"postgres pgvector{'' if ef == EF_SEARCH else f' ef_search={ef}'}",
                pg_fill,
                pgvector(ef),
            )
            for ef in (EF_SEARCH, *args.pgvector_ef)
        ),
    ]
    for name, filled, opener in (c for c in cases if c[0].startswith(tuple(args.backends))):
        row: dict[str, Any] = {
            "prompts": n,
            "data": args.data,
            "backend": name,
            "fill_s": filled,
            **time_lookups(opener, texts, exact, warm),
        }
        print(
            f"{n:>8,} {name:>18} {filled:>8.1f} {row['first_s']:>8.1f} {row['p50_ms']:>8.2f} "
            f"{row['p99_ms']:>8.2f} {row['recall_at_5']:>9.3f}",
            flush=True,
        )
        if "pgvector" in name:
            row["plan"] = pgvector_plan(url, embedding_model_id(embeddings))
            print(f"{'':>8} {'':>18} pgvector search plan: {row['plan']}", flush=True)
        results.append(row)
    return results


def pgvector_plan(url: str, model: str) -> str:
    """How PostgreSQL runs PgvectorLookup's search (its statement, planned as it is sent)."""
    vector = "[" + ",".join(["0.05"] * DIMENSIONS) + "]"
    with psycopg.connect(url) as conn:
        plan = conn.execute(
            "EXPLAIN SELECT prompt FROM memory_vectors WHERE model = "
            f"'{model}' AND suite = '{SUITE}' ORDER BY embedding::vector({DIMENSIONS}) "
            f"<=> %s::vector({DIMENSIONS}) LIMIT %s",
            [vector, 2 * K],
            prepare=False,
        ).fetchall()
    text = " ".join(str(line[0]) for line in plan)
    if "Index Scan using memory_vectors_hnsw_" in text:
        return "HNSW index scan"
    nodes = [str(line[0]).split("->")[-1].split("(")[0].strip() for line in plan]
    return "exact scan (" + " > ".join(n for n in nodes if n and ":" not in n) + ")"


# --- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, nargs="*", default=[4, 16])
    parser.add_argument("--episodes", type=int, default=200, help="episodes per writer")
    parser.add_argument(
        "--prompts", type=int, default=50, help="distinct prompts the writers share"
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--data",
        choices=["random", "real"],
        default="random",
        help="random unit vectors, or real sentence embeddings (corpus.py: waits for its cache)",
    )
    parser.add_argument("--corpus", type=Path, default=corpus.DEFAULT_CACHE)
    parser.add_argument(
        "--pgvector-ef",
        type=int,
        nargs="*",
        default=[],
        help=f"pgvector's lookups again with these hnsw.ef_search (the default is {EF_SEARCH})",
    )
    parser.add_argument(
        "--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS, metavar="BACKEND"
    )
    parser.add_argument(
        "--shared-buffers", default="128MB", help="the server's (a million vectors: 4GB)"
    )
    parser.add_argument("--out", type=Path, default=Path("evals/reports/postgres-benchmark.json"))
    args = parser.parse_args()
    report: dict[str, Any] = {"cores": os.cpu_count(), "writers": [], "knn": []}
    server_options = f"-c shared_buffers={args.shared_buffers}"
    with throwaway_server(server_options) as server, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        report["server"] = server_version(server)
        print(f"{os.cpu_count()} cores, {report['server']} (fsync off), SQLite in {folder}")
        print(
            f"{'store':>8} {'workers':>7} {'episodes':>8} {'seconds':>8} {'ep/s':>8} {'totals':>7}"
        )
        for workers in args.workers:
            for store in ("postgres", "sqlite"):
                if store == "postgres":
                    location = server.url(server.create_database())
                else:
                    location = str(folder / f"writers-{workers}.db")
                row = {
                    "store": store,
                    **run_writers(location, workers, args.episodes, args.prompts),
                }
                report["writers"].append(row)
                totals = "exact" if row["totals_exact"] else "WRONG"
                print(
                    f"{store:>8} {workers:>7} {row['episodes']:>8} {row['seconds']:>8.2f} "
                    f"{row['episodes_per_second']:>8.1f} {totals:>7}",
                    flush=True,
                )
        print(
            f"{'prompts':>8} {'backend':>18} {'fill s':>8} {'first s':>8} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'recall@5':>9}"
        )
        for n in args.sizes:
            report["knn"] += bench_knn(server, n, args, folder)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
