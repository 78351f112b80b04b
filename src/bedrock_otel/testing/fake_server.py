"""A fake Amazon Bedrock: a real HTTP/1.1 server on 127.0.0.1 speaking bedrock-runtime's and
bedrock-agent-runtime's rest-json (both services' routes live on the one server).

Why a real server rather than stubbing botocore: instrumentation hooks into botocore's request pipeline,
retry handler and event-stream decoder, so the only faithful test double sits on the other side of the
socket. Responses are deterministic (see :mod:`bedrock_otel.testing.responders` and, for agents, knowledge
bases, flows, guardrails and async invoke, :mod:`bedrock_otel.testing.agent_runtime`) and tests can script
errors, throttles, raw bodies, mid-stream exceptions, dropped connections and agent runs with :class:`Reply`.
"""

from __future__ import annotations

import base64
import binascii
import collections
import json
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Pattern, Sequence, Tuple
from urllib.parse import unquote

from . import agent_runtime, responders
from ._connections import OpenConnections, TrackedHandler
from .agent_runtime import AgentStep
from .eventstream import chunk_frame, event_frame, exception_frame
from .responders import FakeReply, ModelRef, PromptCache

__all__ = ["AgentStep", "FakeBedrock", "RecordedRequest", "Reply"]

ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
EVENTSTREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
INVALID_MODEL_MESSAGE = "The provided model identifier is invalid."
MALFORMED_MESSAGE = "Malformed input request, please reformat your input and try again."
THROTTLE_MESSAGE = "Too many requests, please wait before trying again."

RUNTIME = "bedrock-runtime"
AGENT_RUNTIME = "bedrock-agent-runtime"
_ROUTE = re.compile(r"^/model/(?P<model>[^/]+)/(?P<action>[a-z-]+)$")
# Every other route: (HTTP method, path pattern with named labels, service, operation).
_ROUTES: Tuple[Tuple[str, Pattern[str], str, str], ...] = tuple(
    (method, re.compile(pattern), service, operation)
    for method, pattern, service, operation in (
        ("POST", r"^/guardrail/(?P<guardrailIdentifier>[^/]+)/version/(?P<guardrailVersion>[^/]+)/apply$",
         RUNTIME, "ApplyGuardrail"),
        ("POST", r"^/async-invoke$", RUNTIME, "StartAsyncInvoke"),
        ("GET", r"^/async-invoke$", RUNTIME, "ListAsyncInvokes"),
        ("GET", r"^/async-invoke/(?P<invocationArn>[^/]+)$", RUNTIME, "GetAsyncInvoke"),
        ("POST", r"^/agents/(?P<agentId>[^/]+)/agentAliases/(?P<agentAliasId>[^/]+)/sessions/(?P<sessionId>[^/]+)"
                 r"/text$", AGENT_RUNTIME, "InvokeAgent"),
        ("POST", r"^/agents/(?P<sessionId>[^/]+)$", AGENT_RUNTIME, "InvokeInlineAgent"),
        ("POST", r"^/knowledgebases/(?P<knowledgeBaseId>[^/]+)/retrieve$", AGENT_RUNTIME, "Retrieve"),
        ("POST", r"^/retrieveAndGenerate$", AGENT_RUNTIME, "RetrieveAndGenerate"),
        ("POST", r"^/retrieveAndGenerateStream$", AGENT_RUNTIME, "RetrieveAndGenerateStream"),
        ("POST", r"^/flows/(?P<flowIdentifier>[^/]+)/aliases/(?P<flowAliasIdentifier>[^/]+)$", AGENT_RUNTIME,
         "InvokeFlow"),
    )
)
_OPERATIONS = {
    "converse": "Converse",
    "converse-stream": "ConverseStream",
    "invoke": "InvokeModel",
    "invoke-with-response-stream": "InvokeModelWithResponseStream",
    "count-tokens": "CountTokens",
}
_STREAMING = frozenset({
    "ConverseStream", "InvokeModelWithResponseStream", "InvokeAgent", "InvokeInlineAgent",
    "RetrieveAndGenerateStream", "InvokeFlow",
})
# Operations answered by _answer_other rather than the model-family path.
_OTHER = frozenset(operation for _, _, _, operation in _ROUTES)
# Response headers naming the session / execution of streaming agent-runtime operations.
_SESSION_HEADERS = {
    "InvokeAgent": "x-amz-bedrock-agent-session-id",
    "InvokeInlineAgent": "x-amz-bedrock-agent-session-id",
    "RetrieveAndGenerateStream": "x-amzn-bedrock-knowledge-base-session-id",
    "InvokeFlow": "x-amz-bedrock-flow-execution-id",
}
# HTTP status Bedrock uses for each modelled error, for turning stream exceptions into plain errors.
_ERROR_STATUS = {
    "AccessDeniedException": 403,
    "InternalServerException": 500,
    "ModelErrorException": 424,
    "ModelNotReadyException": 429,
    "ModelStreamErrorException": 424,
    "ModelTimeoutException": 408,
    "ResourceNotFoundException": 404,
    "ServiceQuotaExceededException": 400,
    "ServiceUnavailableException": 503,
    "ThrottlingException": 429,
    "ValidationException": 400,
}


