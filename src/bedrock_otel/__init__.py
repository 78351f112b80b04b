"""OpenTelemetry instrumentation for Amazon Bedrock (boto3 / botocore).

>>> import bedrock_otel
>>> bedrock_otel.instrument()      # uses the global tracer and meter providers

The README shows the three ways to use it: in code, with
``opentelemetry-instrument``, and through the pytest plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .app_spans import agent, annotate, task, tool, workflow
from .attribution import attributes
from .instrumentor import BedrockInstrumentor
from .version import __version__

if TYPE_CHECKING:
    from .aws import Configured, configure

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
    """Instrument Bedrock calls; keyword arguments go to :meth:`BedrockInstrumentor.instrument`."""
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(**kwargs)
    return instrumentor


def uninstrument() -> None:
    """Undo :func:`instrument`: botocore behaves exactly as before."""
    BedrockInstrumentor().uninstrument()
