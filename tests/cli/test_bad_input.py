"""Bad input as a careless or hostile user gives it, table-driven: every case exits 2 with one
`error:` line naming the flag, file or field, no traceback, and leaves the working directory
(with the memory database in it) byte-for-byte as it was.

The CLI runs in-process (`inprocess.run_main`), so these cases cost milliseconds;
`test_cli.py` runs a few of them in a real subprocess.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from inprocess import run_main as cli

ROOT = Path(__file__).parents[2]
PAPER_SUITE = ROOT / "evals" / "suites" / "paper.yaml"
HEADER_VALUE = "hv-0b1c2d3e4f5a"

SUITE = """\
name: tiny
tools:
  - {{name: t, description: a tool, function: {function}}}
queries:
  - {{id: q1, valid_tools: [t], prompts: [do it]}}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A memory after one `fake:first` epoch (made once, copied by each test)."""
    db = tmp_path_factory.mktemp("trained") / "m.db"
    assert cli("train", "--model", "fake:first", "--epochs", "1", "--memory", str(db)) == 0
    assert cli("memory", "show", "--memory", str(db)) == 0  # leaves no side files behind
    return db


def _sqlite(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def _suite(work: Path, name: str, module: str) -> None:
    """`NAME.yaml`, whose tool is `t` in `NAME.py` (holding `module`)."""
    stem = name.removesuffix(".yaml")
    (work / name).write_text(SUITE.format(function=f"{stem}.py:t"), encoding="utf-8")
    (work / f"{stem}.py").write_text(module, encoding="utf-8")


def _damage(path: Path) -> None:
    """Overwrite the first page of the log's tables with garbage: the file opens, its schema
    reads, and a read of the log finds the damage."""
    conn = sqlite3.connect(path)
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    names = ("reward_events", "steps", "episodes", "memory")
    sql = f"SELECT rootpage FROM sqlite_master WHERE name IN {names}"
    pages = [row[0] for row in conn.execute(sql)]
    conn.close()
    with path.open("r+b") as file:
        for page in pages:
            file.seek((page - 1) * size)
            file.write(b"\xa5" * size)


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)
"""Nine anchors of nine aliases: 9^9 nodes once expanded."""


def _files(work: Path, trained: Path) -> None:
    """Everything the cases point at: good and unusable memories, bad suites, stray files."""
    shutil.copy(trained, work / "m.db")
    _sqlite(work / "m.db", *(f"UPDATE {t} SET run_id = 'r1'" for t in ("runs", "episodes")))
    shutil.copy(work / "m.db", work / "mem.jsonl")
    shutil.copy(work / "m.db", work / "damaged.db")
    _damage(work / "damaged.db")
    (work / "empty.db").touch()
    (work / "m-link.html").symlink_to("m.db")
    (work / "null.jsonl").symlink_to(os.devnull)
    os.mkfifo(work / "fifo.html")
    (work / "afile").write_text("a file, not a folder")
    (work / "text.db").write_text("not SQLite at all\n" * 100)
    data = trained.read_bytes()
    (work / "truncated.db").write_bytes(data[: len(data) // 2])
    shutil.copy(trained, work / "future.db")
    _sqlite(work / "future.db", "PRAGMA user_version = 99")
    _sqlite(work / "notables.db", "PRAGMA user_version = 2")
    _sqlite(work / "other.db", "CREATE TABLE moz_places (url TEXT)")
    (work / "adir.db").mkdir()
    _suite(work, "missing.yaml", "def other(x: str) -> str:\n    return x\n")
    _suite(work, "notcallable.yaml", "t = 42\n")
    _suite(work, "syntax.yaml", "def t(x: str) -> str\n    return x\n")
    _suite(work, "raises.yaml", "raise RuntimeError('import-time failure')\n")
    (work / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    surrogate = SUITE.format(function="surrogate.py:t").replace("do it", '"\\ud800"')
    (work / "surrogate.yaml").write_text(surrogate, encoding="utf-8")  # YAML's escape for it
    _suite(work, "bomb.yaml", "def t(x: str) -> str:\n    return x\n")
    (work / "bomb.yaml").write_text(BOMB + SUITE.format(function="bomb.py:t"), encoding="utf-8")
    for name, reward in (("inf", ".inf"), ("nan", ".nan"), ("huge", "1e300")):
        _suite(work, f"{name}.yaml", "def t(x: str) -> str:\n    return x\n")
        text = SUITE.format(function=f"{name}.py:t") + f"reward: {{valid: {reward}}}\n"
        (work / f"{name}.yaml").write_text(text, encoding="utf-8")
    _suite(work, "long.yaml", "def t(x: str) -> str:\n    return x\n")
    long = SUITE.format(function="long.py:t").replace("do it", "x" * 20_001)
    (work / "long.yaml").write_text(long, encoding="utf-8")


TRAIN = ("train", "--model", "fake:first", "--memory", "m.db")
EVAL = ("eval", "--model", "fake:first", "--memory", "m.db")
SHOW = ("memory", "show", "--memory")
CASES: list[tuple[tuple[str, ...], str]] = [
    # flags out of range or of the wrong type: click's usage box before, one line now
    ((*TRAIN, "--epochs", "-1"), "--epochs: input should be greater than or equal to 1"),
    ((*TRAIN, "--concurrency", "0"), "--concurrency: input should be greater than or equal to 1"),
    (
        (*EVAL, "--concurrency", "100000"),
        "--concurrency: input should be less than or equal to 1024",
    ),
    ((*TRAIN, "--epsilon", "2"), "--epsilon: input should be less than or equal to 1"),
    ((*TRAIN, "--epsilon", "nan"), "--epsilon: input should be"),
    ((*TRAIN, "--epsilon-end", "inf"), "--epsilon-end: input should be less than or equal to 1"),
    ((*TRAIN, "--max-steps", "0"), "--max-steps: input should be greater than or equal to 1"),
    ((*TRAIN, "--user", "template:grumpy"), "--user: no user 'template:grumpy' (choose rephrase,"),
    ((*EVAL, "--user", "llm"), "--user: no user 'llm'"),
    ((*EVAL, "--user", "llm: "), "--user: no user 'llm: '"),
    ((*TRAIN, "--user", "llm:nope:x"), "--user: llm:nope:x: unknown model spec 'nope:x'"),
    (
        (*TRAIN, "--user", "template:impatient,patience=x"),
        "--user: template:impatient,patience=x: patience must be an integer, not 'x'",
    ),
    ((*TRAIN, "--timeout", "0"), "--timeout: input should be greater than or equal to 0.1"),
    ((*EVAL, "--timeout", "inf"), "--timeout: inf is not a finite number"),
    ((*TRAIN, "--temperature", "-1"), "--temperature: input should be greater than or equal to 0"),
    ((*TRAIN, "--max-cost", "nan"), "--max-cost: "),
    ((*TRAIN, "--credit", "bogus"), "--credit: 'bogus' is not one of 'current', 'origin'"),
    ((*TRAIN, "--seed", "abc"), "--seed: input should be a valid integer"),
    ((*SHOW, "m.db", "--limit", "0"), "--limit: input should be greater than or equal to 1"),
    ((*TRAIN, "--no-such-flag"), "No such option: --no-such-flag"),
    (("report", "--memory", "m.db", "--format", "pdf"), "--format: 'pdf' is not one of"),
    # unusable memory files: exit 2, nothing changed
    ((*SHOW, "text.db"), "text.db: not a usable memory database (file is not a database)"),
    ((*SHOW, "truncated.db"), "truncated.db: not a usable memory database"),
    ((*SHOW, "future.db"), "future.db: memory schema version 99 is newer than this reflexrl"),
    ((*SHOW, "adir.db"), "adir.db: is a directory, not a memory database"),
    ((*SHOW, "notables.db"), "notables.db: not a usable reflexrl memory database (schema"),
    ((*SHOW, "other.db"), "other.db: not a reflexrl memory database (tables: moz_places)"),
    ((*SHOW, "nothere.db"), "nothere.db: no memory database here"),
    (("train", "--model", "fake:first", "--memory", "text.db"), "text.db: not a usable"),
    (("train", "--model", "fake:first", "--memory", "truncated.db"), "truncated.db: not a"),
    (("train", "--model", "fake:first", "--memory", "future.db"), "schema version 99"),
    (("train", "--model", "fake:first", "--memory", "adir.db"), "adir.db: is a directory"),
    (("train", "--model", "fake:first", "--memory", "notables.db"), "notables.db: not a"),
    (("train", "--model", "fake:first", "--memory", "other.db"), "tables: moz_places"),
    (("train", "--model", "fake:first", "--memory", "afile/m.db"), "afile is a file, not a"),
    (("memory", "reset", "--yes", "--memory", "future.db"), "schema version 99"),
    (("report", "--memory", "text.db"), "text.db: not a usable memory database"),
    (("eval", "--model", "fake:first", "--memory", "truncated.db"), "truncated.db: not a"),
    # found only after the database was created, before: now before anything is written
    (
        ("train", "--model", "fake:first", "--suite", "missing.yaml", "--memory", "new.db"),
        "missing.yaml: tools.0.function: 'missing.py:t' not found",
    ),
    (
        ("train", "--model", "fake:first", "--suite", "notcallable.yaml", "--memory", "new.db"),
        "notcallable.yaml: tools.0.function: 'notcallable.py:t' is not a function",
    ),
    ((*TRAIN[:-1], "new.db", "--render", "bogus"), "--render: unknown rendering 'bogus'"),
    ((*EVAL, "--render", "bogus"), "--render: unknown rendering 'bogus'"),
    ((*TRAIN, "--response-cache", "adir.db"), "adir.db: is a directory, not a response cache"),
    ((*TRAIN, "--response-cache", "afile/c.db"), "afile is a file, not a directory"),
    ((*TRAIN, "--response-cache", "text.db"), "text.db: not a usable response cache"),
    ((*TRAIN, "--response-cache", "m.db"), "m.db: not a reflexrl response cache"),
    (("train", "--memory", "m.db", "--resume", "no-such-run"), "--resume: no run 'no-such-run'"),
    (("report", "--memory", "m.db", "--run", "no-such-run"), "--run: no run 'no-such-run'"),
    (("train", "--memory", "new.db", "--resume", "r1"), "new.db: no memory database here"),
    # tracebacks before: tool modules that fail to import, a non-UTF-8 suite, bad paths
    (
        ("train", "--model", "fake:first", "--suite", "syntax.yaml", "--memory", "new.db"),
        "importing",
    ),
    (
        ("train", "--model", "fake:first", "--suite", "raises.yaml", "--memory", "new.db"),
        "failed: RuntimeError: import-time failure",
    ),
    (("train", "--model", "fake:first", "--suite", "latin1.yaml"), "latin1.yaml: not UTF-8"),
    (("train", "--suite", "surrogate.yaml"), "queries.0.prompts.0: not valid Unicode"),
    (("report", "--memory", "m.db", "--out", "nodir/x.html"), "--out: nodir/x.html: no direct"),
    (("report", "--memory", "m.db", "--out", "adir.db"), "--out: adir.db: is a directory"),
    # smaller ones
    ((*TRAIN, "--header", HEADER_VALUE), "--header number 1: expected 'Name: value'"),
    ((*TRAIN, "--header", "X-Key: v"), "--header: only hosted models"),
    ((*EVAL, "--base-url", "http://127.0.0.1:9/v1"), "--base-url: only hosted models"),
    (("eval", "--compare", "--no-memory", "--model", "fake:first"), "drop --no-memory"),
    (("memory", "reset", "--memory", "m.db"), "memory reset: refusing without --yes"),
    (("train", "--model", "gpt9:big", "--memory", "new.db"), "unknown model spec 'gpt9:big'"),
    # the kNN lookup and held-out prompts
    ((*TRAIN, "--holdout", "5"), "holdout 5: query q1 of suite paper has 5 prompts"),
    ((*EVAL, "--holdout", "9", "--split", "heldout"), "holdout 9: query q1"),
    ((*EVAL, "--split", "heldout"), "--split: 'heldout' needs a holdout of at least 1"),
    ((*EVAL, "--split", "nope"), "--split: 'nope' is not one of 'all', 'train', 'heldout'"),
    ((*TRAIN, "--lookup", "fuzzy"), "--lookup: 'fuzzy' is not one of 'exact', 'knn'"),
    ((*TRAIN, "--k", "0"), "--k: input should be greater than or equal to 1"),
    ((*EVAL, "--threshold", "1.5"), "--threshold: input should be less than or equal to 1"),
    ((*EVAL, "--threshold", "nan"), "--threshold"),
    ((*TRAIN, "--lookup", "knn", "--render", "paper"), "'paper' shows every row"),
    ((*SHOW, "m.db", "--prompt", "hi", "--suite", "paper", "--k", "-1"), "--k: input"),
    # reading commands whose output would replace the memory, a device, a FIFO
    (("report", "--memory", "m.db", "--out", "m.db"), "--out: m.db: is the memory's own file"),
    (("report", "--memory", "m.db", "--format", "html", "--out", "m.db"), "memory's own file"),
    (("report", "--memory", "m.db", "--out", "m-link.html"), "is the memory's own file"),
    (("report", "--memory", "m.db", "--out", "m.db-wal"), "is the memory's own file"),
    (("report", "--memory", "m.db", "--out", "m.db.knn/r.txt"), "is the memory's own file"),
    (("report", "--memory", "m.db", "--out", os.devnull), "not a regular file"),
    (("report", "--memory", "m.db", "--format", "html", "--out", "/dev/full"), "not a regular"),
    (("report", "--memory", "m.db", "--out", "fifo.html"), "fifo.html: not a regular file"),
    (("export", "--memory", "mem.jsonl", "--out", "mem.jsonl"), "--out: mem.jsonl: is the mem"),
    (("export", "--memory", "m.db", "--out", "null.jsonl"), "null.jsonl: not a regular file"),
    (("export", "--memory", "m.db", "--out", "/dev/full"), "--out: /dev/full: exists"),
    # suites that hang, poison the sums or fill the disk: refused before a file is made
    (("train", "--model", "fake:first", "--suite", "bomb.yaml", "--memory", "new.db"), "alias"),
    (("train", "--model", "fake:first", "--suite", "inf.yaml", "--memory", "new.db"), "valid"),
    (("train", "--model", "fake:first", "--suite", "nan.yaml", "--memory", "new.db"), "valid"),
    (("train", "--model", "fake:first", "--suite", "huge.yaml", "--memory", "new.db"), "valid"),
    (
        ("train", "--model", "fake:first", "--suite", "long.yaml", "--memory", "new.db"),
        "queries.0.prompts: prompt 0 has 20001 characters (at most 20000)",
    ),
    # points: huge numbers, non-ASCII digits, the future
    (
        ("memory", "diff", "--memory", "m.db", "--from", "r1:99999999999999999999999"),
        "point 'r1:99999999999999999999999': run 'r1' has no finished episode",
    ),
    (("memory", "diff", "--memory", "m.db", "--from", "r1:\u00b2"), "no finished episode"),
    (
        (*SHOW, "m.db", "--at", "change:99999999999999999999999"),
        "no change 99999999999999999999999 in",
    ),
    ((*SHOW, "m.db", "--at", "change:\u0663"), "no run 'change'"),
    (("memory", "diff", "--memory", "m.db", "--to", "2999-01-01"), "a time in the future"),
    # rollbacks that would change nothing, or name what is not there: nothing written
    (("memory", "rollback", "--memory", "m.db", "--to", "nosuch", "--yes"), "no run 'nosuch'"),
    (
        ("memory", "rollback", "--memory", "m.db", "--to", "r1:99999999999999999999999", "--yes"),
        "has no finished episode",
    ),
    (
        ("memory", "rollback", "--memory", "m.db", "--to", "start", "--suite", "nosuch", "--yes"),
        "suite 'nosuch': not in the memory (its suites: paper)",
    ),
    (("memory", "rollback", "--memory", "m.db", "--to", "now", "--yes"), "nothing to roll back"),
    (("memory", "rollback", "--memory", "m.db", "--to", "2999-01-01", "--yes"), "the future"),
    (("memory", "rollback", "--memory", "empty.db", "--to", "start", "--yes"), "an empty file"),
    ((*SHOW, "empty.db"), "empty.db: an empty file, not a memory database"),
    # a file damaged in the middle: one line everywhere, and train refuses to append to it
    (("memory", "diff", "--memory", "damaged.db"), "damaged.db: database disk image is malformed"),
    ((*SHOW, "damaged.db", "--at", "now"), "damaged.db: database disk image is malformed"),
    (("memory", "rollback", "--memory", "damaged.db", "--to", "start", "--yes"), "malformed"),
    (("export", "--memory", "damaged.db", "--suite", "paper", "--out", "o.jsonl"), "malformed"),
    (("report", "--memory", "damaged.db"), "damaged.db: database disk image is malformed"),
    ((*TRAIN[:-1], "damaged.db"), "damaged.db: not a usable memory database (damaged:"),
]


@pytest.mark.parametrize(("args", "words"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_is_one_line_exit_2_nothing_changed(
    tmp_path: Path,
    trained: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    words: str,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    _files(work, trained)
    if "--model" not in args and args[0] in ("train", "eval"):
        monkeypatch.setenv("REFLEXRL_MODEL", "fake:first")
    monkeypatch.chdir(work)
    before = _snapshot(work)
    code = cli(*args)
    captured = capfd.readouterr()
    lines = [ln for ln in captured.err.splitlines() if not ln.startswith("model: ")]
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert words in lines[0], lines[0]
    assert "Traceback" not in captured.err and captured.out == ""
    assert HEADER_VALUE not in captured.err
    assert _snapshot(work) == before


def _snapshot(folder: Path) -> dict[str, object]:
    """Every file and folder under `folder`: its bytes and mode (None for a folder; the
    file type for a FIFO or a link to a device)."""
    return {str(p.relative_to(folder)): _content(p) for p in sorted(folder.rglob("*"))}


def _content(path: Path) -> object:
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        return None
    if not stat.S_ISREG(mode):
        return stat.S_IFMT(mode)  # never read: a FIFO would block
    return path.read_bytes(), stat.S_IMODE(mode)


def test_the_snapshot_sees_a_change(tmp_path: Path, trained: Path) -> None:
    """The check above can fail: a writing command changes the snapshot."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(trained, work / "m.db")
    before = _snapshot(work)
    assert cli("memory", "reset", "--yes", "--memory", str(work / "m.db")) == 0
    assert _snapshot(work) != before
