"""The two transports: an in-process stub (no sockets) and the fake Bedrock server over loopback.

*Stub*: a ``before-send`` handler on the client's own event emitter answers every request with a
canned ``AWSResponse`` whose raw object supports ``stream()``/``read()`` like urllib3's. boto3 still
builds, validates and signs the request, parses the JSON, decodes the binary event stream frame by
frame and wraps bodies in ``StreamingBody``; only the socket is missing, so differences between
contenders are not drowned in network noise.

*Loopback*: :class:`bedrock_otel.testing.fake_server.FakeBedrock` in a child process (so it runs on
the other core and does not compete for this process's GIL), driven through a line protocol on its
stdin (see :mod:`benchmarks.server`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from . import payloads

REGION = "us-east-1"
STUB_ENDPOINT = "http://127.0.0.1:9"  # never contacted: the stub answers first (port 9 = discard)
STUB = "stub"
LOOPBACK = "loopback"
TRANSPORT_TITLES = {STUB: "in-process stub", LOOPBACK: "fake server, loopback HTTP"}
ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------------
# clients
# --------------------------------------------------------------------------------------------------


def _isolated_session_vars() -> Dict[str, Any]:
    """Ignore AWS_PROFILE and the user's shared config/credentials files."""
    return {
        "profile": (None, None, None, None),
        "config_file": (None, None, os.devnull, None),
        "credentials_file": (None, None, os.devnull, None),
    }


def _config_options(pool: int) -> Dict[str, Any]:
    # SigV4 forced so that AWS_BEARER_TOKEN_BEDROCK cannot switch botocore to bearer auth.
    return {
        "signature_version": "v4",
        "proxies": {},
        "retries": {"mode": "standard", "total_max_attempts": 1},
        "max_pool_connections": pool,
    }


def boto3_client(endpoint_url: str, pool: int = 10) -> Any:
    import boto3.session
    import botocore.session
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
        region_name=REGION,
        botocore_session=botocore.session.Session(session_vars=_isolated_session_vars()),
    )
    return session.client("bedrock-runtime", endpoint_url=endpoint_url, config=Config(**_config_options(pool)))


def aio_client_context(endpoint_url: str, pool: int = 10) -> Any:
    """An aiobotocore client context manager (``async with aio_client_context(url) as client``)."""
    from aiobotocore.config import AioConfig
    from aiobotocore.session import AioSession

    session = AioSession(session_vars=_isolated_session_vars())
    return session.create_client(
        "bedrock-runtime",
        region_name=REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
        config=AioConfig(**_config_options(pool)),
    )


# --------------------------------------------------------------------------------------------------
# the in-process stub
# --------------------------------------------------------------------------------------------------


class CannedRaw:
    """What botocore reads a response from: urllib3's ``stream()``/``read()``/``close()``, from memory.

    ``read`` copies, as a socket read would, so memory measurements see the same allocations a real
    response causes. Event streams come as one frame per ``stream()`` chunk, as the fake server sends.
    """

    __slots__ = ("_data", "_frames", "_pos")

    def __init__(self, data: bytes = b"", frames: Optional[Sequence[bytes]] = None) -> None:
        self._data = data
        self._frames = frames
        self._pos = 0

    def stream(self, amt: int = 2**16, decode_content: Any = None) -> Iterator[bytes]:
        if self._frames is not None:
            yield from self._frames
            return
        while True:
            chunk = self.read(amt)
            if not chunk:
                return
            yield chunk

    def read(self, amt: Optional[int] = None, *args: Any, **kwargs: Any) -> bytes:
        data, start = self._data, self._pos
        end = len(data) if amt is None or amt < 0 else min(len(data), start + amt)
        self._pos = end
        return bytes(memoryview(data)[start:end])

    def close(self) -> None:
        self._pos = len(self._data)

    def release_conn(self) -> None:
        return None


class AsyncCannedRaw(CannedRaw):
    """aiobotocore reads non-streaming bodies with ``await raw.read()``.

    The read suspends once, as a socket read would: without it no task would ever yield to the event
    loop and one task would run alone.
    """

    __slots__ = ()

    async def read(self, amt: Optional[int] = None, *args: Any, **kwargs: Any) -> bytes:  # type: ignore[override]
        await asyncio.sleep(0)
        return CannedRaw.read(self, amt)