# --------------------------------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it, for assertions on what the client really sent."""

    method: str
    path: str  # raw request path (model id still percent-encoded), without the query string
    operation: Optional[str]  # "Converse", "InvokeAgent", ..., or None for an unknown route
    model_id: Optional[str]  # percent-decoded; None for routes without a model id (agents, guardrails, ...)
    headers: Dict[str, str]
    body: bytes
    json: Any  # parsed body, or None when it is empty / not JSON
    service: Optional[str] = None  # "bedrock-runtime" or "bedrock-agent-runtime" (None for an unknown route)
    params: Dict[str, str] = field(default_factory=dict)  # percent-decoded path labels (agentId, sessionId, ...)

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """Case-insensitive header lookup (HTTP header names are case-insensitive)."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return default


@dataclass(frozen=True)
class Reply:
    """A scripted answer for the next request; build with the classmethods, queue with ``enqueue``."""

    kind: str
    status: int = 200
    code: str = ""
    message: str = ""
    body: bytes = b""
    headers: Optional[Dict[str, str]] = None
    text_value: Optional[str] = None
    stop_reason: Optional[str] = None
    input_tokens: Optional[int] = None
    output_tokens: Optional[int] = None
    frames: Tuple[bytes, ...] = ()
    after_events: int = 0
    exception_type: str = "modelStreamErrorException"
    delay: float = 0.0
    agent_steps: Optional[Tuple[AgentStep, ...]] = None

    @classmethod
    def error(
        cls, status: int, code: str, message: str = "Scripted error from FakeBedrock.", delay: float = 0.0
    ) -> Reply:
        """A rest-json error: status, ``x-amzn-ErrorType: <code>:...`` and ``{"message": ...}``."""
        return cls("error", status=status, code=code, message=message, delay=delay)

    @classmethod
    def throttle(cls, message: str = THROTTLE_MESSAGE, delay: float = 0.0) -> Reply:
        """HTTP 429 ThrottlingException, which botocore's retry handlers treat as retryable."""
        return cls.error(429, "ThrottlingException", message, delay=delay)

    @classmethod
    def raw(
        cls,
        status: int = 200,
        body: bytes = b"",
        headers: Optional[Dict[str, str]] = None,
        delay: float = 0.0,
    ) -> Reply:
        """Exactly these bytes (Content-Length set; content-type defaults to application/json)."""
        return cls("raw", status=status, body=body, headers=dict(headers or {}), delay=delay)

    @classmethod
    def json(
        cls,
        payload: Any,
        status: int = 200,
        headers: Optional[Dict[str, str]] = None,
        delay: float = 0.0,
    ) -> Reply:
        """A custom JSON body (e.g. an InvokeModel body shape the responders do not produce)."""
        return cls.raw(status, json.dumps(payload).encode("utf-8"), headers, delay=delay)

    @classmethod
    def text(
        cls,
        text: str,
        stop_reason: Optional[str] = None,
        input_tokens: Optional[int] = None,
        output_tokens: Optional[int] = None,
        delay: float = 0.0,
    ) -> Reply:
        """The model family's normal shape (body or stream) but with this text / stop reason / usage.

        ``stop_reason`` uses Converse words (``end_turn``, ``max_tokens``, ...) and is written verbatim,
        except Titan maps them to its own (``FINISH``, ``LENGTH``, ...). Unset token counts follow the
        normal rules (output tokens = words of ``text``).
        """
        return cls(
            "text",
            text_value=text,
            stop_reason=stop_reason,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            delay=delay,
        )

    @classmethod
    def events(cls, frames: Sequence[bytes], status: int = 200, delay: float = 0.0) -> Reply:
        """Exactly these event-stream frames, chunked one per HTTP chunk (for stream operations)."""
        return cls("events", status=status, frames=tuple(frames), delay=delay)

    @classmethod
    def stream_error(
        cls,
        after_events: int,
        exception_type: str = "modelStreamErrorException",
        message: str = "The model stream was interrupted by FakeBedrock.",
        delay: float = 0.0,
    ) -> Reply:
        """The default stream, cut after ``after_events`` events by an exception frame.

        Used on a non-streaming operation it becomes the equivalent rest-json error
        (``modelStreamErrorException`` -> 424 ``ModelStreamErrorException``).
        """
        return cls(
            "stream_error",
            after_events=after_events,
            exception_type=exception_type,
            message=message,
            delay=delay,
        )

    @classmethod
    def agent(cls, *steps: AgentStep, answer: Optional[str] = None, delay: float = 0.0) -> Reply:
        """An InvokeAgent / InvokeInlineAgent run following ``steps`` (see :class:`AgentStep`).

        The steps' trace events are sent when the request sets ``enableTrace``; the final answer
        (``answer``, or the default reply text) follows unless a step returned control or failed.
        """
        return cls("agent", agent_steps=tuple(steps), text_value=answer, delay=delay)

    @classmethod
    def drop(cls, after_events: int = 0, delay: float = 0.0) -> Reply:
        """Close the TCP connection: after the headers and ``after_events`` events for streams,
        before any response byte for other operations."""
        return cls("drop", after_events=after_events, delay=delay)


