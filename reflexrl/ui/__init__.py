"""The inspection page (`reflexrl ui`) and the HTML report (`report --format html`).

Needs the `ui` extra (Starlette, uvicorn, Jinja2, matplotlib).
"""

from .app import (
    RemoteHostError,
    bind,
    check_host,
    create_app,
    is_loopback,
    open_for_ui,
    serve,
)
from .pages import report_html

__all__ = [
    "RemoteHostError",
    "bind",
    "check_host",
    "create_app",
    "is_loopback",
    "open_for_ui",
    "report_html",
    "serve",
]
