"""Keep API keys out of everything reflexrl writes or prints.

Secrets are the values of environment variables whose names look like credentials
(`*_API_KEY`, `*_TOKEN`, `*_SECRET`, ...) plus any value registered at run time (the values of
`--header` options). `redact` replaces each with `[redacted]`; the memory store and the
response cache pass their text through it. Values shorter than `MIN_LENGTH` are too likely to
occur in ordinary text to be cut out of everything (a header `X-Version: 2` would turn every
"2" of a stored conversation into `[redacted]`): a registered short value is redacted, as a
whole word, from error messages only (`redact_error`), where a provider echoing a request
would put it.
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
_short: set[str] = set()
_lock = threading.Lock()
_BEARER = re.compile(r"(?i)\b(bearer|x-api-key:?)\s+[A-Za-z0-9._~+/=-]{8,}")


def register(value: str) -> None:
    """Treat `value` (a header value, a key passed in code) as a secret from now on."""
    if value:
        with _lock:
            (_registered if len(value) >= MIN_LENGTH else _short).add(value)


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


def redact_error(text: str) -> str:
    """`redact(text)`, and every registered short value, as a whole word, too."""
    text = redact(text)
    with _lock:
        short = sorted(_short, key=len, reverse=True)
    for value in short:
        text = re.sub(rf"(?<![\w-]){re.escape(value)}(?![\w-])", REDACTED, text)
    return text


def _looks_secret(name: str) -> bool:
    upper = name.upper()
    return any(marker in upper for marker in MARKERS)
