"""What an instrumented API operation must say: its request attributes and how its result ends.

Each Bedrock API family is a small :class:`Operation` in its own module; the shared core in
:mod:`bedrock_otel.calls` does the span, context and error handling for all of them.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

from ..telemetry.invocation import Invocation, Telemetry


class Prepared:
    """What an operation learned from the request before the call."""

    __slots__ = ("attributes", "content_source", "model", "operation", "state", "target")

    def __init__(self, operation: str, model: Optional[str], attributes: Dict[str, Any], state: Any = None,
                 target: Optional[str] = None) -> None:
        self.operation = operation  # gen_ai.operation.name
        self.model = model  # gen_ai.request.model, exactly as the application gave it; None: no model named
        self.attributes = attributes
        self.state = state  # operation-private, handed back to complete()
        # What the span name names after the operation: the model, or the agent / knowledge base / flow /
        # guardrail a call without a model targets; None names the span by the operation alone.
        self.target = target if target is not None else model
        # (content reader, request) for content capture; set by prepare() only when capture is on.
        self.content_source: Optional[Tuple[Any, Any]] = None


class Operation:
    service: str = "bedrock-runtime"
    method: str = ""
    streaming: bool = False
    #: gen_ai.operation.name when the request cannot be read at all (the span still says what failed)
    fallback_operation: str = "generate_content"

    def prepare(self, params: Mapping[str, Any], telemetry: Telemetry) -> Prepared:
        raise NotImplementedError

    def complete(self, inv: Invocation, result: Dict[str, Any], prepared: Prepared,
                 telemetry: Telemetry) -> bool:
        """Parse ``result``; return False if the invocation must stay open (body or stream pending)."""
        raise NotImplementedError


_OPERATIONS: Dict[Tuple[str, str], Operation] = {}


def register(operation: Operation) -> Operation:
    _OPERATIONS[(operation.service, operation.method)] = operation
    return operation


def lookup(service: str, method: str) -> Optional[Operation]:
    return _OPERATIONS.get((service, method))


def services() -> frozenset:
    return frozenset(service for service, _ in _OPERATIONS)


def model_param(params: Mapping[str, Any]) -> str:
    model = params.get("modelId")
    return model if isinstance(model, str) else "unknown"
