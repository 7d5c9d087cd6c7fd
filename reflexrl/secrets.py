"""Keep API keys out of everything reflexrl writes or prints.

Secrets are the values of environment variables whose names look like credentials
(`*_API_KEY`, `*_TOKEN`, `*_SECRET`, ...) plus any value registered at run time (the values of
`--header` options). `redact` replaces each with `[redacted]`; the memory store, the response
cache and the CLI's error messages pass their text through it.
"""

from __future__ import annotations

import os
import re
import threading

MARKERS = ("API_KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD")
MIN_LENGTH = 8
"""Shorter values are not treated as secrets (too likely to occur in ordinary text)."""
REDACTED = "[redacted]"

_registered: set[str] = set()
_lock = threading.Lock()
_BEARER = re.compile(r"(?i)\b(bearer|x-api-key:?)\s+[A-Za-z0-9._~+/=-]{8,}")


def register(value: str) -> None:
    """Treat `value` (a header value, a key passed in code) as a secret from now on."""
    if len(value) >= MIN_LENGTH:
        with _lock:
            _registered.add(value)


def secrets() -> list[str]:
    """Every known secret value, longest first (so a key containing another is cut whole)."""
    found = {v for k, v in os.environ.items() if _looks_secret(k) and len(v) >= MIN_LENGTH}
    with _lock:
        found |= _registered
    return sorted(found, key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with every known secret, and any bearer token, replaced by `[redacted]`."""
    for value in secrets():
        if value in text:
            text = text.replace(value, REDACTED)
    return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def _looks_secret(name: str) -> bool:
    upper = name.upper()
    return any(marker in upper for marker in MARKERS)
