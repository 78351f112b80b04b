"""AWS set-up: :func:`configure` (X-Ray ids and propagation, AWS resource, OTLP export, GenAI views) and the
``opentelemetry-instrument`` entry points in :mod:`bedrock_otel.aws.auto`."""

from __future__ import annotations

from .configure import Configured, configure, configured, genai_views
from .lambda_ import flush_on_return, lambda_handler

__all__ = ["Configured", "configure", "configured", "flush_on_return", "genai_views", "lambda_handler"]
