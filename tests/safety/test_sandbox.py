"""The python_interpreter sandbox (reflexrl/sandbox.py), attacked from a model's point of view.

Every test passes code to the tool as a model would, then checks on the host that the code
could not reach what it tried to reach. Each one fails if the matching isolation is missing.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from reflexrl import RewardTable
from reflexrl.safety.sandbox import (
    SandboxLimits,
    SandboxUnavailableError,
    run_python,
    sandbox_unavailable,
)

Tool = Callable[[str], str]


@pytest.fixture
def paper(paper_tools: ModuleType) -> ModuleType:
    return paper_tools


@pytest.fixture
def tool(paper: ModuleType) -> Tool:
    """The python_interpreter tool; fails (never skips) where the sandbox cannot run."""
    reason = sandbox_unavailable()
    assert reason is None, f"the sandbox is unavailable here: {reason}"
    interpreter: Tool = paper.python_interpreter
    return interpreter


def _marker() -> str:
    return f"reflexrl-test-{uuid.uuid4().hex}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# read ---------------------------------------------------------------------------------------


def test_cannot_read_etc_passwd(tool: Tool) -> None:
    result = tool("print(open('/etc/passwd').read())")
    assert "FileNotFoundError" in result
    assert "root:" not in result


def test_memory_database_is_out_of_reach(tool: Tool, tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    RewardTable(db).close()
    before = _sha256(db)
    code = f"""
import os, sqlite3
path = {str(db)!r}
for name, attempt in [
    ("stat", lambda: os.stat(path)),
    ("read", lambda: open(path, "rb").read(16)),
    ("write", lambda: open(path, "r+b").write(b"pwned")),
    ("sql", lambda: sqlite3.connect(f"file:{{path}}?mode=rw", uri=True).execute(
        "CREATE TABLE pwned (x)")),
]:
    try:
        attempt()
        print(name, "REACHED")
    except Exception as exc:
        print(name, "failed:", type(exc).__name__)
"""
    result = tool(code)
    assert "REACHED" not in result
    for name in ("stat", "read", "write"):
        assert f"{name} failed: FileNotFoundError" in result
    assert "sql failed: OperationalError" in result
    assert _sha256(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.db"]


def test_the_host_filesystem_is_not_visible(tool: Tool) -> None:
    top = set(tool("import os\nprint(*os.listdir('/'))").split())
    python_top = os.path.realpath(sys.base_prefix).split("/")[1]
    system = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "proc", "dev"}
    assert {"usr", "tmp", "work"} <= top <= system | {"tmp", "work", python_top}
    assert "etc" not in top


# write --------------------------------------------------------------------------------------


def test_writes_to_host_paths_do_not_reach_the_host(tool: Tool, tmp_path: Path) -> None:
    in_tmp_path = tmp_path / "x"
    in_host_tmp = Path(f"/tmp/{_marker()}")
    in_python = Path(os.path.realpath(sys.base_prefix)) / f"{_marker()}.py"
    code = f"""
for path in [{str(in_tmp_path)!r}, {str(in_host_tmp)!r}, {str(in_python)!r}]:
    try:
        open(path, "w").write("escaped")
        print(path, "written")
    except OSError as exc:
        print(path, "failed:", type(exc).__name__)
"""
    result = tool(code)
    assert f"{in_tmp_path} failed: FileNotFoundError" in result
    assert f"{in_python} failed:" in result  # read-only bind (or not writable as nobody)
    for path in (in_tmp_path, in_host_tmp, in_python):
        assert not path.exists()


def test_the_working_directory_is_writable_and_private(tool: Tool) -> None:
    name = f"{_marker()}.txt"
    code = f"import os\nopen({name!r}, 'w').write('hi')\nprint(os.getcwd(), os.listdir('.'))"
    assert tool(code).strip() == f"/work [{name!r}]"
    assert tool("import os\nprint(os.listdir('.'))").strip() == "[]"
    assert not (Path("/work") / name).exists()
    assert not (Path.cwd() / name).exists()


# signal -------------------------------------------------------------------------------------


def test_cannot_signal_the_calling_process(tool: Tool) -> None:
    code = f"""
