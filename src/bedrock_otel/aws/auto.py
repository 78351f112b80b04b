"""Entry-point classes so ``opentelemetry-instrument python app.py`` gets :func:`configure` with no code.

* ``BedrockConfigurator`` (group ``opentelemetry_configurator``, name ``bedrock_otel``) runs
  :func:`configure` from the ``OTEL_*`` variables. It does not instrument: auto-instrumentation then loads
  every ``opentelemetry_instrumentor`` entry point, Bedrock's included, onto the providers set here, and
  honours ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``.
* ``BedrockDistro`` (group ``opentelemetry_distro``, name ``bedrock_otel``) makes that configurator the
  one used: auto-instrumentation loads only one configurator, and which one is arbitrary when several
  packages (opentelemetry-distro, for one) register one.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

ENTRY_POINT_NAME = "bedrock_otel"


class BedrockConfigurator:
    """``opentelemetry_configurator`` entry point: ``configure()`` from the environment, without instrumenting."""

    def configure(self, **kwargs: Any) -> None:
        from .configure import configure_with

        configure_with({"instrument": False}, origin="opentelemetry-instrument (BedrockConfigurator)")


class BedrockDistro(BaseDistro):  # type: ignore[misc]
    """``opentelemetry_distro`` entry point: selects :class:`BedrockConfigurator` unless told otherwise."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", ENTRY_POINT_NAME)
