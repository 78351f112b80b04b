"""Observing botocore's EventStream without changing what the application iterates."""

from __future__ import annotations

import logging
from typing import Any, AsyncIterator, Callable, Iterator, Mapping

from ..telemetry import attributes as A
from ..telemetry.invocation import Invocation
from .swap import attach, observer_of

_log = logging.getLogger(__name__)

EventHandler = Callable[[Mapping[str, Any]], bool]
"""Parses one event into the invocation's outcome; returns True when it carried content."""


class StreamObserver:
    """Feeds each event to a parser and ends the invocation when the stream ends, however it ends."""

    __slots__ = ("events", "handle", "inv")

    def __init__(self, inv: Invocation, handle: EventHandler) -> None:
        self.inv = inv
        self.handle = handle
        self.events = 0

    def event(self, event: Mapping[str, Any]) -> None:
        self.events += 1
        try:
            if self.handle(event):
                self.inv.content_chunk()
        except Exception as exc:  # a surprising event must not reach the application's loop
            errors = self.inv.outcome.parse_errors
            if len(errors) < 5:
                errors.append(f"stream event: {type(exc).__name__}: {exc}"[:200])

    def stop(self, state: str) -> None:
        self.inv.end(**{A.STREAM_END_STATE: state, A.STREAM_EVENT_COUNT: self.events})

    def fail(self, exc: BaseException) -> None:
        if not self.inv.ended:
            self.inv.span.set_attributes({A.STREAM_END_STATE: "error", A.STREAM_EVENT_COUNT: self.events})
        self.inv.fail(exc)


class _ClosingObserved:
    """close() ends the span, for sync and async streams alike (both close synchronously)."""

    def close(self) -> None:
        try:
            super().close()  # type: ignore[misc]
        finally:
            observer = observer_of(self)
            if observer is not None:
                observer.stop("closed")


class ObservedEventStream(_ClosingObserved):
    """Mixin placed over botocore's EventStream class on the returned instance."""

    def __iter__(self) -> Iterator[Any]:
        observer: StreamObserver | None = observer_of(self)
        events = super().__iter__()  # type: ignore[misc]
        if observer is None or observer.inv.ended:
            yield from events
            return
        try:
            for event in events:
                observer.event(event)
                yield event
        except GeneratorExit:  # the application broke out of its loop
            observer.stop("abandoned")
            raise
        except BaseException as exc:
            observer.fail(exc)
            raise
        observer.stop("completed")


class ObservedAsyncEventStream(_ClosingObserved):
    """Mixin for aiobotocore's AioEventStream: the same observer, fed from ``async for``."""

    def __aiter__(self) -> AsyncIterator[Any]:
        observer: StreamObserver | None = observer_of(self)
        events = super().__aiter__()  # type: ignore[misc]
        if observer is None or observer.inv.ended:
            return events
        return _observe_async(events, observer)


async def _observe_async(events: AsyncIterator[Any], observer: StreamObserver) -> AsyncIterator[Any]:
    try:
        async for event in events:
            observer.event(event)
            yield event
    except GeneratorExit:
        observer.stop("abandoned")
        raise
    except BaseException as exc:
        observer.fail(exc)
        raise
    observer.stop("completed")


def observe_event_stream(stream: Any, inv: Invocation, handle: EventHandler) -> bool:
    """Attach to ``stream``; False (and the invocation left to the caller) if it cannot be observed."""
    observer = StreamObserver(inv, handle)
    mixin = ObservedAsyncEventStream if hasattr(type(stream), "__aiter__") else ObservedEventStream
    return attach(stream, mixin, observer, lambda: observer.stop("garbage_collected"))
