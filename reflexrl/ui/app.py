"""`reflexrl ui`: a small Starlette app over one memory (a SQLite file or a PostgreSQL
database), read-only, on the loopback.

Every route is a GET that renders a page server-side (`pages.py`): sorting, search and
paging are links and a form, so the pages need no script, and the content security policy
forbids any. The page shows the whole memory, unauthenticated: it listens on a loopback
address unless sharing is explicitly allowed, answers only requests whose Host names that
address (a DNS-rebinding page cannot read it), and bounds every parameter it reads.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import BadInputError, ReflexRLError
from ..memory import open_memory
from ..memory.queries import InspectableMemory, inspectable
from . import data, pages

HEADERS = {
    "Content-Security-Policy": pages.CSP + "; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""Sent with every response, error replies included."""

MAX_SEARCH = 1000
"""Characters in a search (SQLite refuses LIKE patterns of 50,000 bytes and more)."""
MAX_TEXT = 1000
"""Characters in a suite name or a run id."""
MAX_PROMPT = 50_000
"""Characters in a prompt named by a prompt page's address (a suite's prompts hold 20,000)."""
MAX_REQUEST_HEAD = 1024 * 1024
"""Bytes of a request line and headers the server reads: a 50,000-character prompt's address,
percent-encoded, is up to 600,000 (uvicorn's default, 16 KB, would refuse long prompts' links)."""
MAX_PAGE = 1_000_000_000
"""The last page number read: 50 billion rows, far beyond any memory (a page past the last
one shows the last)."""
MAX_ID = 2**63 - 1
"""The largest episode id: SQLite's integers are 64-bit."""
_DIGITS = re.compile("[0-9]{1,19}")  # ASCII only: str.isdigit would take '²'
_WILDCARDS = ("", "*")
_EVERYWHERE = "{host!r} listens on every interface: name one address (127.0.0.1, ::1, localhost)"


def open_for_ui(path: str | Path) -> InspectableMemory:
    """The memory at `path` (a SQLite file or a PostgreSQL URL), read-only; with the kNN
    lookup when the memory has one.

    Raises:
        MemoryNotFoundError: no memory there. MemoryStoreError: not a usable memory.
    """
    probe = inspectable(open_memory(path, create=False, read_only=True))
    if probe.embedding_model() is None:
        return probe
    probe.close()
    return inspectable(open_memory(path, create=False, read_only=True, lookup="knn"))


def create_app(store: InspectableMemory, *names: str) -> ASGIApp:
    """The web app over `store` (which the caller closes), answering requests whose Host is
    the loopback or one of `names` (the host it was asked to listen on, the address bound)."""
    routes = [
        Route("/", _page(store, _index_params, lambda **v: pages.index_page(store, **v))),
        Route("/prompt", _page(store, _prompt_params, lambda **v: pages.prompt_page(store, **v))),
        Route(
            "/episode/{id}",
            _page(store, _episode_params, lambda **v: pages.episode_page(store, **v)),
        ),
        Route("/run/{run_id}", _page(store, _run_params, lambda **v: pages.run_page(store, **v))),
    ]
    return Guard(Starlette(routes=routes), names)


