"""Attribution: values (tenant, feature, user …) that land on every Bedrock span inside a scope.

>>> with bedrock_otel.attributes(tenant_id="acme", app_feature="summaries"):
...     client.converse(...)            # span gets tenant.id=acme, app.feature=summaries

Keyword names become attribute names with ``_`` → ``.`` (``tenant_id`` → ``tenant.id``); pass a
mapping for exact names. Scopes nest (inner values win) and follow the code through threads' and
asyncio tasks' own contexts (a ``ContextVar``), so concurrent requests never see each other's values.
Keys in the metric allow-list (default ``tenant.id``; ``instrument(metric_attributes=[...])``) also
go on the metrics, so "tokens by tenant" is one query; keep that list to low-cardinality keys.
"""

from __future__ import annotations

import functools
import inspect
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional, TypeVar, Union

AttributeValue = Union[str, bool, int, float]
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_METRIC_KEYS = frozenset({"tenant.id"})
_EMPTY: Mapping[str, AttributeValue] = MappingProxyType({})
_SCOPED: ContextVar[Mapping[str, AttributeValue]] = ContextVar("bedrock_otel_attributes", default=_EMPTY)


def current_attributes() -> Mapping[str, AttributeValue]:
    """The attribution values in force here (empty mapping when none)."""
    return _SCOPED.get()


def _normalise(values: Optional[Mapping[str, Any]], keywords: Mapping[str, Any]) -> dict:
    merged = dict(values or {})
    merged.update({name.replace("_", "."): value for name, value in keywords.items()})
    for key, value in merged.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"attribute names must be non-empty strings, got {key!r}")
        if not isinstance(value, (str, bool, int, float)):
            raise TypeError(f"attribute {key!r} must be a str, bool, int or float, got {type(value).__name__}")
    return merged


class attributes:
    """Context manager and decorator that puts attribution values on every Bedrock span inside its scope.

    Use it as ``with bedrock_otel.attributes(tenant_id="acme", app_feature="summaries"):`` or as a decorator
    (``@bedrock_otel.attributes(tenant_id="acme")``, sync or async). Keyword names become attribute names with
    ``_`` → ``.`` (``tenant_id`` → ``tenant.id``); pass a mapping for exact names. Values must be str, bool, int
    or float. Scopes nest (inner values win) and follow the code through threads' and asyncio tasks' own
    contexts, so concurrent requests never see each other's values. Keys in the metric allow-list (default
    ``tenant.id``; ``instrument(metric_attributes=[...])``) also go on the metrics: keep that list to
    low-cardinality keys.
    """

    def __init__(self, values: Optional[Mapping[str, Any]] = None, **keywords: Any) -> None:
        self._values = _normalise(values, keywords)
        self._tokens: list = []

    def __enter__(self) -> Mapping[str, AttributeValue]:
        merged = MappingProxyType({**_SCOPED.get(), **self._values})
        token: Token = _SCOPED.set(merged)
        self._tokens.append(token)
        return merged

    def __exit__(self, *exc_info: Any) -> None:
        _SCOPED.reset(self._tokens.pop())

    def __call__(self, func: F) -> F:
        values = self._values
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with attributes(values):
                    return await func(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with attributes(values):
                return func(*args, **kwargs)

        return run  # type: ignore[return-value]


def metric_keys(setting: Any) -> frozenset:
    """Validate the ``metric_attributes`` instrument() argument."""
    if setting is None:
        return DEFAULT_METRIC_KEYS
    if isinstance(setting, str) or not all(isinstance(k, str) and k for k in setting):
        raise ValueError(f"metric_attributes must be a list of attribute names, got {setting!r}")
    return frozenset(setting)
