"""How the simulated application talks to Bedrock: boto3 (sync) or aiobotocore (async).

The runner's application behaviours are written once, as coroutines. They ``await resolve(...)`` what a
client, body or stream method returns (a value with boto3, a coroutine with aiobotocore) and go through
an :class:`App` only where the two APIs differ in shape: iteration, ``with``, the io module's wrappers.
A sync run drives those coroutines without any event loop (nothing in them ever suspends), so boto3 is
called exactly as a plain sync application calls it; an async run is one ``asyncio.run``.

Sync behaviours without an aiobotocore equivalent are mapped to what an async application does instead
(the mapping is part of the harness, so the uninstrumented and the instrumented async run do the same):

* ``readline`` (IOBase's, which calls a sync ``read``): the first line of ``iter_lines(keepends=True)``;
* ``io.BufferedReader`` (needs a sync ``readinto``): :class:`AsyncBuffered`, one ``read(buffer_size)``
  behind ``peek`` then ``read()`` for the rest;
* ``io.TextIOWrapper``: ``await body.read()`` decoded by a TextIOWrapper over the bytes;
* ``shutil.copyfileobj``: its loop, ``await body.read(512)`` until ``b""``;
* ``with body as raw`` (botocore hands out the raw urllib3 stream): ``async with body as b`` and
  ``await b.read()`` (aiobotocore hands out the body itself; leaving it calls ``aclose()``);
* closing a partly read body: ``await body.aclose()``, or ``close()`` where the body has no ``aclose``
  (aiobotocore 3.5 on Python 3.9); the other closes stay ``close()``, sync in both.

Everything else (``read``, ``read(n)``, ``read(-1)``, ``readinto`` into a bytearray or a memoryview,
``readlines``, ``iter_chunks``, ``iter_lines``, iterating a body, ``next``, ``close``) exists in both APIs
and is the same call, awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import io
import os
import shutil
from typing import Any, Coroutine, Dict, Iterator, List, Optional, TypeVar

import boto3.session
import botocore.session
from botocore import UNSIGNED
from botocore.config import Config

from .normalise import raised_by_instrumentation

SYNC, ASYNC = "sync", "async"
FLAVOURS = (SYNC, ASYNC)
REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_session_token": "testing"}

END: Any = object()  # what App.next returns for StopIteration / StopAsyncIteration
T = TypeVar("T")


async def resolve(value: Any) -> Any:
    """``value``, awaited if the API handed out an awaitable (aiobotocore) rather than a result (boto3)."""
    if inspect.isawaitable(value):
        return await value
    return value


def _isolated(session_cls: Any) -> Any:
    """A session that reads no profile, config file or credentials file of the machine running the tests."""
    return session_cls(session_vars={
        "profile": (None, None, None, None),
        "config_file": (None, None, os.devnull, None),
        "credentials_file": (None, None, os.devnull, None),
    })


def client_options(attempts: int, unsigned: bool = False, **config: Any) -> Dict[str, Any]:
    """Client config for the fake server, the same for both flavours: standard retries, no proxies."""
    options: Dict[str, Any] = {"signature_version": UNSIGNED if unsigned else "v4", "proxies": {},
                               "retries": {"mode": "standard", "total_max_attempts": attempts}}
    options.update(config)
    return options


_BOTOCORE_SESSION: Optional[botocore.session.Session] = None


def botocore_session() -> botocore.session.Session:
    """One isolated botocore session for the whole module (its loader caches make clients cheap)."""
    global _BOTOCORE_SESSION
    if _BOTOCORE_SESSION is None:
        _BOTOCORE_SESSION = _isolated(botocore.session.Session)
    return _BOTOCORE_SESSION


def make_client(endpoint_url: str, attempts: int = 1, unsigned: bool = False, service: str = "bedrock-runtime",
                **config: Any) -> Any:
    """A boto3 client of ``service`` for the fake server (dummy credentials, standard retries)."""
    session = boto3.session.Session(region_name=REGION, botocore_session=botocore_session(), **CREDENTIALS)
    return session.client(service, endpoint_url=endpoint_url,
                          config=Config(**client_options(attempts, unsigned, **config)))


class App:
    """The sync/async differences the behaviours go through; every method is awaited by the caller."""

    flavour = ""

    def execute(self, coroutine: Coroutine[Any, Any, T]) -> T:
        raise NotImplementedError

    async def client(self, endpoint_url: str, attempts: int, unsigned: bool, service: str) -> Any:
        raise NotImplementedError

    async def close_client(self, client: Any) -> None:
        raise NotImplementedError

    def iterator(self, iterable: Any) -> Any:
        raise NotImplementedError

    async def next(self, iterator: Any) -> Any:
        """The next item, or :data:`END`."""
        raise NotImplementedError

    async def throw(self, iterator: Any, exc: BaseException) -> Any:
        raise NotImplementedError

    async def close_iterator(self, iterator: Any) -> None:
        raise NotImplementedError

    async def drain(self, iterable: Any) -> List[Any]:
        raise NotImplementedError

    async def with_raw(self, body: Any) -> bytes:
        raise NotImplementedError

    async def close_partly_read(self, body: Any) -> Any:
        raise NotImplementedError

    async def readline(self, body: Any) -> bytes:
        raise NotImplementedError

    def buffered(self, body: Any, size: int) -> Any:
        """A buffered reader over ``body`` whose ``peek(n)`` and ``read()`` the caller resolves."""
        raise NotImplementedError

    async def read_text(self, body: Any) -> str:
        raise NotImplementedError

    async def copy(self, body: Any, target: io.BytesIO) -> None:
        raise NotImplementedError

    async def turn(self) -> None:
        """Let whatever the event loop owes the app happen (finalising dropped async generators)."""

    async def settle(self) -> None:
        """Collect garbage, then :meth:`turn`: whatever the app dropped is finalised."""
        gc.collect()
        await self.turn()

    def loop_errors(self, seen: List[Any]) -> Any:
        """Record exceptions handed to the event loop's exception handler alongside unraisable ones."""
        return contextlib.nullcontext()


