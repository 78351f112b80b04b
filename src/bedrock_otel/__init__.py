"""OpenTelemetry instrumentation for Amazon Bedrock (boto3 / botocore).

>>> import bedrock_otel
>>> bedrock_otel.instrument()      # uses the global tracer and meter providers

The README shows the three ways to use it: in code, with
``opentelemetry-instrument``, and through the pytest plugin.
"""

from __future__ import annotations

from typing import Any

from .instrumentor import BedrockInstrumentor
from .version import __version__

__all__ = ["BedrockInstrumentor", "__version__", "instrument", "uninstrument"]


def instrument(**kwargs: Any) -> BedrockInstrumentor:
    """Instrument Bedrock calls; keyword arguments go to :meth:`BedrockInstrumentor.instrument`."""
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(**kwargs)
    return instrumentor


def uninstrument() -> None:
    """Undo :func:`instrument`: botocore behaves exactly as before."""
    BedrockInstrumentor().uninstrument()
