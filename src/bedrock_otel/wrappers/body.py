"""Observing an InvokeModel ``StreamingBody`` as the application reads it (a tee, not a copy).

The span of an InvokeModel call stays open until the application has read the body (or closed it,
or dropped it), because finish reasons and response ids live in the body. We keep references to
the chunks the application itself receives, up to a size cap, and parse them once at the end of
the body; past the cap we stop collecting and rely on Bedrock's token headers.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from typing import Any, Awaitable, Callable, Dict, List, Optional

import wrapt

from ..telemetry import attributes as A
from ..telemetry.invocation import Invocation
from .swap import attach, observer_of

BodyParser = Callable[[Mapping[str, Any]], None]

_scan_once = json.JSONDecoder().scan_once  # what json.loads runs, after two whitespace regex matches


def loads(data: Any) -> Any:
    """``json.loads(data)``: the same value and the same errors, a microsecond sooner for compact objects.

    A UTF-8 ``{...}`` document with no surrounding whitespace (what Bedrock and boto3 applications send)
    goes straight to the scanner json.loads itself uses; anything else, valid or not, to json.loads.
    """
    try:
        if type(data) is bytes and data[:1] == b"{" and data[1:2] != b"\x00":  # json.detect_encoding: UTF-8
            text = data.decode("utf-8", "surrogatepass")
        elif type(data) is str and data[:1] == "{":
            text = data
        else:
            return json.loads(data)
        value, end = _scan_once(text, 0)
        if end == len(text):
            return value
    except (ValueError, StopIteration):
        pass
    return json.loads(data)


class BodyObserver:
    __slots__ = ("chunks", "inv", "limit", "parse", "size")

    def __init__(self, inv: Invocation, parse: Optional[BodyParser], limit: int) -> None:
        self.inv = inv
        self.parse = parse
        self.limit = limit
        self.chunks: Optional[List[bytes]] = [] if parse is not None else None
        self.size = 0

    def data(self, chunk: bytes, at_end: bool) -> None:
        chunks = self.chunks
        if chunks is not None and chunk:
            self.size += len(chunk)
            if self.size > self.limit:
                self.chunks = chunks = None
            else:
                chunks.append(chunk)
        if at_end:
            self.finish()

    def finish(self) -> None:
        if self.inv.ended:
            return
        chunks, outcome = self.chunks, self.inv.outcome
        self.chunks = None
        if chunks is not None and self.parse is not None:
            payload = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            try:
                body = loads(payload)
            except ValueError as exc:
                outcome.parse_errors.append(f"response body is not JSON: {exc}"[:200])
            except RecursionError:  # json's own depth limit: the application's read() must not see it
                outcome.parse_errors.append("response body nested too deeply to parse")
            else:
                if type(body) is dict or isinstance(body, Mapping):
                    try:
                        self.parse(body)
                    except Exception as exc:
                        outcome.parse_errors.append(f"response body: {type(exc).__name__}: {exc}"[:200])
                else:
                    outcome.parse_errors.append("response body is not a JSON object")
            state = "read"
        else:
            state = "read" if self.parse is None else "too_large"
        self.inv.end(**{A.BODY_END_STATE: state})

    def stop(self, state: str) -> None:
        self.chunks = None
        self.inv.end(**{A.BODY_END_STATE: state})

    def failed(self, exc: BaseException) -> None:
        self.chunks = None
        self.inv.fail(exc)


class _ClosingObserved:
    """close() ends the span; shared by the sync and async bodies (aiohttp's close is sync)."""

    def close(self) -> Any:
        try:
            return super().close()  # type: ignore[misc]
        finally:
            observer = observer_of(self)
            if observer is not None:
                observer.stop("closed")


class ObservedBody(_ClosingObserved):
    """Mixin placed over botocore's StreamingBody class on the returned instance."""

    def read(self, amt: Optional[int] = None) -> bytes:
        observer: BodyObserver | None = observer_of(self)
        try:
            chunk = super().read(amt)  # type: ignore[misc]
        except BaseException as exc:
            if observer is not None:
                observer.failed(exc)
            raise
        if observer is not None:
            observer.data(chunk, amt is None or (not chunk and amt > 0))
        return chunk

    def readinto(self, buffer: Any) -> int:
        observer: BodyObserver | None = observer_of(self)
        try:
            count = super().readinto(buffer)  # type: ignore[misc]
        except BaseException as exc:
            if observer is not None:
                observer.failed(exc)
            raise
        if observer is not None:
            observer.data(bytes(memoryview(buffer)[:count]), count == 0 and len(buffer) > 0)
        return count

    def readlines(self) -> List[bytes]:
        lines = super().readlines()  # type: ignore[misc]
        observer: BodyObserver | None = observer_of(self)
        if observer is not None:
            observer.data(b"".join(lines), True)
        return lines

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return super().__exit__(*exc_info)  # type: ignore[misc]
        finally:
            # `with body as raw:` hands the application the raw stream, which we do not see.
            observer = observer_of(self)
            if observer is not None:
                observer.stop("unobserved")


class ObservedAsyncBody(_ClosingObserved):
    """Mixin for aiobotocore's async StreamingBody: ``await read()`` feeds the same observer."""

    async def read(self, amt: Optional[int] = None) -> bytes:
        observer: BodyObserver | None = observer_of(self)
        try:
            chunk = await super().read(amt)  # type: ignore[misc]
        except BaseException as exc:
            if observer is not None:
                observer.failed(exc)
            raise
        if observer is not None:
            observer.data(chunk, amt is None or amt < 0 or (not chunk and amt > 0))
        return chunk

    async def readinto(self, buffer: Any) -> int:
        observer: BodyObserver | None = observer_of(self)
        try:
            count = await super().readinto(buffer)  # type: ignore[misc]
        except BaseException as exc:
            if observer is not None:
                observer.failed(exc)
            raise
        if observer is not None:
            observer.data(bytes(memoryview(buffer)[:count]), count == 0 and len(buffer) > 0)
        return count

    async def aclose(self) -> None:
        try:
            await super().aclose()  # type: ignore[misc]
        finally:
            observer = observer_of(self)
            if observer is not None:
                observer.stop("closed")


class ObservedProxiedAsyncBody(ObservedAsyncBody):
    """Older aiobotocore's StreamingBody (3.5, the newest on Python 3.9) is a wrapt.ObjectProxy over aiohttp's
    response: ``close()`` is the response's, found by the proxy's ``__getattr__``, which ``super()`` skips."""

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()  # type: ignore[attr-defined]
        finally:
            observer = observer_of(self)
            if observer is not None:
                observer.stop("closed")

    @property
    def aclose(self) -> Callable[[], Awaitable[None]]:  # type: ignore[override]
        """The response's ``aclose`` observed, when it has one. When it has none, the AttributeError raised
        here sends the lookup on to the proxy's ``__getattr__``, which fails exactly as without us (same
        message, raised outside our code), so ``hasattr(body, "aclose")`` does not change either."""
        inner = self.__wrapped__.aclose  # type: ignore[attr-defined]

        async def aclose() -> None:
            try:
                await inner()
            finally:
                observer = observer_of(self)
                if observer is not None:
                    observer.stop("closed")

        return aclose


def observe_body(body: Any, inv: Invocation, parse: Optional[BodyParser], limit: int,
                 length: Optional[int] = None) -> bool:
    """Attach to ``body``; a declared ``length`` over ``limit`` means no chunk is ever kept."""
    observer = BodyObserver(inv, parse, limit)
    if length is not None and length > limit:
        observer.chunks = None  # finish() then reports too_large; Bedrock's header counts stay
    cls = type(body)
    mixin = _MIXINS.get(cls)
    if mixin is None:
        if not inspect.iscoroutinefunction(getattr(cls, "read", None)):
            mixin = ObservedBody
        elif issubclass(cls, wrapt.ObjectProxy):
            mixin = ObservedProxiedAsyncBody
        else:
            mixin = ObservedAsyncBody
        _MIXINS[cls] = mixin
    return attach(body, mixin, observer, lambda: observer.stop("garbage_collected"))


_MIXINS: Dict[type, type] = {}  # body class -> the mixin for it (sync or async read)