class SyncApp(App):
    """boto3: every call is the plain sync call; the coroutines around them never suspend."""

    flavour = SYNC

    def execute(self, coroutine: Coroutine[Any, Any, T]) -> T:
        try:
            coroutine.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        coroutine.close()
        raise RuntimeError("the sync application awaited something that suspends")

    async def client(self, endpoint_url: str, attempts: int, unsigned: bool, service: str) -> Any:
        return make_client(endpoint_url, attempts, unsigned, service)

    async def close_client(self, client: Any) -> None:
        """boto3 applications rarely close clients: dropping them is what the sync runs always did."""

    def iterator(self, iterable: Any) -> Iterator[Any]:
        return iter(iterable)

    async def next(self, iterator: Any) -> Any:
        try:
            return next(iterator)
        except StopIteration:
            return END

    async def throw(self, iterator: Any, exc: BaseException) -> Any:
        return iterator.throw(exc)

    async def close_iterator(self, iterator: Any) -> None:
        iterator.close()

    async def drain(self, iterable: Any) -> List[Any]:
        return list(iterable)

    async def with_raw(self, body: Any) -> bytes:
        with body as raw:
            return raw.read()  # type: ignore[no-any-return]

    async def close_partly_read(self, body: Any) -> Any:
        return body.close()

    async def readline(self, body: Any) -> bytes:
        return body.readline()  # type: ignore[no-any-return]

    def buffered(self, body: Any, size: int) -> Any:
        return io.BufferedReader(body, buffer_size=size)

    async def read_text(self, body: Any) -> str:
        return io.TextIOWrapper(io.BufferedReader(body), encoding="utf-8").read()

    async def copy(self, body: Any, target: io.BytesIO) -> None:
        shutil.copyfileobj(body, target, 512)


class AsyncBuffered:
    """What ``io.BufferedReader`` does over a body (``peek`` fills its buffer with one raw read), awaited."""

    def __init__(self, body: Any, size: int) -> None:
        self._body = body
        self._size = size
        self._buffer = b""

    async def peek(self, size: int = 0) -> bytes:
        if not self._buffer:
            self._buffer = await self._body.read(self._size)
        return self._buffer

    async def read(self) -> bytes:
        data, self._buffer = self._buffer, b""
        return data + await self._body.read()


