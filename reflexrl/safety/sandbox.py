"""Run untrusted Python source in a bubblewrap sandbox.

The code runs in fresh PID, network, IPC, UTS and (when available) cgroup namespaces, sees only
a read-only `/usr` and the Python installation, plus private tmpfs `/tmp` and `/work` (its
working directory), and has no network (a private loopback only). When the caller is root, it
runs as uid/gid 65534 without capabilities. It gets the standard library only (`python -I -S
-B`), resource limits (CPU, address space, file size, open files, processes), a wall-clock
timeout and a cap on the output the caller reads. When the call returns, every process it
started is gone: the PID namespace dies with its first process.

There is no fallback: when bubblewrap is missing or cannot create the namespaces (as in some
containers), `run_python` raises `SandboxUnavailableError` and runs nothing.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import IO

from ..errors import ReflexRLError

__all__ = [
    "SandboxLimits",
    "SandboxResult",
    "SandboxUnavailableError",
    "run_python",
    "sandbox_unavailable",
]

NOBODY = 65534
_CLONE_NEWUSER = 0x10000000
_READ_CHUNK = 65536
_PROBE_TIMEOUT_S = 30.0
_SYSTEM_TREES = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)"


class SandboxUnavailableError(ReflexRLError):
    """The sandbox cannot be set up here (no Linux, no bubblewrap, no namespaces)."""


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandboxed run."""

    timeout_s: float = 5.0
    """Wall-clock seconds before the whole sandbox is killed."""
    cpu_s: int = 3
    """CPU seconds per process (RLIMIT_CPU soft limit: SIGXCPU; the hard limit is one more)."""
    memory_bytes: int = 512 * 1024 * 1024
    """Address space per process (RLIMIT_AS): a larger allocation raises MemoryError."""
    file_size_bytes: int = 1024 * 1024
    """Largest file a process may write (RLIMIT_FSIZE): past it, SIGXFSZ or EFBIG."""
    open_files: int = 64
    """Open file descriptors per process (RLIMIT_NOFILE)."""
    processes: int = 16
    """Processes and threads of the sandbox (RLIMIT_NPROC): fork fails past it."""
    output_bytes: int = 64 * 1024
    """Bytes the caller reads of stdout and of stderr each; past it the sandbox is killed."""
    tmp_bytes: int = 16 * 1024 * 1024
    """Size of each tmpfs (`/tmp` and `/work`)."""


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run did."""

    returncode: int | None
    """Exit status, -N for a death by signal N; None when the sandbox was killed here.

    bwrap reports a death by signal N as exit status 128 + N, as shells do, so a program that
    exits with such a status on purpose also reads as killed by a signal.
    """
    stdout: str
    """Standard output, at most `output_bytes` of it, decoded with errors="replace"."""
    stderr: str
    """Standard error, at most `output_bytes` of it, decoded with errors="replace"."""
    timed_out: bool
    """The wall-clock timeout expired and the sandbox was killed."""
    output_limited: bool
    """stdout or stderr went past `output_bytes`: the sandbox was killed, the output cut."""


@functools.cache
def sandbox_unavailable() -> str | None:
    """Tell whether the sandbox works here; probed once, then cached.

    Returns:
        None when the sandbox works, else a one-line reason it cannot be set up.
    """
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux, this is {sys.platform}"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return f"bwrap not found on PATH: {_INSTALL_HINT}"
    return _probe(bwrap)


def run_python(source: str, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    """Run Python source in the sandbox and collect what it prints.

    Args:
        source: Python source code, run with the standard library only.
        limits: Time, resource and output limits.

    Returns:
        The exit status and the (possibly cut) output.

    Raises:
        SandboxUnavailableError: The sandbox cannot be set up here; nothing was run.
        OSError: The sandbox could not be started (e.g. source too long for an argument).
        ValueError: The source contains a NUL character.
    """
    reason = sandbox_unavailable()
    bwrap = shutil.which("bwrap")
    if reason is not None or bwrap is None:
        raise SandboxUnavailableError(reason or f"bwrap not found on PATH: {_INSTALL_HINT}")
    process = subprocess.Popen(
        _command(bwrap, limits, source),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    return _supervise(process, limits)


# --------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------


def _probe(bwrap: str) -> str | None:
    """Start a trivial sandbox with the real arguments; None if it works, else why not."""
    try:
        probe = subprocess.run(
            _command(bwrap, SandboxLimits(), "pass"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap could not be started: {exc}"
    if probe.returncode == 0:
        return None
    lines = probe.stderr.decode("utf-8", "replace").strip().splitlines()
    detail = lines[-1] if lines else f"exit status {probe.returncode}"
    return f"bwrap could not start a sandbox: {detail}"


def _command(bwrap: str, limits: SandboxLimits, source: str) -> list[str]:
    """The full bwrap command line that runs `source` under `limits`."""
    interpreter = os.path.realpath(sys.executable)
    program = _prelude(limits, drop_root=os.geteuid() == 0) + source
    return [
        bwrap,
        *_filesystem_args(limits),
        *_namespace_args(),
        "--",
        interpreter,
        "-I",
        "-S",
        "-B",
        "-c",
        program,
    ]


def _filesystem_args(limits: SandboxLimits) -> list[str]:
    """Read-only system and Python trees, private tmpfs /tmp and /work, a clean environment."""
    args = ["--ro-bind", "/usr", "/usr"]
    for tree in _SYSTEM_TREES:
        if os.path.islink(tree):
            args += ["--symlink", os.readlink(tree), tree]
        elif os.path.isdir(tree):
            args += ["--ro-bind", tree, tree]
    args += _python_args()
    size = str(limits.tmp_bytes)
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--size", size, "--perms", "1777", "--tmpfs", "/tmp"]
    args += ["--size", size, "--perms", "0777", "--tmpfs", "/work", "--chdir", "/work"]
    return [*args, "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/work"]


def _python_args() -> list[str]:
    """Bind the Python installation read-only, with traversable ancestor directories."""
    covered = ["/usr", *(tree for tree in _SYSTEM_TREES if os.path.isdir(tree))]
    prefixes = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)}
    args: list[str] = []
    for prefix in sorted(prefixes):
        if _under(prefix, covered):
            continue
        for ancestor in _ancestors(prefix):
            if not _under(ancestor, covered):
                args += ["--perms", "0755", "--dir", ancestor]
        args += ["--ro-bind", prefix, prefix]
        covered.append(prefix)
    return args


def _ancestors(path: str) -> list[str]:
    """The directories above `path`, outermost first, without the root ("/a/b/c": /a, /a/b)."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: n + 1]) for n in range(len(parts))]


