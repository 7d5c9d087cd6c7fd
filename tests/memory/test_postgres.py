"""What the PostgreSQL store adds to the conformance test: idempotent episode writes, exact
totals under concurrent writers, and connection failures that never show the password."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from contextlib import closing
from typing import Any

import psycopg
import pytest
from postgres_server import PASSWORD

from reflexrl import open_memory
from reflexrl.errors import BadInputError, MemoryNotFoundError, MemoryStoreError
from reflexrl.memory import PostgresMemory, check_memory, credits, memory_files
from reflexrl.records import Episode, RunInfo, Step


def _episode(run: str, index: int, *steps: tuple[str, str, float], suite: str = "s") -> Episode:
    recorded = tuple(Step(i, p, a, {}, r, r > 0) for i, (p, a, r) in enumerate(steps))
    return Episode(run, index, 1, suite, "q", steps[0][0], False, "valid", recorded)


def test_a_retried_episode_write_credits_once(postgres_url: str) -> None:
    with closing(open_memory(postgres_url)) as store:
        store.start_run(RunInfo("run", "s", "fake:first", 0, 1, 4))
        episode = _episode("run", 0, ("p", "good", 0.25), ("p", "bad", -1.0))
        store.record_episode(episode)
        store.record_episode(episode)  # the first commit's reply was lost: written again
        row = store.lookup("s", "p")
        assert row is not None and (row.reward, row.visits) == (-0.75, 2)
        assert len(store.episodes("run")) == 1
        assert len(store.rows_at(store.point("now"))) == 1


def test_the_server_is_the_one_tests_expect(postgres_server: Any) -> None:
    assert postgres_server.password == PASSWORD


def test_the_location_hides_the_password(postgres_url: str) -> None:
    with closing(open_memory(postgres_url)) as store:
        assert PASSWORD not in store.location
        assert store.location == postgres_url.replace(f":{PASSWORD}@", "@")
    assert memory_files(postgres_url) == ()


def _refused(url: str, error: type[BadInputError] = MemoryStoreError) -> str:
    with pytest.raises(error) as raised:
        open_memory(url)
    message = str(raised.value)
    assert PASSWORD not in message and "Secret" not in message
    return message


def test_an_unreachable_server_is_refused(postgres_server: Any) -> None:
    url = postgres_server.url().replace(
        f":{postgres_server.port}/", f":{postgres_server.unused_port()}/"
    )
    assert "cannot connect" in _refused(url)


def test_a_wrong_password_is_refused(postgres_server: Any) -> None:
    wrong = "Wrong-Secret-Password-1"
    url = postgres_server.url(postgres_server.create_database(), password=wrong)
    message = _refused(url)
    assert "password authentication failed" in message and wrong not in message


def test_a_missing_database_is_not_found(postgres_server: Any) -> None:
    _refused(postgres_server.url("no_such_database"), MemoryNotFoundError)


def test_another_applications_database_is_refused(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    assert "not a reflexrl memory" in _refused(postgres_url)
    with pytest.raises(MemoryStoreError):
        check_memory(postgres_url)


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    open_memory(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE reflexrl_schema SET version = 99")
    assert "newer" in _refused(postgres_url)


def test_check_creates_nothing_and_read_only_writes_nothing(postgres_url: str) -> None:
    check_memory(postgres_url)
    with pytest.raises(MemoryNotFoundError):
        check_memory(postgres_url, must_exist=True)
    with pytest.raises(MemoryNotFoundError):
        open_memory(postgres_url, read_only=True)
    with closing(open_memory(postgres_url)) as store:
        store.start_run(RunInfo("run", "s", "fake:first", 0, 1, 4))
        store.record_episode(_episode("run", 0, ("p", "good", 1.0)))
    check_memory(postgres_url, must_exist=True)
    with closing(open_memory(postgres_url, read_only=True)) as reader:
        assert [r.visits for r in reader.rows()] == [1]
        with pytest.raises(MemoryStoreError):
            reader.record_episode(_episode("run", 1, ("p", "good", 1.0)))
        with pytest.raises(MemoryStoreError):
            reader.reset()


def test_postgres_memory_is_exported() -> None:
    assert PostgresMemory.__module__ == "reflexrl.memory.postgres.store"


WRITER = textwrap.dedent(
    """
    import sys
    from reflexrl import open_memory
    from reflexrl.records import Episode, RunInfo, Step

    url, worker = sys.argv[1], int(sys.argv[2])
    store = open_memory(url)
    run = f"run-{worker}"
    store.start_run(RunInfo(run, "s", "fake:first", worker, 1, 4))
    for index in range(60):
        steps = tuple(
            Step(i, f"prompt {(index + i + worker) % 7}", f"tool{i}", {}, 0.1 * (worker + i), True)
            for i in range(3)
        )
        store.record_episode(Episode(run, index, 1, "s", "q", steps[0].prompt, False, "valid", steps))
    store.finish_run(run, "completed")
    store.close()
    """
)


@pytest.mark.slow
def test_four_processes_write_into_one_database_exactly(postgres_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, postgres_url, str(worker)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(4)
    ]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    with closing(open_memory(postgres_url)) as store:
        episodes = [e for run in store.runs() for e in store.episodes(run.run_id)]
        assert len(episodes) == 240 and {r.status for r in store.runs()} == {"completed"}
        expected: dict[str, list[float]] = {}
        for credit in (c for e in episodes for c in credits(e)):
            expected.setdefault(credit.prompt, []).append(credit.reward)
        rows = {r.prompt: r for r in store.rows()}
        assert {p: r.visits for p, r in rows.items()} == {p: len(v) for p, v in expected.items()}
        for prompt, row in rows.items():
            assert row.reward == pytest.approx(sum(expected[prompt]), abs=1e-9)
        assert list(store.rows_at(store.point("now"))) == list(store.rows())  # replay: equal


def test_credentials_from_libpq_environment(
    postgres_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_server.url(postgres_server.create_database(), password="")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with closing(open_memory(url.replace("postgres:@", "postgres@"))) as store:
        assert store.rows() == [] and PASSWORD not in store.location


def test_a_password_in_the_query_string_is_hidden_too() -> None:
    from reflexrl.memory.postgres.connect import location_of

    url = "postgresql://me@db.example:5432/memory?password=Query-Secret-99&sslmode=require"
    assert location_of(url) == (
        "postgresql://me@db.example:5432/memory?password=%5Bredacted%5D&sslmode=require"
    )


def test_lost_connections_are_replaced_and_a_lost_snapshot_is_taken_again(
    postgres_url: str,
) -> None:
    with closing(open_memory(postgres_url)) as store:
        store.start_run(RunInfo("run", "s", "fake:first", 0, 1, 4))
        held = store.snapshot()
        store.record_episode(_episode("run", 0, ("later", "tool", 1.0)))
        assert held.rows() == []  # the snapshot does not see what came after it
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        assert [r.prompt for r in store.rows()] == ["later"]  # connected again
        assert [r.prompt for r in held.rows()] == ["later"]  # a new snapshot: as it is now
        held.close()


def test_work_lost_with_the_server_is_retried_and_refused_work_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reflexrl.memory.postgres import session

    monkeypatch.setattr(session.time, "sleep", lambda _: None)
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            lost = psycopg.errors.AdminShutdown("terminating connection")
            raise session.unavailable("db", lost) from lost
        return "done"

    assert session.retrying(flaky) == "done" and len(calls) == 3

    def refused() -> str:
        calls.append(1)
        duplicate = psycopg.errors.UniqueViolation("duplicate key")
        raise session.unavailable("db", duplicate) from duplicate

    calls.clear()
    with pytest.raises(MemoryStoreError):
        session.retrying(refused)
    assert len(calls) == 1


SIMILAR = [
    "Please generate an image depicting several dogs running on a beach",
    "Draw a picture of dogs playing on the sand by the sea",
    "Create an illustration of puppies at the seaside",
    "What is the weather forecast for Paris tomorrow?",
    "Will it rain in Lyon this weekend?",
    "Translate 'good morning' into Spanish",
]


def test_pgvector_finds_what_the_python_knn_finds_through_a_suite_index(
    postgres_url: str,
) -> None:
    from reflexrl.memory.postgres.pgvector import PgvectorLookup

    lookup = PgvectorLookup(ann_threshold=4)
    with closing(open_memory(postgres_url, lookup=lookup)) as store:
        store.start_run(RunInfo("run", "s", "fake:first", 0, 1, 4))
        for index, prompt in enumerate(SIMILAR):
            store.record_episode(_episode("run", index, (prompt, "tool", 1.0)))
        store.record_episode(_episode("run", 99, ("Dogs on a beach", "tool", 1.0), suite="t"))
        queries = ["dogs on a beach, as a drawing", "rain in Paris?", SIMILAR[5]]
        found = {
            q: [(nb.row.prompt, nb.similarity) for nb in store.nearest("s", q)] for q in queries
        }
        assert [nb.row.prompt for nb in store.nearest("t", queries[0])] == ["Dogs on a beach"]
    with psycopg.connect(postgres_url) as conn:
        sql = "SELECT indexdef FROM pg_indexes WHERE indexdef LIKE '%hnsw%'"
        [(index,)] = conn.execute(sql).fetchall()
        assert "'s'::text" in index  # suite s only: 6 prompts reach ann_threshold, t's 1 does not
        for costly in ("enable_seqscan", "enable_sort"):  # six rows: an exact sort is cheaper
            conn.execute(f"SET {costly} = off")  # than the index, which the search can use
        vector = "[" + ",".join(["0.05"] * 384) + "]"
        plan = conn.execute(
            "EXPLAIN SELECT prompt FROM memory_vectors WHERE model = %s AND suite = 's' "
            "ORDER BY embedding::vector(384) <=> %s::vector(384) LIMIT 10",
            [lookup.embedder.model_id, vector],
            prepare=False,
        ).fetchall()
        assert "Index Scan using memory_vectors_hnsw_" in str(plan)
    with closing(open_memory(postgres_url, lookup="knn")) as python_knn:
        for query, pairs in found.items():
            expected = [(nb.row.prompt, nb.similarity) for nb in python_knn.nearest("s", query)]
            assert [p for p, _ in pairs] == [p for p, _ in expected]
            assert [s for _, s in pairs] == pytest.approx([s for _, s in expected], abs=1e-5)
    assert found[SIMILAR[5]][0] == (SIMILAR[5], pytest.approx(1.0, abs=1e-5))


def test_pgvector_searches_with_its_ef_search_on_every_connection(postgres_url: str) -> None:
    from reflexrl.memory.postgres.pgvector import PgvectorLookup

    with closing(open_memory(postgres_url, lookup=PgvectorLookup(ef_search=77))) as store:
        shown = []
        for _ in range(3):  # three connections of the pool at once
            held = [store.pool.getconn() for _ in range(3)]
            shown += [conn.execute("SHOW hnsw.ef_search").fetchone() for conn in held]
            for conn in held:
                store.pool.putconn(conn)
        assert shown == [("77",)] * 9
    with pytest.raises(BadInputError, match="ef_search must be at least 1"):
        PgvectorLookup(ef_search=0)


def test_text_postgres_cannot_hold_is_stored_as_it_can(postgres_url: str) -> None:
    with closing(open_memory(postgres_url)) as store:
        store.start_run(RunInfo("run", "s", "fake:first", 0, 1, 4))
        store.record_episode(_episode("run", 0, ("nul\x00here", "good", 1.0)))
        assert store.lookup("s", "nul\x00here") is not None
        assert list(store.lookup_many("s", ["nul\x00here"])) == ["nul\ufffdhere"]


def test_a_read_only_pgvector_lookup_needs_its_table(postgres_url: str) -> None:
    from reflexrl.memory.postgres.pgvector import PgvectorLookup

    open_memory(postgres_url).close()
    with pytest.raises(MemoryStoreError, match="no pgvector table"):
        open_memory(postgres_url, read_only=True, lookup=PgvectorLookup())
    open_memory(postgres_url, lookup=PgvectorLookup()).close()
    with closing(open_memory(postgres_url, read_only=True, lookup=PgvectorLookup())) as reader:
        assert reader.nearest("s", "anything") == []
