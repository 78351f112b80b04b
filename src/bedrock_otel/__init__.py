"""OpenTelemetry instrumentation for Amazon Bedrock (boto3 / botocore).

>>> import bedrock_otel
>>> bedrock_otel.instrument()      # uses the global tracer and meter providers

The README shows the three ways to use it: in code, with
``opentelemetry-instrument``, and through the pytest plugin.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .app_spans import agent, annotate, task, tool, workflow
from .attribution import attributes
from .instrumentor import BedrockInstrumentor
from .version import __version__

if TYPE_CHECKING:
    from .aws import Configured, configure

_log = logging.getLogger(__name__)

__all__ = [
    "BedrockInstrumentor",
    "Configured",
    "__version__",
    "agent",
    "annotate",
    "attributes",
    "configure",
    "instrument",
    "task",
    "tool",
    "uninstrument",
    "workflow",
]


def __getattr__(name: str) -> Any:
    """``configure`` loads the SDK and exporters (~50 ms); only apps that call it pay for the import."""
    if name in ("configure", "Configured"):
        from . import aws

        return getattr(aws, name)
    raise AttributeError(f"module 'bedrock_otel' has no attribute {name!r}")


def instrument(**kwargs: Any) -> BedrockInstrumentor:
    """Instrument Bedrock calls; keyword arguments go to :meth:`BedrockInstrumentor.instrument`.

    Calling it again (or after ``configure()``, which instruments too) changes nothing; arguments that
    differ from the active ones are ignored with a warning naming them, since silently keeping the old
    providers or content settings would be the worse surprise.
    """
    instrumentor = BedrockInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        active = instrumentor.instrument_kwargs
        ignored = sorted(key for key, value in kwargs.items()
                         if key not in active or (active[key] is not value and active[key] != value))
        if ignored:
            _log.warning("bedrock-otel is already instrumented (by configure() or an earlier instrument()); "
                         "ignoring %s. Call bedrock_otel.uninstrument() first to change them.", ", ".join(ignored))
        return instrumentor
    instrumentor.instrument(**kwargs)
    return instrumentor


def uninstrument() -> None:
    """Undo :func:`instrument`: botocore behaves exactly as before."""
    BedrockInstrumentor().uninstrument()