def _under(path: str, trees: list[str]) -> bool:
    """`path` is one of `trees` or inside one of them (all absolute and normalized)."""
    return any(path == tree or path.startswith(tree.rstrip("/") + "/") for tree in trees)


def _namespace_args() -> list[str]:
    """New namespaces and session; the capabilities the prelude needs to drop root."""
    args = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
    args += ["--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    if os.geteuid() == 0:  # privileged bwrap: keep only what setuid/setgid to nobody needs
        return [*args, "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return [*args, "--unshare-user"]  # unprivileged bwrap drops every capability itself


def _prelude(limits: SandboxLimits, *, drop_root: bool) -> str:
    """One line of Python run before the user's code: drop root, a user namespace, the rlimits.

    The user namespace (best effort) makes RLIMIT_NPROC count this sandbox's processes only,
    not every process of the same uid on the host. The prelude runs with `exec` in a namespace
    of its own, so the user's code sees clean globals and its line numbers are off by one only.
    """
    drop = f"_os.setgroups([])\n_os.setgid({NOBODY})\n_os.setuid({NOBODY})\n" if drop_root else ""
    rlimits = (
        ("CPU", limits.cpu_s, limits.cpu_s + 1),
        ("FSIZE", limits.file_size_bytes, limits.file_size_bytes),
        ("NOFILE", limits.open_files, limits.open_files),
        ("AS", limits.memory_bytes, limits.memory_bytes),
        ("NPROC", limits.processes, limits.processes),
    )
    setrlimits = "".join(f"_res.setrlimit(_res.RLIMIT_{n}, ({s}, {h}))\n" for n, s, h in rlimits)
    code = (
        f"import os as _os, resource as _res\n{drop}"
        "try:\n"
        "    import ctypes as _ctypes\n"
        f"    _ctypes.CDLL(None, use_errno=True).unshare({_CLONE_NEWUSER})\n"
        "except (ImportError, OSError, AttributeError):\n"
        "    pass\n"
        f"{setrlimits}"
    )
    return f"exec(compile({code!r}, '<sandbox prelude>', 'exec'), {{}})\n"


# --------------------------------------------------------------------------------------------
# supervising the run
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Capture:
    """The bytes read from the sandbox and why reading stopped early, if it did."""

    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    output_limited: bool = False


def _supervise(process: subprocess.Popen[bytes], limits: SandboxLimits) -> SandboxResult:
    """Read the output under the deadline and the cap; kill the sandbox if either is hit."""
    deadline = time.monotonic() + limits.timeout_s
    try:
        capture = _read_output(process, limits.output_bytes, deadline)
        if not (capture.timed_out or capture.output_limited):
            capture = _await_exit(process, capture, deadline)
    finally:
        if process.returncode is None:
            _kill(process)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    killed = capture.timed_out or capture.output_limited
    return SandboxResult(
        returncode=None if killed else _signal_status(process.returncode),
        stdout=capture.stdout.decode("utf-8", "replace"),
        stderr=capture.stderr.decode("utf-8", "replace"),
        timed_out=capture.timed_out,
        output_limited=capture.output_limited,
    )


def _read_output(process: subprocess.Popen[bytes], cap: int, deadline: float) -> _Capture:
    """Read stdout and stderr concurrently until both close, the deadline, or the cap."""
    streams: list[IO[bytes]] = [s for s in (process.stdout, process.stderr) if s is not None]
    buffers = {stream.fileno(): bytearray() for stream in streams}
    with selectors.DefaultSelector() as selector:
        for stream in streams:
            selector.register(stream, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _Capture(*_contents(buffers), timed_out=True)
            for key, _ in selector.select(remaining):
                if not _read_chunk(selector, key, buffers[key.fd], cap):
                    return _Capture(*_contents(buffers), output_limited=True)
    return _Capture(*_contents(buffers))


def _contents(buffers: dict[int, bytearray]) -> tuple[bytes, bytes]:
    """The stdout and stderr buffers (registered in that order) as bytes."""
    out, err = (bytes(buffer) for buffer in buffers.values())
    return out, err


def _read_chunk(
    selector: selectors.BaseSelector, key: selectors.SelectorKey, buffer: bytearray, cap: int
) -> bool:
    """Append one chunk to `buffer`, at most up to `cap` bytes; False once past the cap."""
    chunk = os.read(key.fd, _READ_CHUNK)
    if not chunk:
        selector.unregister(key.fileobj)
        return True
    room = cap - len(buffer)
    buffer += chunk[: max(room, 0)]
    return len(chunk) <= room


def _await_exit(process: subprocess.Popen[bytes], capture: _Capture, deadline: float) -> _Capture:
    """Wait for bwrap to exit after the output closed; a timeout if it outlives the deadline."""
    try:
        process.wait(timeout=max(deadline - time.monotonic(), 0.0))
    except subprocess.TimeoutExpired:
        return _Capture(capture.stdout, capture.stderr, timed_out=True)
    return capture


def _signal_status(returncode: int) -> int:
    """Turn bwrap's 128 + N for a death by signal N back into Popen's -N."""
    if 128 < returncode < 128 + signal.NSIG:
        return 128 - returncode
    return returncode


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill bwrap's process group and reap it; the PID namespace takes the rest down."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