import os, signal
try:
    os.kill({os.getpid()}, signal.SIGTERM)
    print("SENT")
except OSError as exc:
    print("failed:", type(exc).__name__)
"""
    result = tool(code)
    assert "SENT" not in result
    assert "failed: ProcessLookupError" in result


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Host processes: one as the test's user and, when root, one as uid 65534 (nobody)."""
    procs = [subprocess.Popen(["sleep", "60"])]
    if os.geteuid() == 0:
        procs.append(subprocess.Popen(["sleep", "60"], user=65534, group=65534))
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


def test_kill_everything_spares_the_host(
    tool: Tool, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    code = """
import os
try:
    os.kill(-1, 9)  # every process this one may signal, but for itself and init
except ProcessLookupError:
    print("nothing else to signal")
print("still here")
"""
    assert tool(code).splitlines()[-1] == "still here"
    for proc in sleepers:
        assert proc.poll() is None, "a host process was killed from the sandbox"


# fork ---------------------------------------------------------------------------------------


def test_a_fork_loop_is_stopped_by_the_process_limit(tool: Tool) -> None:
    code = """
import os, time
count = 0
try:
    for _ in range(200):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        count += 1
    print("forked", count)
except OSError as exc:
    print("stopped after", count, exc)
"""
    result = tool(code)
    assert "Resource temporarily unavailable" in result
    count = int(result.split()[2])
    assert 0 < count < SandboxLimits().processes


def _processes_with(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
        except OSError:  # the process is gone
            continue
        if marker.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


def _poll(marker: str, *, gone: bool, seconds: float = 2.0) -> list[int]:
    """The processes with `marker`, once they are gone (or there), or after `seconds`."""
    end = time.monotonic() + seconds
    while bool(pids := _processes_with(marker)) == gone and time.monotonic() < end:
        time.sleep(0.05)
    return pids


def test_the_process_scan_sees_a_marked_process() -> None:
    marker = _marker()
    proc = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep(60)  # {marker}"])
    try:  # the poll: Popen returns before execve has filled in the new /proc/PID/cmdline
        assert _poll(marker, gone=False) == [proc.pid]
    finally:
        proc.kill()
        proc.wait()
    assert _poll(marker, gone=True) == []


def test_children_do_not_outlive_the_call(tool: Tool) -> None:
    marker = _marker()
    code = f"""
import os, subprocess, sys, time
for _ in range(3):
    if os.fork() == 0:
        time.sleep(60)  # {marker}
        os._exit(0)
for _ in range(2):
    subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)  # {marker}"],
        start_new_session=True,
    )
print("started")
"""
    assert tool(code).strip() == "started"
    assert _poll(marker, gone=True) == []


# connect ------------------------------------------------------------------------------------


def test_cannot_connect_to_a_host_tcp_listener(tool: Tool) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        result = tool(code + "print('CONNECTED')")
        assert "CONNECTED" not in result
        assert "ConnectionRefusedError" in result
        with pytest.raises(BlockingIOError):
            listener.accept()


def _unix_connect_code(address: str) -> str:
    return (
        "import socket\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        f"s.connect({address!r})\n"
        "print('CONNECTED')"
    )


def test_cannot_reach_a_unix_socket_in_tmp_path(tool: Tool, tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen()
        listener.setblocking(False)
        result = tool(_unix_connect_code(str(path)))
        assert "CONNECTED" not in result
        assert "FileNotFoundError" in result
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_cannot_reach_an_abstract_unix_socket(tool: Tool) -> None:
    address = f"\0{_marker()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(address)
        listener.listen()
        listener.setblocking(False)
        result = tool(_unix_connect_code(address))
        assert "CONNECTED" not in result
        assert "ConnectionRefusedError" in result
        with pytest.raises(BlockingIOError):
            listener.accept()


# flood --------------------------------------------------------------------------------------

FLOOD = "import sys\nfor _ in range(400):\n    sys.{stream}.write('x' * 1_000_000)\n"


def test_an_output_flood_is_cut_and_reported(tool: Tool) -> None:
    result = tool(FLOOD.format(stream="stdout"))
    assert result.startswith("x" * 100)
    assert "... (output truncated)" in result
    assert "error: output limit of 65536 bytes exceeded" in result
    assert len(result) < 5000


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_an_output_flood_does_not_grow_the_caller(stream: str) -> None:
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = run_python(FLOOD.format(stream=stream))
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kib
    assert result.output_limited
    assert result.returncode is None
    assert len(getattr(result, stream)) == SandboxLimits().output_bytes
    assert grown_kib < 16 * 1024


# limits -------------------------------------------------------------------------------------


def test_a_memory_bomb_raises_memory_error(tool: Tool) -> None:
    result = tool("x = bytearray(4 * 1024**3)\nprint('allocated')")
    assert "MemoryError" in result
    assert "allocated" not in result


def test_a_cpu_loop_is_stopped(tool: Tool) -> None:
    result = tool("while True: pass")
    assert result in {"error: CPU time limit of 3 s exceeded", "error: timed out after 5 s"}


def test_large_files_and_many_open_files_fail(tool: Tool) -> None:
    assert "File too large" in tool("open('big', 'wb').write(b'x' * (4 * 1024 * 1024))")
    code = "files = [open('f%d' % n, 'w') for n in range(200)]"
    assert "Too many open files" in tool(code)


def test_the_code_does_not_run_as_root(tool: Tool) -> None:
    result = tool("import os\nprint(os.getuid(), os.geteuid(), os.getgid(), os.getegid())")
    ids = [int(n) for n in result.split()]
    assert len(ids) == 4
    assert 0 not in ids


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root caller has root's rights to lose")
def test_a_root_caller_loses_roots_rights(tool: Tool) -> None:
    # Inside its own user namespace every process reads uid 65534, even real root; but only
    # root (kernel uid 0) may write to the sandbox's root-owned, mode 0755 "/" and "/root".
    code = """
for path in ["/escape", "/root/escape"]:
    try:
        open(path, "w").write("x")
        print(path, "WRITTEN")
    except OSError as exc:
        print(path, type(exc).__name__)
"""
    assert tool(code).split() == ["/escape", "PermissionError", "/root/escape", "PermissionError"]


# unavailable --------------------------------------------------------------------------------


@pytest.fixture
def fresh_probe() -> Iterator[None]:
    """Forget the cached probe before and after the test (its PATH is monkeypatched)."""
    sandbox_unavailable.cache_clear()
    yield
    sandbox_unavailable.cache_clear()


def _escape_code(marker: Path) -> str:
    """Code that leaves `marker` on the host: only an unsandboxed run can reach tmp_path."""
    return f"open({str(marker)!r}, 'w').write('ran unsandboxed')\nprint('ran')"


@pytest.mark.usefixtures("fresh_probe")
def test_without_bwrap_the_tool_refuses_and_runs_nothing(
    paper: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    marker = tmp_path / "ran"
    assert paper.python_interpreter(_escape_code(marker)) == (
        "error: python_interpreter is disabled here: the sandbox could not be set up "
        "(bwrap not found on PATH: install bubblewrap (Debian/Ubuntu: apt-get install "
        "bubblewrap)); the code was not run"
    )
    assert not marker.exists()
    with pytest.raises(SandboxUnavailableError, match="bwrap not found"):
        run_python(_escape_code(marker))
    assert not marker.exists()


@pytest.mark.usefixtures("fresh_probe")
def test_a_bwrap_that_cannot_create_namespaces_is_refused(
    paper: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    marker = tmp_path / "ran"
    result = paper.python_interpreter(_escape_code(marker))
    assert result.startswith("error: python_interpreter is disabled here")
    assert "bwrap: No permissions to create new namespace" in result
    assert result.endswith("the code was not run")
    assert not marker.exists()


def test_the_probe_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    first = sandbox_unavailable()
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("probed again"))
    assert sandbox_unavailable() == first


def test_signal_deaths_are_reported_as_negative_codes(tool: Tool) -> None:
    result = run_python("import os, signal\nos.kill(os.getpid(), signal.SIGABRT)")
    assert result.returncode == -signal.SIGABRT
    assert tool("import os\nos._exit(3)") == "error: exit code 3"