def _page(
    store: InspectableMemory,
    parse: Callable[[Request], dict[str, Any]],
    render: Callable[..., str],
) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint: the page `render` makes of the parameters `parse` reads; a 400 page when
    they are malformed or out of bounds, a 404 page naming what was not found."""

    async def endpoint(request: Request) -> Response:
        try:
            values = parse(request)
        except ReflexRLError as exc:
            return _error_page(store, exc, 400)
        try:
            return HTMLResponse(render(**values))
        except ReflexRLError as exc:
            return _error_page(store, exc, 404)

    return endpoint


def _error_page(store: InspectableMemory, exc: ReflexRLError, status: int) -> Response:
    heading = "Bad request" if status == 400 else "Not found"
    html = pages.render("error.html", store, heading=heading, message=str(exc))
    return HTMLResponse(html, status_code=status)


def _index_params(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {
        "search": _text(q, "q", "search", MAX_SEARCH, ""),
        "sort": _choice(q, "sort", tuple(data.SORTS), "visits"),
        "descending": _choice(q, "order", ("desc", "asc"), "desc") == "desc",
        "page": _number(q.get("page", "1"), "page", MAX_PAGE),
    }


def _prompt_params(request: Request) -> dict[str, Any]:
    q = request.query_params
    if "suite" not in q or "prompt" not in q:
        raise BadInputError("a prompt page needs ?suite=...&prompt=...")
    return {
        "suite": _text(q, "suite", "suite", MAX_TEXT),
        "prompt": _text(q, "prompt", "prompt", MAX_PROMPT),
        "page": _number(q.get("page", "1"), "page", MAX_PAGE),
    }


def _episode_params(request: Request) -> dict[str, Any]:
    return {"episode_id": _number(request.path_params["id"], "episode id", MAX_ID)}


def _run_params(request: Request) -> dict[str, Any]:
    """The run id in the path (any text a run id may be, bounded)."""
    run_id = str(request.path_params["run_id"])
    if len(run_id) > MAX_TEXT:
        raise BadInputError(f"run id: longer than {MAX_TEXT:,} characters")
    return {"run_id": run_id}


def _text(q: QueryParams, key: str, name: str, longest: int, default: str | None = None) -> str:
    """The text parameter `key`, at most `longest` characters: what a page holds, not what a
    client can send (a 50,000-character search made SQLite fail)."""
    value = q.get(key, default)
    assert value is not None  # the callers check required parameters first
    if len(value) > longest:
        raise BadInputError(f"{name}: longer than {longest:,} characters ({len(value):,})")
    return value


def _choice(q: QueryParams, key: str, choices: tuple[str, ...], default: str) -> str:
    """The parameter `key`, one of `choices` (a typo is an error, not the default)."""
    value = q.get(key, default)
    if value not in choices:
        raise BadInputError(f"{key}: no such choice {_clip(value)!r} (choose {', '.join(choices)})")
    return value


def _number(text: str, name: str, largest: int) -> int:
    """`text` as a number from 1 to `largest`: ASCII digits only, so that no digit Python
    reads ('²', '٣') and no size SQLite cannot hold reaches a query."""
    if not _DIGITS.fullmatch(text):
        raise BadInputError(f"{name}: not a number from 1 to {largest:,}: {_clip(text)!r}")
    value = int(text)
    if not 1 <= value <= largest:
        raise BadInputError(f"{name}: not a number from 1 to {largest:,}: {text}")
    return value


def _clip(text: str) -> str:
    """`text` short enough to quote in an error message."""
    return text if len(text) <= 40 else text[:40] + "..."


class Guard:
    """The outermost layer of the app (outside Starlette's error handling, so its 500 reply
    too): every response gets `HEADERS`, and a request whose Host is not the loopback nor
    one of `names` is refused (a DNS-rebinding page would send its own name)."""

    def __init__(self, app: ASGIApp, names: Iterable[str] = ()) -> None:
        self.app = app
        self.names = frozenset(filter(None, (_host_name(n) for n in names)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _secured(message.get("headers", ()))}
            await send(message)

        hosts = [v for k, v in scope["headers"] if k == b"host"]
        if len(hosts) == 1 and self.accepts(hosts[0].decode("latin-1")):
            await self.app(scope, receive, send_with_headers)
        else:
            refusal = PlainTextResponse("Invalid host header", status_code=400)
            await refusal(scope, receive, send_with_headers)

    def accepts(self, host: str) -> bool:
        """Whether a request with this Host header is answered."""
        name = _parse_host(host)
        if name is None:
            return False
        return name == "localhost" or name in self.names or is_loopback(name)


def _secured(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with `HEADERS` in place of any of the same name."""
    ours = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
    names = {k for k, _ in ours}
    return [(k, v) for k, v in headers if k.lower() not in names] + ours


_HOST = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::[0-9]{1,5})?")


