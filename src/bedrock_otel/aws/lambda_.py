"""AWS Lambda: continue the invocation's X-Ray trace and flush telemetry before the function freezes.

Lambda freezes the execution environment as soon as the handler returns, so the batch span processor's and
the periodic metric reader's background threads stop with whatever they hold; it may then be thawed minutes
later, or never. :func:`lambda_handler` wraps a handler so that each invocation

* gets a SERVER span whose parent is the one Lambda passes in ``_X_AMZN_TRACE_ID`` (``Root=…;Parent=…;
  Sampled=…``), so Bedrock calls made by the handler join the trace X-Ray shows for the invocation, and
* exports everything buffered (spans and metrics) before the handler's return value is handed back.

>>> configured = bedrock_otel.configure()
>>> @lambda_handler
... def handler(event, context):
...     return answer(event)

When something else already started a span for the invocation (the ADOT Lambda layer's instrumentation),
no second span is made; the flush still happens. :func:`flush_on_return` is the flush alone.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from typing import Any, Callable, Optional, TypeVar, Union, overload

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind

_log = logging.getLogger("bedrock_otel.aws")

TRACE_ENV = "_X_AMZN_TRACE_ID"
TRACE_HEADER = "X-Amzn-Trace-Id"
DEFAULT_FLUSH_TIMEOUT = 2.0

F = TypeVar("F", bound=Callable[..., Any])

_cold = threading.Event()  # set after the first invocation in this execution environment


def flush(timeout: float = DEFAULT_FLUSH_TIMEOUT) -> bool:
    """Export what is buffered now: the ``configure()``d pipeline if there is one, else the global providers.

    True when everything was exported within ``timeout`` seconds. With the collector unreachable it returns
    False at once rather than waiting out retries (see ``Configured.force_flush``).
    """
    from .configure import configured as first_configured  # not at import time: configure imports much

    configured = first_configured()
    if configured is not None and configured.owns_providers:
        return configured.force_flush(timeout=timeout)
    done = True
    millis = int(timeout * 1000)
    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        flusher = getattr(provider, "force_flush", None)
        if flusher is not None:
            try:
                done = bool(flusher(millis)) and done
            except Exception:
                _log.debug("force_flush failed", exc_info=True)
                done = False
    return done


def _flush_quietly(timeout: float) -> None:
    try:
        flush(timeout)
    except Exception:  # telemetry must never fail the invocation
        _log.debug("bedrock_otel: flush failed", exc_info=True)


def parent_context() -> otel_context.Context:
    """The context of the invocation: Lambda's ``_X_AMZN_TRACE_ID`` when set, else the current one."""
    header = os.environ.get(TRACE_ENV)
    if not header:
        return otel_context.get_current()
    from opentelemetry.propagators.aws import AwsXRayPropagator

    return AwsXRayPropagator().extract({TRACE_HEADER: header})


def _span_attributes(context: Any) -> dict:
    attributes: dict = {"faas.coldstart": not _cold.is_set()}
    request_id = getattr(context, "aws_request_id", None)
    if request_id:
        attributes["faas.invocation_id"] = str(request_id)
    arn = getattr(context, "invoked_function_arn", None)
    if arn:
        attributes["cloud.resource_id"] = str(arn)
        parts = str(arn).split(":")
        if len(parts) > 4 and parts[4]:
            attributes["cloud.account.id"] = parts[4]
    return attributes


@overload
def lambda_handler(func: F) -> F: ...


@overload
def lambda_handler(*, flush_timeout: float = ..., name: Optional[str] = ...) -> Callable[[F], F]: ...


def lambda_handler(func: Optional[F] = None, *, flush_timeout: float = DEFAULT_FLUSH_TIMEOUT,
                   name: Optional[str] = None) -> Union[F, Callable[[F], F]]:
    """Decorate a Lambda handler: a SERVER span continuing ``_X_AMZN_TRACE_ID``, and a flush before returning.

    ``name`` names the span (default: ``AWS_LAMBDA_FUNCTION_NAME``, else the handler's name). Exceptions are
    recorded on the span and re-raised; the flush happens either way, bounded by ``flush_timeout`` seconds.
    """

    def decorate(handler: F) -> F:
        @functools.wraps(handler)
        def wrapper(event: Any, context: Any = None, *args: Any, **kwargs: Any) -> Any:
            try:
                if trace.get_current_span().get_span_context().is_valid:  # another wrapper made the span
                    return handler(event, context, *args, **kwargs)
                tracer = trace.get_tracer(__name__)
                span_name = name or os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or handler.__name__
                with tracer.start_as_current_span(span_name, context=parent_context(), kind=SpanKind.SERVER,
                                                  attributes=_span_attributes(context)):
                    return handler(event, context, *args, **kwargs)
            finally:
                _cold.set()
                _flush_quietly(flush_timeout)

        return wrapper  # type: ignore[return-value]

    return decorate(func) if func is not None else decorate


def flush_on_return(func: Optional[F] = None, *, timeout: float = DEFAULT_FLUSH_TIMEOUT) -> Union[F, Callable[[F], F]]:
    """Decorate any function (a Lambda handler, a job's entry point) to flush telemetry when it returns or raises."""

    def decorate(wrapped: F) -> F:
        @functools.wraps(wrapped)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return wrapped(*args, **kwargs)
            finally:
                _flush_quietly(timeout)

        return wrapper  # type: ignore[return-value]

    return decorate(func) if func is not None else decorate
