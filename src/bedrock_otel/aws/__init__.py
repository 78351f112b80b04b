"""AWS set-up: :func:`configure` (X-Ray ids and propagation, AWS resource, OTLP export, GenAI views) and the
``opentelemetry-instrument`` entry points in :mod:`bedrock_otel.aws.auto`."""

from __future__ import annotations

from .configure import Configured, configure, genai_views

__all__ = ["Configured", "configure", "genai_views"]
