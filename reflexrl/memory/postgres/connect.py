"""Where a Postgres memory lives: its URL, shown without the password, and the first
connection, whose failures become `MemoryStoreError`s that name no secret.

Credentials come from the URL (`postgresql://user:pass@host:port/db`) or libpq's own
environment variables (`PGHOST`, `PGPASSWORD`, ...), which psycopg reads; the password is
registered with `reflexrl.safety.redaction` so that no message or stored text carries it.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import psycopg

from ...errors import MemoryNotFoundError, MemoryStoreError
from ...safety.redaction import REDACTED, redact_error, register

__all__ = ["connect", "describe", "location_of"]

CONNECT_TIMEOUT = 10
"""Seconds before an unreachable server is given up on."""
_SECRET_PARAMS = frozenset({"password", "sslpassword"})
_NO_DATABASE = "3D000"  # SQLSTATE invalid_catalog_name


def location_of(url: str) -> str:
    """The URL as messages and reports show it: without its password (in the address or
    in the query string), which is registered as a secret so it is redacted elsewhere too."""
    parts = urlsplit(url)
    if parts.password:
        register(parts.password)
        register(unquote(parts.password))  # as libpq reads it, `%40` as `@`
    netloc = parts.netloc.rpartition("@")[2]
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    for _, value in (q for q in query if q[0] in _SECRET_PARAMS):
        register(value)
    query = [(k, REDACTED if k in _SECRET_PARAMS else v) for k, v in query]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), parts.fragment))


def connect(url: str, location: str, *, read_only: bool = False) -> psycopg.Connection:
    """One connection to the memory's database.

    Raises:
        MemoryNotFoundError: the database does not exist.
        MemoryStoreError: the server is unreachable, refuses the credentials, or the URL is
            not one libpq understands (the message never holds the password).
    """
    try:
        conn = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        reason = describe(exc, url)
        if getattr(exc, "sqlstate", None) == _NO_DATABASE or "does not exist" in reason:
            msg = f"{location}: no such database ({reason}); create it first (createdb)"
            raise MemoryNotFoundError(msg) from None
        raise MemoryStoreError(f"{location}: cannot connect to PostgreSQL ({reason})") from None
    conn.read_only = read_only
    return conn


def describe(exc: BaseException, url: str = "") -> str:
    """The error's message on one line with every secret cut out (libpq does not echo
    passwords, but a malformed URL's message may quote the URL; `location_of` registered
    the password)."""
    text = redact_error(" ".join(str(exc).split()))
    password = urlsplit(url).password
    for form in (password, unquote(password)) if password else ():
        text = text.replace(form, REDACTED)
    return text