class _RequestError(Exception):
    """A validation failure answered as a rest-json error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class _GuardrailUse:
    """A guardrail attached to a Converse / InvokeModel request, and what it found in the prompt."""

    identifier: str
    trace: bool
    assessment: Dict[str, Any] = field(default_factory=dict)
    blocked: bool = False


@dataclass
class _Exchange:
    """Per-request state handed between the dispatch steps."""

    handler: _Handler
    operation: str
    model_id: str  # "" for routes without a model id
    payload: Any
    started: float
    params: Dict[str, str] = field(default_factory=dict)
    ref: ModelRef = field(init=False)
    guardrail: Optional[_GuardrailUse] = None  # a guardrail configured on a model call

    def __post_init__(self) -> None:
        self.ref = responders.resolve_model(self.model_id)

    def elapsed_ms(self) -> int:
        """Milliseconds since the request was read; at least 1, as a real service never reports 0."""
        return max(1, int((time.monotonic() - self.started) * 1000))


# --------------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive clients may hold threads; stop() closes their sockets instead
    request_queue_size = 256  # the default backlog (5) resets clients when dozens connect at once

    def __init__(self, address: Tuple[str, int], fake: FakeBedrock) -> None:
        self.fake = fake
        self.connections = fake._connections
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (drop tests, abandoned streams) are expected; only report real bugs."""
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ValueError)):
            return
        super().handle_error(request, client_address)


