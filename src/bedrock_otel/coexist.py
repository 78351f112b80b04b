"""Living beside ``opentelemetry-instrumentation-botocore``: one GenAI span per Bedrock call.

Decision: bedrock-otel takes over. While we are instrumented, the botocore instrumentation's
extension table maps the Bedrock services to an extension that declines to trace, so its wrapper
passes Bedrock calls straight through (still injecting the X-Ray header) and ours makes the only
span. Every other AWS service keeps botocore's spans. This works in either instrumentation order,
because botocore's registry reads the table at call time. Uninstrumenting restores the table.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Iterable, List, Tuple

_log = logging.getLogger(__name__)
_TABLES = ("_BOTOCORE_EXTENSIONS", "_AIOBOTOCORE_EXTENSIONS")
_MISSING = object()


def take_over_botocore(services: Iterable[str]) -> Callable[[], None]:
    """Silence botocore's Bedrock extensions for ``services``; returns the function that undoes it."""
    try:
        from opentelemetry.instrumentation.botocore import extensions
        from opentelemetry.instrumentation.botocore.extensions.types import _AwsSdkExtension
    except Exception:  # not installed, or its layout changed
        return _nothing

    class _DeferToBedrockOtel(_AwsSdkExtension):
        """bedrock-otel instruments this service; botocore's wrapper should pass the call through."""

        def should_trace_service_call(self) -> bool:
            return False

    def loader() -> type:
        return _DeferToBedrockOtel

    saved: List[Tuple[Dict[str, Any], str, Any]] = []
    for name in _TABLES:
        table = getattr(extensions, name, None)
        if not isinstance(table, dict):
            continue
        for service in services:
            saved.append((table, service, table.get(service, _MISSING)))
            table[service] = loader
    if not saved:
        _log.warning("bedrock-otel: cannot reach the botocore instrumentation's extension table; "
                     "with both active, Bedrock calls may get two spans")

    def restore() -> None:
        for table, service, previous in reversed(saved):
            if previous is _MISSING:
                table.pop(service, None)
            else:
                table[service] = previous
        saved.clear()

    return restore


def _nothing() -> None:
    return None
