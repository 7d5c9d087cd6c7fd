"""An offline fake LLM provider on 127.0.0.1 speaking the OpenAI Chat Completions and the
Anthropic Messages wire formats, so tests and benchmarks drive the real client libraries over
real HTTP.

The "model" is a deterministic policy (`decide`): after a tool result it answers "Done.";
otherwise it calls the tool picked by a hash of the whole system text and the current request.
Usage reports emulate prompt caching (OpenAI automatic, Anthropic `cache_control`). Faults
(error statuses, timeouts, dropped connections) are queued with `StubProvider.fail_next`.

As a script (`python tests/stub_provider.py [--delay 0.2] [--port 0]`) it prints one line
`READY http://127.0.0.1:PORT` and serves until SIGTERM/SIGINT; `GET /stats` returns the counters.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

CLARIFY = "ask_user_for_clarification"
MEMORY_TAG = "<reflexrl_memory>"
ROUTES = {
    ("POST", "/v1/chat/completions"): "openai",
    ("POST", "/chat/completions"): "openai",
    ("POST", "/v1/messages"): "anthropic",
    ("GET", "/v1/models"): "models",
}
MODELS = {"object": "list", "data": [{"id": "stub", "object": "model"}]}
ANTHROPIC_ERRORS = {429: "rate_limit_error", 529: "overloaded_error", 401: "authentication_error"}
DROP = -1  # pseudo status: close the connection without answering
_REQUEST_IDS = itertools.count(1)

Reply = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body, extra headers
Choice = tuple[str, dict[str, str]] | None  # (tool name, arguments), or None for "Done."


@dataclass
class Conversation:
    """A request in a format-neutral shape: all the policy looks at."""

    tools: list[tuple[str, dict[str, Any]]]  # (name, JSON schema of the arguments), in order
    system: str = ""
    calls: dict[str, str] = field(default_factory=dict)  # tool call id -> tool name
    turns: list[tuple[str, str]] = field(default_factory=list)  # (call id, or "" for user; text)
    last_results: list[str] = field(default_factory=list)  # call ids answered by the last message


def _text(content: Any) -> str:
    """The text of a message content: a string, or a list of text blocks joined by newlines."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "\n".join(
        str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"
    )


def openai_view(body: dict[str, Any]) -> Conversation:
    """Read a Chat Completions request."""
    tools = [
        (t["function"]["name"], t["function"].get("parameters") or {})
        for t in body.get("tools") or []
    ]
    conv, system = Conversation(tools), []
    for msg in body.get("messages") or []:
        role, conv.last_results = msg.get("role"), []
        if role in ("system", "developer"):
            system.append(_text(msg.get("content")))
        elif role == "user":
            conv.turns.append(("", _text(msg.get("content"))))
        elif role == "assistant":
            conv.calls.update({c["id"]: c["function"]["name"] for c in msg.get("tool_calls") or []})
        elif role == "tool":
            conv.turns.append((msg["tool_call_id"], _text(msg.get("content"))))
            conv.last_results = [msg["tool_call_id"]]
    conv.system = "\n".join(system)
    return conv


def anthropic_view(body: dict[str, Any]) -> Conversation:
    """Read a Messages request (tool results are blocks inside user messages)."""
    tools = [(t["name"], t.get("input_schema") or {}) for t in body.get("tools") or []]
    conv = Conversation(tools, system=_text(body.get("system")))
    for msg in body.get("messages") or []:
        content, conv.last_results = msg.get("content"), []
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        if msg.get("role") == "assistant":
            conv.calls.update({b["id"]: b["name"] for b in blocks if b.get("type") == "tool_use"})
            continue
        for block in blocks:
            if block.get("type") == "tool_result":
                conv.turns.append((block["tool_use_id"], _text(block.get("content"))))
                conv.last_results.append(block["tool_use_id"])
        if text := _text(blocks):
            conv.turns.append(("", text))
    return conv


def current_request(conv: Conversation) -> str:
    """The latest user text, or the latest answer to an `ask_user_for_clarification` call."""
    for call_id, text in reversed(conv.turns):
        if not call_id or conv.calls.get(call_id) == CLARIFY:
            return text
    return ""


def decide(conv: Conversation) -> Choice:
    """The policy: "Done." after a non-clarify tool result (or without tools), else a tool call
    chosen by sha256(system + NUL + request), with every required string argument = request."""
    if not conv.tools or any(conv.calls.get(i) != CLARIFY for i in conv.last_results):
        return None
    request = current_request(conv)
    digest = hashlib.sha256(f"{conv.system}\x00{request}".encode()).hexdigest()
    name, schema = conv.tools[int(digest, 16) % len(conv.tools)]
    props = schema.get("properties") or {}
    required = schema.get("required") or []
    return name, {p: request for p in required if (props.get(p) or {}).get("type") == "string"}