def _parse_host(host: str) -> str | None:
    """The name in a Host header (`name`, `name:port`, `[v6]`, `[v6]:port`), normalised as
    `_host_name` does; None when the header is not one of those."""
    found = _HOST.fullmatch(host)
    if found is None:
        return None
    if found["v6"] is None:
        return _host_name(found["name"])
    try:
        return str(ipaddress.IPv6Address(found["v6"]))
    except ValueError:
        return None


def _host_name(host: str) -> str:
    """A host as the Host check compares it: lower case, no trailing dot or brackets, an IP
    address in its canonical form (so '::0001' and '::1' are one host)."""
    name = host.strip().removeprefix("[").removesuffix("]").lower().removesuffix(".")
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def is_loopback(address: str) -> bool:
    """Whether `address` is an IP address of the loopback (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(address.partition("%")[0]).is_loopback
    except ValueError:
        return False


class RemoteHostError(BadInputError):
    """A host off the loopback, refused because sharing the page was not allowed."""


def check_host(host: str, *, allow_remote: bool = False) -> str:
    """The address `host` listens on, refused unless it is a loopback one (127.0.0.0/8, ::1;
    `localhost` is one) or `allow_remote`: the page shows the whole memory to anyone who
    can reach it. A wildcard (every interface) is always refused: the Host check could not
    know which names reach it.

    Raises:
        BadInputError: an empty host, a wildcard, a host that does not resolve.
        RemoteHostError: (without `allow_remote`) a host that is not the loopback.
    """
    return _resolve(host, 0, allow_remote=allow_remote)[1][0]


def _resolve(host: str, port: int, *, allow_remote: bool) -> tuple[socket.AddressFamily, Any]:
    """The family and socket address to bind for `host:port`, checked (see `check_host`)."""
    name = host.strip().removeprefix("[").removesuffix("]")
    if name in _WILDCARDS:
        raise BadInputError(_EVERYWHERE.format(host=host))
    family = socket.AF_INET6 if ":" in name else socket.AF_INET
    try:
        found = socket.getaddrinfo(name, port, family, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise BadInputError(f"cannot listen on {host!r}: not an address of this machine") from None
    family, _, _, _, address = found[0]
    ip = ipaddress.ip_address(str(address[0]).partition("%")[0])
    if ip.is_unspecified:
        raise BadInputError(_EVERYWHERE.format(host=host))
    if not ip.is_loopback and not allow_remote:
        shown = host if host.strip("[]") == str(ip) else f"{host} ({ip})"
        raise RemoteHostError(
            f"{shown} is not a loopback address (127.0.0.0/8, ::1, localhost): the page would "
            "show the memory to anyone who can reach it, so sharing must be allowed explicitly"
        )
    return family, address


def bind(host: str, port: int, *, allow_remote: bool = False) -> socket.socket:
    """A listening socket on `host:port`, bound before the server starts (so a port in use
    is a clean error, not a traceback from inside the server).

    Raises:
        BadInputError: the host is refused (see `check_host`), the port is in use, or the
            host is not an address of this machine.
    """
    family, address = _resolve(host, port, allow_remote=allow_remote)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise BadInputError(f"port {port} on {host} is in use (choose another)") from None
        raise BadInputError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(64)
    return sock


def serve(
    store: InspectableMemory, sock: socket.socket, host: str, *, on_ready: Callable[[], None]
) -> None:
    """Serve the app on `sock` until interrupted; it answers requests addressed to `host` or
    to the address bound (and the loopback)."""
    import uvicorn  # noqa: PLC0415  (only the server needs it)

    app = create_app(store, host, str(sock.getsockname()[0]))
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", h11_max_incomplete_event_size=MAX_REQUEST_HEAD
    )
    server = uvicorn.Server(config)
    original = server.startup

    async def startup(sockets: list[socket.socket] | None = None) -> None:
        await original(sockets=sockets)
        on_ready()

    server.startup = startup  # type: ignore[method-assign]
    server.run(sockets=[sock])
