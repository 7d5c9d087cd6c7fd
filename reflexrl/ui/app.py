"""`reflexrl ui`: a small Starlette app over one memory file, read-only, on the loopback.

Every route is a GET that renders a page server-side (`pages.py`): sorting, search and
paging are links and a form, so the pages need no script, and the content security policy
forbids any. Requests whose Host is not the loopback are refused (DNS rebinding).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..errors import BadInputError, ReflexRLError
from ..memory import RewardTable, open_memory
from . import pages

LOOPBACK = ("127.0.0.1", "localhost", "::1")
HEADERS = {
    "Content-Security-Policy": pages.CSP + "; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def open_for_ui(path: str | Path) -> RewardTable:
    """The memory at `path`, read-only; with the kNN lookup when the file has one.

    Raises:
        MemoryNotFoundError: no file there. MemoryStoreError: not a usable memory.
    """
    probe = open_memory(path, create=False, read_only=True)
    assert isinstance(probe, RewardTable)
    if probe.embedding_model() is None:
        return probe
    probe.close()
    store = open_memory(path, create=False, read_only=True, lookup="knn")
    assert isinstance(store, RewardTable)
    return store


def create_app(store: RewardTable, host: str = "127.0.0.1") -> Starlette:
    """The web app over `store` (which the caller closes), answering requests addressed to
    the loopback or to `host`."""

    def index(request: Request) -> str:
        q = request.query_params
        return pages.index_page(
            store,
            search=q.get("q", ""),
            sort=q.get("sort", "visits"),
            descending=q.get("order", "desc") != "asc",
            page=_int(q.get("page", "1"), "page"),
        )

    def prompt(request: Request) -> str:
        q = request.query_params
        suite, text = q.get("suite"), q.get("prompt")
        if suite is None or text is None:
            raise BadInputError("a prompt page needs ?suite=...&prompt=...")
        return pages.prompt_page(store, suite, text, _int(q.get("page", "1"), "page"))

    def episode(request: Request) -> str:
        return pages.episode_page(store, int(request.path_params["id"]))

    def run(request: Request) -> str:
        return pages.run_page(store, str(request.path_params["run_id"]))

    routes = [
        Route("/", _page(store, index)),
        Route("/prompt", _page(store, prompt)),
        Route("/episode/{id:int}", _page(store, episode)),
        Route("/run/{run_id}", _page(store, run)),
    ]
    allowed = [*LOOPBACK, host.strip("[]")]
    hosts = Middleware(TrustedHostMiddleware, allowed_hosts=allowed)
    return Starlette(routes=routes, middleware=[hosts])


def _page(
    store: RewardTable, render: Callable[[Request], str]
) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint: the page `render` makes, or a 404 page naming what was not found."""

    async def endpoint(request: Request) -> Response:
        try:
            return HTMLResponse(render(request), headers=HEADERS)
        except ReflexRLError as exc:
            html = pages.render("error.html", store, message=str(exc))
            return HTMLResponse(html, status_code=404, headers=HEADERS)

    return endpoint


def _int(text: str, name: str) -> int:
    if not text.isdigit():
        raise BadInputError(f"{name}: not a number: {text!r}")
    return int(text)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on `host:port`, bound before the server starts (so a port in use
    is a clean error, not a traceback from inside the server).

    Raises:
        BadInputError: the port is in use, or the host is not an address of this machine.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise BadInputError(f"port {port} on {host} is in use (choose another)") from None
        raise BadInputError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(64)
    return sock


def serve(
    store: RewardTable, sock: socket.socket, host: str, *, on_ready: Callable[[], None]
) -> None:
    """Serve the app on `sock` until interrupted."""
    import uvicorn  # noqa: PLC0415  (only the server needs it)

    config = uvicorn.Config(create_app(store, host), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    original = server.startup

    async def startup(sockets: list[socket.socket] | None = None) -> None:
        await original(sockets=sockets)
        on_ready()

    server.startup = startup  # type: ignore[method-assign]
    server.run(sockets=[sock])