def fill(schema: dict[str, Any], conv: Conversation) -> dict[str, Any]:
    """A JSON object for a `json_schema` response format: each enum property a value chosen
    by sha256 of the request, every other string property "stub"."""
    digest = int(hashlib.sha256(current_request(conv).encode()).hexdigest(), 16)
    props = schema.get("properties") or {}
    defs = schema.get("$defs") or {}
    found: dict[str, Any] = {}
    for name, prop in props.items():
        ref = prop.get("$ref", "").rsplit("/", 1)[-1]
        enum = prop.get("enum") or (defs.get(ref) or {}).get("enum")
        found[name] = enum[digest % len(enum)] if enum else "stub"
    return found


def openai_response(n: int, model: str, choice: Choice, usage: dict[str, Any]) -> dict[str, Any]:
    """A `chat.completion` object."""
    message: dict[str, Any] = {"role": "assistant", "content": "Done.", "refusal": None}
    if choice is not None:
        call = {"name": choice[0], "arguments": json.dumps(choice[1])}
        message |= {
            "content": None,
            "tool_calls": [{"id": f"call_{n}", "type": "function", "function": call}],
        }
    finish = "stop" if choice is None else "tool_calls"
    return {
        "id": f"chatcmpl-stub-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": usage,
    }


def anthropic_response(n: int, model: str, choice: Choice, usage: dict[str, Any]) -> dict[str, Any]:
    """A Messages API `message` object."""
    content: list[dict[str, Any]] = [{"type": "text", "text": "Done."}]
    if choice is not None:
        content = [{"type": "tool_use", "id": f"toolu_{n}", "name": choice[0], "input": choice[1]}]
    return {
        "id": f"msg_stub_{n}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "end_turn" if choice is None else "tool_use",
        "stop_sequence": None,
        "usage": usage,
    }


def error_reply(kind: str, status: int, retry_after: str | None, message: str = "") -> Reply:
    """The provider's error body for `status`; 429/503/529 carry `retry-after`."""
    message = message or f"stub: {status}"
    if kind == "openai":
        etype = "invalid_request_error"
        etype = "rate_limit_error" if status == 429 else "server_error" if status >= 500 else etype
        body: dict[str, Any] = {
            "error": {"message": message, "type": etype, "param": None, "code": None}
        }
    else:
        etype = ANTHROPIC_ERRORS.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        body = {"type": "error", "error": {"type": etype, "message": message}}
    retry = status in (429, 503, 529) and retry_after is not None
    return status, body, {"retry-after": str(retry_after)} if retry else {}