class StubTransport:
    """Canned replies for the four bedrock-runtime operations; swap ``invoke_body`` to change the body."""

    name = STUB

    def __init__(self, stream_events: int = payloads.STREAM_EVENTS) -> None:
        self.converse_body = payloads.converse_body()
        self.invoke_body = payloads.anthropic_body()
        self.converse_frames: List[bytes] = payloads.converse_stream_frames(stream_events)
        self.invoke_frames: List[bytes] = payloads.invoke_stream_frames(stream_events)

    def _response(self, raw: CannedRaw, headers: Dict[str, str], asynchronous: bool = False) -> Any:
        from botocore.awsrequest import AWSResponse, HeadersDict

        if asynchronous:
            from aiobotocore.awsrequest import AioAWSResponse

            return AioAWSResponse(STUB_ENDPOINT, 200, HeadersDict(headers), raw)
        return AWSResponse(STUB_ENDPOINT, 200, HeadersDict(headers), raw)

    def handlers(self, asynchronous: bool = False) -> Dict[str, Callable[..., Any]]:
        def converse(**_: Any) -> Any:
            body = self.converse_body
            raw = AsyncCannedRaw(body) if asynchronous else CannedRaw(body)
            return self._response(raw, payloads.json_headers(len(body)), asynchronous)

        def invoke(**_: Any) -> Any:
            body = self.invoke_body
            return self._response(CannedRaw(body), payloads.invoke_headers(len(body)))

        def converse_stream(**_: Any) -> Any:
            return self._response(CannedRaw(frames=self.converse_frames), payloads.stream_headers(False))

        def invoke_stream(**_: Any) -> Any:
            return self._response(CannedRaw(frames=self.invoke_frames), payloads.stream_headers(True))

        table = {"Converse": converse}
        if not asynchronous:
            table.update({"InvokeModel": invoke, "ConverseStream": converse_stream,
                          "InvokeModelWithResponseStream": invoke_stream})
        return table

    def attach(self, client: Any, asynchronous: bool = False) -> Any:
        for operation, handler in self.handlers(asynchronous).items():
            client.meta.events.register(f"before-send.bedrock-runtime.{operation}", handler)
        return client

    def client(self, pool: int = 10) -> Any:
        return self.attach(boto3_client(STUB_ENDPOINT, pool))

    def aio_client_context(self, pool: int = 10) -> Any:
        transport = self

        class _Context:
            async def __aenter__(self) -> Any:
                self._inner = aio_client_context(STUB_ENDPOINT, pool)
                client = await self._inner.__aenter__()
                return transport.attach(client, asynchronous=True)

            async def __aexit__(self, *exc_info: Any) -> Any:
                return await self._inner.__aexit__(*exc_info)

        return _Context()

    def prepare(self, operation: str, count: int) -> None:
        """Nothing to queue: the stub answers every call."""


# --------------------------------------------------------------------------------------------------
# the fake server over loopback, in a child process
# --------------------------------------------------------------------------------------------------


class LoopbackTransport:
    """FakeBedrock in a child process; streams and big bodies are queued through its stdin."""

    name = LOOPBACK

    def __init__(self, stream_events: int = payloads.STREAM_EVENTS) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server", "--events", str(stream_events)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(ROOT), env=env,
        )
        line = self._readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"benchmark server failed to start: {line!r}")
        self.endpoint_url = line.split(" ", 1)[1]

    def _readline(self) -> str:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"benchmark server exited (code {self._proc.poll()})")
        return line

    def command(self, *words: object) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(" ".join(str(w) for w in words) + "\n")
        self._proc.stdin.flush()
        answer = self._readline()
        if answer != "OK":
            raise RuntimeError(f"benchmark server: {answer}")

    def prepare(self, operation: str, count: int) -> None:
        """Queue ``count`` replies for the next calls of ``operation`` (the defaults need none)."""
        if operation == "ConverseStream":
            self.command("converse-stream", count)
        elif operation == "InvokeModelWithResponseStream":
            self.command("invoke-stream", count)
        else:
            self.command("reset")

    def client(self, pool: int = 10) -> Any:
        return boto3_client(self.endpoint_url, pool)

    def aio_client_context(self, pool: int = 10) -> Any:
        return aio_client_context(self.endpoint_url, pool)

    def close(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(RuntimeError, OSError, ValueError):
                self.command("quit")
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