_AIO_SESSION: Any = None


class AsyncApp(App):
    """aiobotocore on asyncio (its aiohttp backend): bodies and event streams are async-iterated."""

    flavour = ASYNC

    def execute(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run(coroutine)

    async def client(self, endpoint_url: str, attempts: int, unsigned: bool, service: str) -> Any:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import AioSession

        global _AIO_SESSION
        if _AIO_SESSION is None:
            _AIO_SESSION = _isolated(AioSession)
        # verify=False: the fake speaks plain http, and a verifying client builds its CA context in a worker
        # thread on the first call (about 20 ms a client, most of an async case's cost).
        context = _AIO_SESSION.create_client(service, region_name=REGION, endpoint_url=endpoint_url,
                                             config=AioConfig(**client_options(attempts, unsigned)), verify=False,
                                             **CREDENTIALS)
        return await context.__aenter__()

    async def close_client(self, client: Any) -> None:
        await client.__aexit__(None, None, None)  # what leaving ``async with session.create_client(...)`` does

    def iterator(self, iterable: Any) -> Any:
        return iterable.__aiter__()

    async def next(self, iterator: Any) -> Any:
        try:
            return await iterator.__anext__()
        except StopAsyncIteration:
            return END

    async def throw(self, iterator: Any, exc: BaseException) -> Any:
        return await iterator.athrow(exc)

    async def close_iterator(self, iterator: Any) -> None:
        await iterator.aclose()

    async def drain(self, iterable: Any) -> List[Any]:
        return [item async for item in iterable]

    async def with_raw(self, body: Any) -> bytes:
        async with body as entered:
            return await entered.read()  # type: ignore[no-any-return]

    async def close_partly_read(self, body: Any) -> Any:
        closer = getattr(body, "aclose", None)
        if closer is None:  # aiobotocore 3.5 (Python 3.9): a proxy over aiohttp's response, closed by close()
            return body.close()
        return await closer()

    async def readline(self, body: Any) -> bytes:
        lines = body.iter_lines(keepends=True)
        try:
            line = await self.next(lines)
        finally:
            await lines.aclose()
        return b"" if line is END else line  # type: ignore[no-any-return]

    def buffered(self, body: Any, size: int) -> Any:
        return AsyncBuffered(body, size)

    async def read_text(self, body: Any) -> str:
        return io.TextIOWrapper(io.BytesIO(await body.read()), encoding="utf-8").read()

    async def copy(self, body: Any, target: io.BytesIO) -> None:
        while True:
            chunk = await body.read(512)
            if not chunk:
                return
            target.write(chunk)

    async def turn(self) -> None:
        # A dropped async generator is finalised by the loop, not on the spot: its ``aclose()`` is scheduled
        # (asyncgen hooks: one turn to create the task, one to run it); a third turn for good measure.
        for _ in range(3):
            await asyncio.sleep(0)

    @contextlib.contextmanager
    def loop_errors(self, seen: List[Any]) -> Iterator[None]:
        # An exception in a finalised async generator or an unawaited task reaches no caller: the loop's
        # exception handler is its async twin of sys.unraisablehook.
        loop = asyncio.get_running_loop()
        previous = loop.get_exception_handler()

        def handler(_: Any, context: Dict[str, Any]) -> None:
            exc: Optional[BaseException] = context.get("exception")
            if exc is None and str(context.get("message")).startswith("Unclosed"):
                # aiohttp's resource warnings ("Unclosed connection" after a dropped stream, say) come from
                # __del__, whenever the collector reaches a cycle, in whichever thread it runs: GC timing,
                # which differs between any two runs, not something the app did (leaks: test_leaks.py).
                return
            seen.append((type(exc).__name__ if exc else None, str(exc) if exc else context.get("message"),
                         raised_by_instrumentation(exc.__traceback__ if exc else None),
                         str(context.get("message"))[:80]))

        loop.set_exception_handler(handler)
        try:
            yield
        finally:
            loop.set_exception_handler(previous)


APPS: Dict[str, App] = {SYNC: SyncApp(), ASYNC: AsyncApp()}
