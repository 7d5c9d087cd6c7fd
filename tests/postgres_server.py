"""A PostgreSQL server for the tests (its fixtures are registered by tests/conftest.py): one per session, started from the `pgserver`
wheel's binaries (PostgreSQL 16 with pgvector) on 127.0.0.1 in a temporary folder, and a
fresh database per test.

The server is configured here rather than by `pgserver.get_server`, which listens on a unix
socket only and trusts every login: this one listens on loopback TCP and checks passwords
(scram-sha-256), so the tests reach it as a fleet would, and a wrong password is refused.
PostgreSQL refuses to run as root: under root (CI) initdb and the server run as `nobody`,
in a folder made for them outside pytest's (which only root may enter); if `nobody` cannot
reach the wheel's binaries (a checkout under /root), they are copied into that folder.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

PASSWORD = "pg-test-Secret-4729"
"""The superuser's password: long enough to be redacted if it ever leaked into a message."""
RUN_AS = "nobody"


@dataclass(frozen=True)
class PostgresServer:
    """A running server: `url(db)` connects to database `db` as its superuser."""

    port: int
    folder: Path
    bin_dir: Path
    password: str = PASSWORD

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        """The URL of `database` (with `password`)."""
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def unused_port(self) -> int:
        """A loopback port nothing listens on."""
        return _free_port()

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        import psycopg

        name = f"t_{uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return name


def _binaries() -> Path | None:
    """The pgserver wheel's bin folder (found without importing pgserver, which creates
    lock files at import), or None if the `postgres` extra is not installed."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _as_server_user() -> dict[str, Any]:
    """subprocess arguments that run PostgreSQL as a user it accepts."""
    if os.geteuid() != 0:
        return {}
    return {"user": RUN_AS, "group": pwd.getpwnam(RUN_AS).pw_gid, "extra_groups": []}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False, **_as_server_user())
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{done.stdout}\n{done.stderr}")


def _reachable(bin_dir: Path, folder: Path) -> Path:
    """`bin_dir`, or a copy of its installation in `folder` if the server's user cannot run
    it (pgserver's own answer, opening every parent folder to everyone, changes the host)."""
    try:
        _run([str(bin_dir / "postgres"), "--version"])
    except (OSError, RuntimeError):
        site = bin_dir.parents[2]  # the binaries find their libraries at ../../../pgserver.libs
        copy = folder / "pgserver-copy"
        for part in ("pgserver/pginstall", "pgserver.libs"):
            shutil.copytree(site / part, copy / part, symlinks=True)
        for path in (copy, copy / "pgserver"):
            path.chmod(0o755)
        return copy / "pgserver" / "pginstall" / "bin"
    return bin_dir


def _start(bin_dir: Path, folder: Path, options: str = "") -> PostgresServer:
    """Initialize and start a server in `folder` (`options`: more server settings, which
    override the defaults below)."""
    owner = pwd.getpwnam(RUN_AS) if os.geteuid() == 0 else None
    if owner is not None:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    bin_dir = _reachable(bin_dir, folder)
    password_file = folder / "password"
    password_file.write_text(PASSWORD + "\n")
    if owner is not None:
        os.chown(password_file, owner.pw_uid, owner.pw_gid)
    data = folder / "data"
    _run(
        [
            *(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8"),
            *("--locale=C", "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256"),
            f"--pwfile={password_file}",
        ]
    )
    password_file.unlink()
    port = _free_port()
    options = (
        f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c synchronous_commit=off "
        f"-c full_page_writes=off -c max_connections=200 {options}"
    )
    log = folder / "server.log"
    _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"])
    return PostgresServer(port, folder, bin_dir)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (skipped without the `postgres` extra)."""
    bin_dir = _binaries()
    if bin_dir is None:
        pytest.skip("the postgres extra (pgserver) is not installed")
    folder = Path(tempfile.mkdtemp(prefix="reflexrl-pg-"))
    try:
        server = _start(bin_dir, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    yield server
    data = str(folder / "data")
    _run([str(server.bin_dir / "pg_ctl"), "-D", data, "-m", "immediate", "stop"])
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh empty database on the session's server."""
    return postgres_server.url(postgres_server.create_database())
