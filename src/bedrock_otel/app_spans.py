"""App-level spans: mark workflow, agent, task and tool functions so Bedrock calls nest under them.

>>> @bedrock_otel.workflow("answer-ticket")
... def answer(ticket): ...
>>> @bedrock_otel.tool("lookup_order")
... async def lookup(order_id): ...

Spans follow the GenAI conventions (``invoke_workflow``, ``invoke_agent``, ``execute_tool``; tasks,
which the conventions do not name, are INTERNAL spans with ``bedrock_otel.task.name``). Sync,
async and generator functions are supported; an exception marks the span failed and propagates
untouched. :func:`annotate` adds input/output/metadata to the current span.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
from typing import Any, Callable, Dict, Iterator, Optional, TypeVar

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from .telemetry import attributes as A
from .telemetry.errors import error_type
from .version import __version__

F = TypeVar("F", bound=Callable[..., Any])

_KINDS: Dict[str, tuple] = {
    # kind → (span name prefix, gen_ai.operation.name or None, attribute holding the name)
    "workflow": ("invoke_workflow", "invoke_workflow", "gen_ai.workflow.name"),
    "agent": ("invoke_agent", "invoke_agent", "gen_ai.agent.name"),
    "tool": ("execute_tool", "execute_tool", "gen_ai.tool.name"),
    "task": ("task", None, "bedrock_otel.task.name"),
}
MAX_ANNOTATION_LENGTH = 4096


def _tracer() -> trace.Tracer:
    """The tracer of the provider Bedrock is instrumented with, so app and Bedrock spans share a pipeline."""
    from .instrumentor import BedrockInstrumentor

    provider = BedrockInstrumentor().instrument_kwargs.get("tracer_provider")
    return trace.get_tracer("bedrock_otel.app", __version__, provider)


def _start(kind: str, name: str) -> trace.Span:
    prefix, operation, name_key = _KINDS[kind]
    attributes: Dict[str, Any] = {name_key: name, A.GEN_AI_PROVIDER_NAME: A.PROVIDER}
    if operation:
        attributes[A.GEN_AI_OPERATION_NAME] = operation
    return _tracer().start_span(f"{prefix} {name}", kind=SpanKind.INTERNAL, attributes=attributes)


def _fail(span: trace.Span, exc: BaseException) -> None:
    span.set_attribute(A.ERROR_TYPE, error_type(exc))
    span.set_status(StatusCode.ERROR, str(exc)[:1024])


@contextlib.contextmanager
def _scope(kind: str, label: str) -> Iterator[None]:
    """The span around one call: current while it runs, failed by its exception, always ended."""
    span = _start(kind, label)
    try:
        with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
            yield
    except GeneratorExit:  # a generator closed early by its consumer has not failed
        raise
    except BaseException as exc:
        _fail(span, exc)
        raise
    finally:
        span.end()


def _decorator(kind: str, name: Optional[str]) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        label = name or func.__qualname__

        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            async def run_async_gen(*args: Any, **kwargs: Any) -> Any:
                with _scope(kind, label):
                    async for item in func(*args, **kwargs):
                        yield item

            return run_async_gen  # type: ignore[return-value]

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with _scope(kind, label):
                    return await func(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def run_gen(*args: Any, **kwargs: Any) -> Any:
                with _scope(kind, label):
                    yield from func(*args, **kwargs)

            return run_gen  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with _scope(kind, label):
                return func(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate


def workflow(name: Optional[str] = None) -> Callable[[F], F]:
    """An ``invoke_workflow {name}`` span around each call (name defaults to the function's)."""
    return _decorator("workflow", name)


def agent(name: Optional[str] = None) -> Callable[[F], F]:
    """An ``invoke_agent {name}`` span around each call."""
    return _decorator("agent", name)


def tool(name: Optional[str] = None) -> Callable[[F], F]:
    """An ``execute_tool {name}`` span around each call."""
    return _decorator("tool", name)


def task(name: Optional[str] = None) -> Callable[[F], F]:
    """A ``task {name}`` span around each call."""
    return _decorator("task", name)


def annotate(input: Any = None, output: Any = None, **metadata: Any) -> None:
    """Record input, output and metadata on the current span.

    This is content the application chooses to record, so it is written as given (JSON for
    non-strings, cut to 4 KiB); metadata keys become ``bedrock_otel.metadata.<key>``.
    """
    span = trace.get_current_span()
    if not span.is_recording():
        return
    values: Dict[str, Any] = {}
    for key, value in (("bedrock_otel.input", input), ("bedrock_otel.output", output)):
        if value is not None:
            values[key] = _text(value)
    for key, value in metadata.items():
        values[f"bedrock_otel.metadata.{key}"] = value if isinstance(value, (str, bool, int, float)) else _text(value)
    span.set_attributes(values)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_ANNOTATION_LENGTH else text[:MAX_ANNOTATION_LENGTH] + "…[truncated]"