class _Handler(TrackedHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "FakeBedrock/1.0"
    disable_nagle_algorithm = True  # small header + body writes must not wait for delayed ACKs

    def do_POST(self) -> None:
        self.server.fake._dispatch(self)

    do_GET = do_POST
    do_PUT = do_POST
    do_DELETE = do_POST
    do_PATCH = do_POST

    # -- I/O helpers -------------------------------------------------------------------------------

    def read_body(self) -> bytes:
        """Read the whole request body so the keep-alive connection stays in sync."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    response_started = False

    def send_response(self, code: int, message: Optional[str] = None) -> None:
        """Remember that the status line went out, so a later failure hangs up instead of replying."""
        self.response_started = True
        super().send_response(code, message)

    def send_bytes(self, status: int, body: bytes, headers: Dict[str, str]) -> None:
        self.send_response(status)
        lowered = {k.lower() for k in headers}
        for key, value in headers.items():
            self.send_header(key, value)
        if "x-amzn-requestid" not in lowered:
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if "content-type" not in lowered:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def send_json(self, status: int, payload: Any, headers: Optional[Dict[str, str]] = None) -> None:
        self.send_bytes(status, json.dumps(payload).encode("utf-8"), dict(headers or {}))

    def send_error_reply(self, status: int, code: str, message: str) -> None:
        """A rest-json error the way Bedrock sends it (botocore reads the code from the header)."""
        headers = {"x-amzn-ErrorType": code + ERROR_TYPE_SUFFIX}
        self.send_json(status, {"message": message}, headers)

    def start_chunked(self, status: int, headers: Dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Type", EVENTSTREAM_CONTENT_TYPE)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def write_chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def drop_connection(self) -> None:
        """Hang up without finishing the response; the client sees a closed/incomplete connection."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# --------------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------------


class FakeBedrock:
    """A scriptable Bedrock Runtime and Agent Runtime on 127.0.0.1; cheap enough for one per test.

    ``latency`` (seconds before every answer) and ``event_delay`` (seconds between stream events) can be
    changed at any time. ``before_event``, if set, is called in the server thread with the 0-based event
    index before each stream event is written; a test can block it on a ``threading.Event`` to prove the
    client sees events incrementally.
    """

    region: str = "us-east-1"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.latency: float = 0.0
        self.event_delay: float = 0.0
        self.before_event: Optional[Callable[[int], None]] = None
        self._lock = threading.Lock()
        self._queue: Deque[Tuple[Optional[str], Reply]] = collections.deque()  # (operation filter, reply)
        self._requests: List[RecordedRequest] = []
        self._connections = OpenConnections()
        self._cache = PromptCache()
        self._async_jobs: Dict[str, Dict[str, Any]] = {}
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._bound_port: Optional[int] = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeBedrock:
        """Bind and serve in a daemon thread; a no-op if already running."""
        with self._lock:
            if self._server is not None:
                return self
            server = self._bind()
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"FakeBedrock:{server.server_address[1]}",
                daemon=True,
            )
            self._server, self._thread = server, thread
            self._bound_port = server.server_address[1]
        thread.start()
        return self

    def _bind(self) -> _Server:
        """Rebind the previous port after a restart when possible so existing clients keep working."""
        if self._bound_port is not None and self.port == 0:
            try:
                return _Server((self.host, self._bound_port), self)
            except OSError:
                pass
        return _Server((self.host, self.port), self)

    def stop(self) -> None:
        """Stop serving, hang up open keep-alive connections and join the server thread."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        self._connections.hang_up()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeBedrock:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is currently accepting connections."""
        return self._server is not None

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``; only valid while started."""
        server = self._server
        if server is None:
            raise RuntimeError("FakeBedrock is not started; call start() or use it as a context manager")
        host, port = server.server_address[:2]
        return f"http://{host}:{port}"

    # -- scripting & inspection --------------------------------------------------------------------

    def enqueue(self, *replies: Reply, operation: Optional[str] = None) -> None:
        """Queue replies (FIFO) that the next routed requests get instead of the scripted default.

        With ``operation`` (e.g. ``"InvokeAgent"``) the replies wait for requests of that operation only,
        so an application that also calls other operations (a guardrail first, say) leaves them alone.
        """
        with self._lock:
            self._queue.extend((operation, reply) for reply in replies)

    def _next_reply(self, operation: str) -> Optional[Reply]:
        """Pop the first queued reply meant for any operation or for this one (caller holds the lock)."""
        for index, (wanted, reply) in enumerate(self._queue):
            if wanted is None or wanted == operation:
                del self._queue[index]
                return reply
        return None

    @property
    def requests(self) -> List[RecordedRequest]:
        """A snapshot of every request received so far (including unknown routes)."""
        with self._lock:
            return list(self._requests)

    @property
    def pending_replies(self) -> int:
        """How many enqueued replies have not been used yet."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Forget queued replies, recorded requests, the prompt cache and the delays."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self.latency = 0.0
            self.event_delay = 0.0
            self.before_event = None
            self._async_jobs.clear()
        self._cache.clear()

    def set_async_invoke_status(self, invocation_arn: str, status: str, failure_message: Optional[str] = None) -> None:
        """Force what GetAsyncInvoke reports for a job (``InProgress``, ``Completed`` or ``Failed``).

        Without this a job is ``InProgress`` at its first GetAsyncInvoke and ``Completed`` afterwards.
        """
        with self._lock:
            job = self._async_jobs[invocation_arn]
            job["forced"] = status
            if failure_message is not None:
                job["failureMessage"] = failure_message

    def client(
        self, service_name: str = "bedrock-runtime", region_name: Optional[str] = None, **config_kwargs: Any
    ) -> Any:
        """A boto3 client wired to this server with dummy credentials and no retries by default.

        ``service_name`` may be ``bedrock-runtime`` or ``bedrock-agent-runtime``: both services' routes
        are served on the same endpoint. The client is isolated from the environment that could change
        its behaviour: AWS_PROFILE and the shared config/credentials files are ignored, proxies are off,
        and SigV4 is forced so that an ``AWS_BEARER_TOKEN_BEDROCK`` variable does not switch botocore to
        bearer auth. ``config_kwargs`` are ``botocore.config.Config`` arguments; ``retries`` defaults to
        ``{"mode": "standard", "total_max_attempts": 1}`` (a given ``retries`` dict gets ``mode`` standard
        unless it says so).
        """
        import boto3.session
        from botocore.config import Config

        options: Dict[str, Any] = {"signature_version": "v4", "proxies": {}}
        retries = config_kwargs.pop("retries", None)
        options["retries"] = (
            {"mode": "standard", **retries} if retries is not None else {"mode": "standard", "total_max_attempts": 1}
        )
        options.update(config_kwargs)
        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_session_token="testing",
            region_name=region_name or self.region,
            botocore_session=_isolated_botocore_session(),
        )
        return session.client(service_name, endpoint_url=self.endpoint_url, config=Config(**options))

    # -- request handling --------------------------------------------------------------------------

    def _dispatch(self, handler: _Handler) -> None:
        """Route, record, apply scripted replies / validation, then answer."""
        handler.response_started = False  # the handler object lives for the whole keep-alive connection
        body = handler.read_body()
        started = time.monotonic()
        path = handler.path.split("?", 1)[0]
        match = _ROUTE.match(path)
        operation = _OPERATIONS.get(match.group("action")) if match and handler.command == "POST" else None
        model_id = unquote(match.group("model")) if match else None
        service: Optional[str] = RUNTIME if operation is not None else None
        params: Dict[str, str] = {}
        if match is None:
            for method, pattern, route_service, route_operation in _ROUTES:
                other = pattern.match(path) if handler.command == method else None
                if other is not None:
                    operation, service = route_operation, route_service
                    params = {key: unquote(value) for key, value in other.groupdict().items()}
                    break
        payload: Any = None
        if body:
            try:
                payload = json.loads(body)
            except (ValueError, RecursionError):  # a deeply nested body is malformed input, not a crash
                payload = None
        record = RecordedRequest(
            method=handler.command,
            path=path,
            operation=operation,
            model_id=model_id,
            headers=dict(handler.headers.items()),
            body=body,
            json=payload,
            service=service,
            params=params,
        )
        with self._lock:
            self._requests.append(record)
            reply = self._next_reply(operation) if operation is not None and self._queue else None

        if operation is None or (model_id is None and operation not in _OTHER):
            handler.send_error_reply(404, "UnknownOperationException", f"No operation matches {handler.command} {path}")
            return
        if self.latency > 0:
            time.sleep(self.latency)
        if reply is not None and reply.delay > 0:
            time.sleep(reply.delay)
        exchange = _Exchange(handler, operation, model_id or "", payload, started, params)
        try:
            self._answer(exchange, reply)
        except OSError:
            handler.close_connection = True  # the client went away mid-answer
        except Exception as exc:  # a bug in the fake: make it visible to the test
            if handler.response_started:
                handler.drop_connection()
                raise
            handler.send_error_reply(500, "InternalServerException", f"FakeBedrock error: {exc!r}")

    def _answer(self, ex: _Exchange, reply: Optional[Reply]) -> None:
        handler = ex.handler
        streaming = ex.operation in _STREAMING
        if reply is not None:
            if reply.kind == "error":
                handler.send_error_reply(reply.status, reply.code, reply.message)
                return
            if reply.kind == "raw":
                handler.send_bytes(reply.status, reply.body, dict(reply.headers or {}))
                return
            if reply.kind == "events":
                if streaming:
                    frames = (lambda _i, _n, f=f: f for f in reply.frames)
                    self._send_stream(ex, reply.status, frames, headers=self._stream_headers(ex))
                else:
                    headers = {"Content-Type": EVENTSTREAM_CONTENT_TYPE}
                    handler.send_bytes(reply.status, b"".join(reply.frames), headers)
                return
            if reply.kind == "drop" and not streaming:
                handler.drop_connection()
                return
        if ex.operation in _OTHER:
            self._answer_other(ex, reply)
            return
        try:
            fake_reply = self._default_reply(ex)
        except _RequestError as err:
            handler.send_error_reply(err.status, err.code, err.message)
            return
        if reply is not None and reply.kind == "text":
            fake_reply = fake_reply.with_text(
                reply.text_value or "", reply.stop_reason, reply.input_tokens, reply.output_tokens
            )
        if not streaming:
            if reply is not None and reply.kind == "stream_error":
                code = reply.exception_type[:1].upper() + reply.exception_type[1:]
                handler.send_error_reply(_ERROR_STATUS.get(code, 400), code, reply.message)
                return
            self._send_unary(ex, fake_reply)
            return
        self._send_default_stream(ex, fake_reply, reply)

    # -- agent runtime, guardrails, async invoke ---------------------------------------------------

    def _answer_other(self, ex: _Exchange, reply: Optional[Reply]) -> None:
        """The routes outside /model/{id}/...: JSON bodies, or event streams cut like model streams."""
        handler = ex.handler
        text = reply.text_value if reply is not None and reply.kind in ("text", "agent") else None
        steps = reply.agent_steps if reply is not None and reply.kind == "agent" else None
        try:
            result = self._render_other(ex, text, steps)
        except _RequestError as err:
            handler.send_error_reply(err.status, err.code, err.message)
            return
        if ex.operation not in _STREAMING:
            if reply is not None and reply.kind == "stream_error":
                code = reply.exception_type[:1].upper() + reply.exception_type[1:]
                handler.send_error_reply(_ERROR_STATUS.get(code, 400), code, reply.message)
                return
            handler.send_json(200, result)
            return
        builders = [lambda _i, _n, e=e: agent_runtime.encode_event(e) for e in result]
        total = len(builders)
        tail: Optional[bytes] = None
        drop = False
        if reply is not None and reply.kind in ("stream_error", "drop"):
            builders = builders[: max(reply.after_events, 0)]
            drop = reply.kind == "drop"
            if not drop:
                tail = exception_frame(reply.exception_type, reply.message)
        self._send_stream(ex, 200, builders, tail=tail, drop=drop, total=total, headers=self._stream_headers(ex))

    @staticmethod
    def _stream_headers(ex: _Exchange) -> Dict[str, str]:
        name = _SESSION_HEADERS.get(ex.operation)
        if name is None:
            return {}
        payload = ex.payload if isinstance(ex.payload, dict) else {}
        if ex.operation == "InvokeFlow":
            value = payload.get("executionId") or uuid.uuid4().hex
        elif ex.operation == "RetrieveAndGenerateStream":
            value = payload.get("sessionId") or str(uuid.uuid4())
        else:
            value = ex.params.get("sessionId", "")
        headers = {name: str(value)}
        if ex.operation in ("InvokeAgent", "InvokeInlineAgent"):
            headers["x-amzn-bedrock-agent-content-type"] = "application/json"
            if isinstance(payload.get("memoryId"), str):
                headers["x-amz-bedrock-agent-memory-id"] = payload["memoryId"]
        return headers

    def _render_other(self, ex: _Exchange, text: Optional[str], steps: Optional[Sequence[AgentStep]]) -> Any:
        """A JSON body (unary operations) or a list of (member, payload) events (streams)."""
        op, params = ex.operation, ex.params
        for name, value in params.items():
            if value.startswith("invalid"):
                raise _RequestError(404, "ResourceNotFoundException", f"The {name} {value} was not found.")
        if op == "GetAsyncInvoke":
            return self._get_async_invoke(params["invocationArn"])
        if op == "ListAsyncInvokes":
            with self._lock:
                jobs = list(self._async_jobs.values())
            return {"asyncInvokeSummaries": [self._async_summary(job, poll=False) for job in jobs]}
        payload = ex.payload
        if not isinstance(payload, dict):
            raise _RequestError(400, "ValidationException", MALFORMED_MESSAGE)
        if op == "ApplyGuardrail":
            return agent_runtime.apply_guardrail_body(payload)
        if op == "StartAsyncInvoke":
            return self._start_async_invoke(payload)
        if op in ("InvokeAgent", "InvokeInlineAgent"):
            model = payload.get("foundationModel")
            if isinstance(model, str) and model.startswith("invalid"):
                raise _RequestError(400, "ValidationException", INVALID_MODEL_MESSAGE)
            return agent_runtime.agent_events(
                payload, session_id=params["sessionId"], region=self.region, agent_id=params.get("agentId"),
                alias_id=params.get("agentAliasId"), steps=steps, answer=text,
            )
        if op == "Retrieve":
            return agent_runtime.retrieve_body(payload, params["knowledgeBaseId"])
        if op == "RetrieveAndGenerate":
            session = payload.get("sessionId") or str(uuid.uuid4())
            return agent_runtime.retrieve_and_generate_body(payload, str(session), text)
        if op == "RetrieveAndGenerateStream":
            return agent_runtime.retrieve_and_generate_events(payload, text)
        return agent_runtime.flow_events(payload, text)  # InvokeFlow

    def _start_async_invoke(self, payload: Dict[str, Any]) -> Dict[str, Any]:
        model_id = payload.get("modelId")
        if not isinstance(model_id, str) or model_id.startswith("invalid"):
            raise _RequestError(400, "ValidationException", INVALID_MODEL_MESSAGE)
        arn = f"arn:aws:bedrock:{self.region}:{agent_runtime.ACCOUNT}:async-invoke/{uuid.uuid4().hex[:12]}"
        base = responders.resolve_model(model_id).base_id or model_id
        model_arn = (model_id if model_id.startswith("arn:")
                     else f"arn:aws:bedrock:{self.region}::foundation-model/{base}")
        job = {"invocationArn": arn, "modelArn": model_arn, "clientRequestToken": payload.get("clientRequestToken"),
               "submitTime": _iso_now(), "outputDataConfig": payload.get("outputDataConfig") or {}, "polls": 0}
        with self._lock:
            self._async_jobs[arn] = job
        return {"invocationArn": arn}

    def _get_async_invoke(self, arn: str) -> Dict[str, Any]:
        with self._lock:
            job = self._async_jobs.get(arn)
            if job is None:
                raise _RequestError(404, "ResourceNotFoundException", f"Async invocation {arn} not found.")
            return self._async_summary(job, poll=True)

    @staticmethod
    def _async_summary(job: Dict[str, Any], poll: bool) -> Dict[str, Any]:
        """GetAsyncInvoke's view of a job: InProgress at the first poll, Completed afterwards (unless forced)."""
        if poll:
            job["polls"] += 1
        status = job.get("forced") or ("InProgress" if job["polls"] <= 1 else "Completed")
        now = _iso_now()
        body = {key: job[key] for key in ("invocationArn", "modelArn", "submitTime", "outputDataConfig")}
        body.update(status=status, lastModifiedTime=now)
        if job.get("clientRequestToken"):
            body["clientRequestToken"] = job["clientRequestToken"]
        if status != "InProgress":
            body["endTime"] = now
        if status == "Failed":
            body["failureMessage"] = job.get("failureMessage", "The async invocation failed in FakeBedrock.")
        return body

    def _default_reply(self, ex: _Exchange) -> FakeReply:
        """Validate like Bedrock (minimally) and compute the scripted reply."""
        if ex.model_id.startswith("invalid"):
            raise _RequestError(400, "ValidationException", INVALID_MODEL_MESSAGE)
        if not isinstance(ex.payload, dict):
            raise _RequestError(400, "ValidationException", MALFORMED_MESSAGE)
        if ex.operation in ("Converse", "ConverseStream"):
            prompt = responders.parse_converse(ex.payload)
            reply = responders.compute_reply(prompt, self._cache, ex.ref.base_id or ex.model_id)
            return self._guarded(ex, prompt, reply)
        if ex.operation == "CountTokens":
            return responders.compute_reply(self._count_tokens_prompt(ex))
        family = responders.family_named(ex.ref.family)
        prompt = family.parse_invoke(ex.payload)
        return self._guarded(ex, prompt, responders.compute_reply(prompt))

    def _guarded(self, ex: _Exchange, prompt: responders.Prompt, reply: FakeReply) -> FakeReply:
        """Apply a guardrail configured on a Converse (``guardrailConfig``) or InvokeModel (headers) call."""
        if ex.operation in ("Converse", "ConverseStream"):
            config = ex.payload.get("guardrailConfig")
            if not isinstance(config, dict) or not config.get("guardrailIdentifier"):
                return reply
            use = _GuardrailUse(str(config["guardrailIdentifier"]), config.get("trace") in ("enabled", "enabled_full"))
        else:
            identifier = ex.handler.headers.get("X-Amzn-Bedrock-GuardrailIdentifier")
            if not identifier:
                return reply
            trace = (ex.handler.headers.get("X-Amzn-Bedrock-Trace") or "").upper() in ("ENABLED", "ENABLED_FULL")
            use = _GuardrailUse(identifier, trace)
        use.assessment = agent_runtime.guardrail_assessment(prompt.texts)
        use.blocked = agent_runtime.guardrail_blocks(prompt.texts)
        ex.guardrail = use
        if not use.blocked:
            return reply
        # Converse says so in stopReason; InvokeModel bodies keep the family's normal finish and carry
        # the top-level "amazon-bedrock-guardrailAction" field instead (see _guardrail_fields).
        stop = "guardrail_intervened" if ex.operation in ("Converse", "ConverseStream") else "end_turn"
        return reply.with_text(agent_runtime.GUARDRAIL_BLOCKED_MESSAGE, stop, 0, 0)

    @staticmethod
    def _guardrail_trace(ex: _Exchange, converse: bool) -> Optional[Dict[str, Any]]:
        use = ex.guardrail
        if use is None or not use.trace:
            return None
        if converse:
            trace: Dict[str, Any] = {"inputAssessment": {use.identifier: use.assessment}}
            if use.blocked:
                trace["actionReason"] = "Guardrail blocked."
            return {"guardrail": trace}
        return {"guardrail": {"input": {use.identifier: use.assessment}}}

    def _guardrail_fields(self, ex: _Exchange) -> Dict[str, Any]:
        """The top-level keys Bedrock adds to InvokeModel bodies (and the last stream chunk) under a guardrail."""
        if ex.guardrail is None:
            return {}
        fields: Dict[str, Any] = {"amazon-bedrock-guardrailAction": "INTERVENED" if ex.guardrail.blocked else "NONE"}
        trace = self._guardrail_trace(ex, converse=False)
        if trace is not None:
            fields["amazon-bedrock-trace"] = trace
        return fields

    def _count_tokens_prompt(self, ex: _Exchange) -> responders.Prompt:
        """CountTokens wraps either a Converse request or a base64 InvokeModel body."""
        request_input = ex.payload.get("input")
        if isinstance(request_input, dict) and isinstance(request_input.get("converse"), dict):
            return responders.parse_converse(request_input["converse"])
        invoke = request_input.get("invokeModel") if isinstance(request_input, dict) else None
        if isinstance(invoke, dict) and isinstance(invoke.get("body"), str):
            try:
                body = json.loads(base64.b64decode(invoke["body"], validate=True))
            except (ValueError, binascii.Error):
                body = None
            if isinstance(body, dict):
                return responders.family_named(ex.ref.family).parse_invoke(body)
        raise _RequestError(400, "ValidationException", MALFORMED_MESSAGE)

    def _send_unary(self, ex: _Exchange, reply: FakeReply) -> None:
        handler = ex.handler
        if ex.operation == "CountTokens":
            handler.send_json(200, {"inputTokens": reply.input_tokens})
        elif ex.operation == "Converse":
            body = responders.converse_body(reply, ex.elapsed_ms())
            trace = self._guardrail_trace(ex, converse=True)
            if trace is not None:
                body["trace"] = trace
            handler.send_json(200, body)
        else:
            family = responders.family_named(ex.ref.family)
            headers = {
                "x-amzn-bedrock-input-token-count": str(reply.input_tokens),
                "x-amzn-bedrock-output-token-count": str(reply.output_tokens),
                "x-amzn-bedrock-invocation-latency": str(ex.elapsed_ms()),
            }
            handler.send_json(200, {**family.invoke_body(reply, ex.ref), **self._guardrail_fields(ex)}, headers)

    def _send_default_stream(self, ex: _Exchange, reply: FakeReply, scripted: Optional[Reply]) -> None:
        """Render the family's stream lazily so latencies in the last event are real."""
        first_byte: List[int] = []
        if ex.operation == "ConverseStream":
            events = responders.converse_stream_events(reply)

            def converse_event(index: int, total: int, event: Tuple[str, Dict[str, Any]]) -> bytes:
                name, payload = event
                if name == "metadata":
                    payload = {**payload, "metrics": {"latencyMs": ex.elapsed_ms()}}
                    trace = self._guardrail_trace(ex, converse=True)
                    if trace is not None:
                        payload["trace"] = trace
                return event_frame(name, payload)

            builders = [lambda i, n, e=e: converse_event(i, n, e) for e in events]
        else:
            chunks = responders.family_named(ex.ref.family).stream_chunks(reply, ex.ref)

            def model_chunk(index: int, total: int, chunk: Dict[str, Any]) -> bytes:
                if not first_byte:
                    first_byte.append(ex.elapsed_ms())
                if index == total - 1:
                    metrics = responders.invocation_metrics(reply, ex.elapsed_ms(), first_byte[0])
                    chunk = {**chunk, **self._guardrail_fields(ex), "amazon-bedrock-invocationMetrics": metrics}
                return chunk_frame(chunk)

            builders = [lambda i, n, c=c: model_chunk(i, n, c) for c in chunks]

        total = len(builders)  # the last *full-stream* event carries the metrics, even if we cut earlier
        tail: Optional[bytes] = None
        drop = False
        if scripted is not None and scripted.kind in ("stream_error", "drop"):
            builders = builders[: max(scripted.after_events, 0)]
            drop = scripted.kind == "drop"
            if not drop:
                tail = exception_frame(scripted.exception_type, scripted.message)
        self._send_stream(ex, 200, builders, tail=tail, drop=drop, total=total)

    def _send_stream(
        self,
        ex: _Exchange,
        status: int,
        builders: Iterable[Callable[[int, int], bytes]],
        tail: Optional[bytes] = None,
        drop: bool = False,
        total: Optional[int] = None,
        headers: Optional[Dict[str, str]] = None,
    ) -> None:
        """Chunked response, one frame per HTTP chunk, flushed, with ``event_delay`` between events."""
        handler = ex.handler
        builders = list(builders)
        count = total if total is not None else len(builders)
        headers = dict(headers or {})
        if ex.operation == "InvokeModelWithResponseStream":
            headers["X-Amzn-Bedrock-Content-Type"] = "application/json"
        handler.start_chunked(status, headers)
        for index, build in enumerate(builders):
            self._pace(index)
            handler.write_chunk(build(index, count))
        if drop:
            handler.drop_connection()
            return
        if tail is not None:
            self._pace(len(builders))
            handler.write_chunk(tail)
        handler.end_chunked()

    def _pace(self, index: int) -> None:
        if index > 0 and self.event_delay > 0:
            time.sleep(self.event_delay)
        hook = self.before_event
        if hook is not None:
            hook(index)


def _iso_now() -> str:
    """UTC now as the ISO-8601 timestamp AWS JSON protocols use."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


_LOADER: List[Any] = []  # one botocore data loader for every client the fake builds
_LOADER_LOCK = threading.Lock()


def _isolated_botocore_session() -> Any:
    """A botocore session that ignores AWS_PROFILE and the user's shared config/credentials files.

    Its service-model loader is shared between sessions: each new loader re-parses the service JSON
    (~50 ms a client), which dominated test suites that build a client per test.
    """
    import botocore.session

    session = botocore.session.Session(
        session_vars={
            "profile": (None, None, None, None),
            "config_file": (None, None, os.devnull, None),
            "credentials_file": (None, None, os.devnull, None),
        }
    )
    with _LOADER_LOCK:
        if not _LOADER:
            _LOADER.append(session.get_component("data_loader"))
        session.register_component("data_loader", _LOADER[0])
    return session