class StubProvider:
    """The fake provider; see the module docstring. Counters and queues are thread-safe."""

    def __init__(
        self, *, delay: float = 0.0, timeout_sleep: float = 5.0, retry_after: str | None = "0"
    ) -> None:
        self.delay, self.timeout_sleep, self.retry_after = delay, timeout_sleep, retry_after
        self.url = self.openai_url = ""
        self.requests: list[dict[str, Any]] = []
        self.calls = 0
        self.schemas: list[dict[str, Any]] = []
        """The JSON schemas of `response_format` requests, in order."""
        self.broken_replies = 0
        """How many coming `response_format` replies break their schema."""
        self.faults_served: list[int | str] = []
        self._faults: deque[int | str] = deque()
        self._texts: deque[str] = deque()
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._server: _Server | None = None

    def start(self, port: int = 0) -> StubProvider:
        """Bind 127.0.0.1 (`port` 0: a free one) and serve in a daemon thread."""
        server = _Server(("127.0.0.1", port), _Handler)
        server.provider = self
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self.openai_url = self.url + "/v1"
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (in-flight handlers are daemons)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StubProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(self, *faults: int | str) -> None:
        """Queue faults (a status, "timeout" or "drop"), one per request to an API route."""
        with self._lock:
            self._faults.extend(faults)

    def say_next(self, *texts: str) -> None:
        """Queue the text of the coming OpenAI replies, one per completion (then its own)."""
        with self._lock:
            self._texts.extend(texts)

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        """Answer one request (called from the handler threads)."""
        path = path.split("?", 1)[0]
        if path == "/stats":
            return 200, {"calls": self.calls, "requests": len(self.requests)}, {}
        body = _parse_json(raw)
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
            fault = self._faults.popleft() if self._faults and (method, path) in ROUTES else None
            if fault is not None:
                self.faults_served.append(fault)
        kind = ROUTES.get((method, path))
        if kind is None:  # an error body both SDKs can read
            error = {"type": "not_found_error", "message": f"stub: no route {method} {path}"}
            return 404, {"type": "error", "error": error}, {}
        time.sleep(self.delay)
        return self._complete(kind, body, fault, len(raw))

    def _complete(self, kind: str, body: Any, fault: int | str | None, size: int) -> Reply:
        """Apply the fault, validate, then answer a completion (or the model list)."""
        if fault == "drop":
            return DROP, {}, {}
        if fault == "timeout":
            time.sleep(self.timeout_sleep)
        elif isinstance(fault, int):
            return error_reply(kind, fault, self.retry_after)
        if kind == "models":
            return 200, MODELS, {}
        if not isinstance(body, dict):
            return error_reply(kind, 400, None, "stub: the body is not a JSON object")
        if body.get("stream"):
            return error_reply(kind, 400, None, "stub: streaming is not supported")
        return self._answer(kind, body, max(1, size // 4))

    def _answer(self, kind: str, body: dict[str, Any], prompt: int) -> Reply:
        """A successful completion with its usage report."""
        openai = kind == "openai"
        conv = openai_view(body) if openai else anthropic_view(body)
        choice = decide(conv)
        output = 3 if choice is None else 12
        with self._lock:
            self.calls += 1
            n = self.calls
        model = str(body.get("model", "stub"))
        if openai:
            usage = self._openai_usage(conv, body, prompt, output)
            fmt = body.get("response_format") or {}
            if fmt.get("type") == "json_schema":
                with self._lock:
                    self.schemas.append(fmt["json_schema"])
                    broken, self.broken_replies = (
                        self.broken_replies > 0,
                        max(0, self.broken_replies - 1),
                    )
                text = (
                    "not json" if broken else json.dumps(fill(fmt["json_schema"]["schema"], conv))
                )
                reply = openai_response(n, model, None, usage)
                reply["choices"][0]["message"]["content"] = text
                return 200, reply, {}
            reply = openai_response(n, model, choice, usage)
            with self._lock:
                text = self._texts.popleft() if self._texts else None
            if text is not None:
                reply["choices"][0]["message"]["content"] = text
            return 200, reply, {}
        usage = self._anthropic_usage(body, prompt, output)
        return 200, anthropic_response(n, model, choice, usage), {}

    def _seen_before(self, key: str) -> bool:
        """Whether a cache prefix was seen earlier; remembers it."""
        with self._lock:
            seen = key in self._seen
            self._seen.add(key)
        return seen

    def _openai_usage(
        self, conv: Conversation, body: dict[str, Any], prompt: int, output: int
    ) -> dict[str, Any]:
        """Automatic caching: the system text before the memory block, with the same tools."""
        prefix = conv.system.split(MEMORY_TAG, 1)[0]
        key = f"openai\x00{json.dumps(body.get('tools'), sort_keys=True)}\x00{prefix}"
        cached = min(prompt, len(prefix) // 4) if self._seen_before(key) else 0
        return {
            "prompt_tokens": prompt,
            "completion_tokens": output,
            "total_tokens": prompt + output,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }

    def _anthropic_usage(self, body: dict[str, Any], prompt: int, output: int) -> dict[str, Any]:
        """Explicit caching: tools + system blocks up to the last `cache_control` ephemeral one."""
        system = body.get("system")
        blocks: list[Any] = system if isinstance(system, list) else []
        marked = [i for i, b in enumerate(blocks) if _ephemeral(b)]
        written = read = 0
        if marked:
            prefix = json.dumps([body.get("tools") or [], blocks[: marked[-1] + 1]], sort_keys=True)
            size = min(prompt, len(prefix) // 4)
            written, read = (0, size) if self._seen_before(f"anthropic\x00{prefix}") else (size, 0)
        return {
            "input_tokens": max(1, prompt - written - read),
            "output_tokens": output,
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": read,
        }


def _ephemeral(block: Any) -> bool:
    """Whether a system block carries `cache_control: {"type": "ephemeral"}`."""
    control = block.get("cache_control") if isinstance(block, dict) else None
    return isinstance(control, dict) and control.get("type") == "ephemeral"


def _parse_json(raw: bytes) -> Any:
    """The parsed body, or None if empty or not JSON."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the benchmark opens dozens of connections at once
    provider: StubProvider

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out or shut down drop connections: not worth a traceback."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as production servers set it: headers and body go out as two writes, and
    # with Nagle on, the body would wait for the client's delayed ACK (about 40 ms).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        self._serve(self.rfile.read(int(self.headers.get("content-length") or 0)))

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _serve(self, raw: bytes) -> None:
        """Ask the provider, then write the JSON answer with an exact Content-Length."""
        provider = cast(_Server, self.server).provider
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body, extra = provider.handle(self.command, self.path, headers, raw)
        if status == DROP:
            self.close_connection = True
            return
        data = json.dumps(body).encode()
        request_id = f"req_stub_{next(_REQUEST_IDS)}"
        extra |= {"content-type": "application/json", "content-length": str(len(data))}
        extra |= {"x-request-id": request_id, "request-id": request_id}
        try:
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timeout fault)
            self.close_connection = True


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT after printing `READY <url>`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--timeout-sleep", type=float, default=5.0)
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stub = StubProvider(delay=args.delay, timeout_sleep=args.timeout_sleep).start(args.port)
    print(f"READY {stub.url}", flush=True)
    stop.wait()
    stub.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
