"""The contenders: no instrumentation, bedrock-otel, and the two upstream Bedrock instrumentations.

Each is a ``BaseInstrumentor`` singleton, so they take turns in one process: instrument, measure,
uninstrument, and check that botocore is left exactly as it was before the next one runs.
"""

from __future__ import annotations

import importlib
import logging
from importlib import metadata
from typing import Any, Dict, List, Optional, Tuple

from .sdk import Sdk

_log = logging.getLogger(__name__)

NONE = "none"
BEDROCK_OTEL = "bedrock-otel"
BOTOCORE = "botocore"
GENAI_BEDROCK = "genai-bedrock"
BEDROCK_OTEL_NOOP = "bedrock-otel:no-op-sdk"
BEDROCK_OTEL_CHUNK_GAPS = "bedrock-otel:chunk-gaps"


def _version(distribution: str) -> Optional[str]:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


class Contender:
    """One way of instrumenting Bedrock calls; ``available`` is False (with ``reason``) when not installed."""

    key: str = NONE
    label: str = "uninstrumented boto3"
    distribution: Optional[str] = None
    #: a diagnostic variant: measured for explanation, never a competitor
    diagnostic: bool = False
    #: what the span-check column says for a diagnostic variant that makes no spans (None: check as usual)
    diagnostic_note: Optional[str] = None
    #: measured on streams only (an option that changes nothing for unary calls)
    streams_only: bool = False

    def __init__(self) -> None:
        self.version = _version(self.distribution) if self.distribution else None
        self.reason = ""
        self.available = True
        try:
            self._load()
        except Exception as exc:  # not installed, or an incompatible layout
            self.available = False
            self.reason = f"{type(exc).__name__}: {exc}"
        self.sdk = Sdk() if self.instrumented else None

    @property
    def instrumented(self) -> bool:
        return self.key != NONE

    @property
    def title(self) -> str:
        return f"{self.key} {self.version}" if self.version else self.key

    def _load(self) -> None:
        return None

    def instrument(self, asynchronous: bool = False) -> None:
        return None

    def uninstrument(self, asynchronous: bool = False) -> None:
        return None


class BedrockOtel(Contender):
    key = BEDROCK_OTEL
    label = "bedrock-otel (this package)"
    distribution = "bedrock-otel"
    #: extra ``instrument()`` keyword arguments (``python -m benchmarks --option NAME=JSON``)
    options: Dict[str, Any] = {}

    def _load(self) -> None:
        from bedrock_otel import BedrockInstrumentor

        self._instrumentor = BedrockInstrumentor()

    def instrument(self, asynchronous: bool = False) -> None:
        assert self.sdk is not None
        self._instrumentor.instrument(**self.options, **self.sdk.kwargs())

    def uninstrument(self, asynchronous: bool = False) -> None:
        self._instrumentor.uninstrument()


class BedrockOtelNoopSdk(BedrockOtel):
    """bedrock-otel with no-op tracer and meter providers: the cost of its own code, without SDK work."""

    key = BEDROCK_OTEL_NOOP
    label = "diagnostic — bedrock-otel with no-op tracer/meter providers (its own code only, no SDK work)"
    diagnostic = True
    diagnostic_note = "diagnostic: no-op SDK makes no spans"

    def instrument(self, asynchronous: bool = False) -> None:
        from opentelemetry.metrics import NoOpMeterProvider
        from opentelemetry.trace import NoOpTracerProvider

        self._instrumentor.instrument(**self.options, tracer_provider=NoOpTracerProvider(),
                                      meter_provider=NoOpMeterProvider())


class BedrockOtelChunkGaps(BedrockOtel):
    """bedrock-otel with the opt-in per-chunk gap metric: what turning it on costs a stream."""

    key = BEDROCK_OTEL_CHUNK_GAPS
    label = ("diagnostic — bedrock-otel with `instrument(chunk_gap_metrics=True)` (one "
             "`gen_ai.client.operation.time_per_output_chunk` record per chunk; streams only)")
    diagnostic = True
    streams_only = True

    def instrument(self, asynchronous: bool = False) -> None:
        assert self.sdk is not None
        self._instrumentor.instrument(**{**self.options, "chunk_gap_metrics": True}, **self.sdk.kwargs())


class Botocore(Contender):
    """``opentelemetry-instrumentation-botocore``: its Bedrock extension (BotocoreInstrumentor).

    For aiobotocore the same package offers ``AiobotocoreInstrumentor``, which is what an async
    application would use; it has no Bedrock extension in 0.66b2, so it makes generic AWS spans.
    """

    key = BOTOCORE
    label = "opentelemetry-instrumentation-botocore (Bedrock extension)"
    distribution = "opentelemetry-instrumentation-botocore"

    def _load(self) -> None:
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

        self._sync = BotocoreInstrumentor()
        try:
            from opentelemetry.instrumentation.botocore import AiobotocoreInstrumentor
        except ImportError:
            self._async: Any = None
        else:
            self._async = AiobotocoreInstrumentor()

    def _pick(self, asynchronous: bool) -> Any:
        return self._async if asynchronous else self._sync

    def instrument(self, asynchronous: bool = False) -> None:
        assert self.sdk is not None
        instrumentor = self._pick(asynchronous)
        if instrumentor is not None:
            instrumentor.instrument(**self.sdk.kwargs())

    def uninstrument(self, asynchronous: bool = False) -> None:
        instrumentor = self._pick(asynchronous)
        if instrumentor is not None:
            instrumentor.uninstrument()


class GenaiBedrock(Contender):
    """``opentelemetry-instrumentation-genai-bedrock``: the GenAI SIG's, built on opentelemetry-util-genai."""

    key = GENAI_BEDROCK
    label = "opentelemetry-instrumentation-genai-bedrock (util-genai)"
    distribution = "opentelemetry-instrumentation-genai-bedrock"

    def _load(self) -> None:
        module = importlib.import_module("opentelemetry.instrumentation.genai.bedrock")
        self._instrumentor = module.BedrockInstrumentor()

    def instrument(self, asynchronous: bool = False) -> None:
        assert self.sdk is not None
        self._instrumentor.instrument(**self.sdk.kwargs())

    def uninstrument(self, asynchronous: bool = False) -> None:
        self._instrumentor.uninstrument()


def all_contenders(diagnostic: bool = False) -> List[Contender]:
    remember_originals()
    everyone = [Contender(), BedrockOtel(), Botocore(), GenaiBedrock()]
    return [*everyone, BedrockOtelNoopSdk(), BedrockOtelChunkGaps()] if diagnostic else everyone


def by_key(key: str) -> Contender:
    for cls in (Contender, BedrockOtel, Botocore, GenaiBedrock, BedrockOtelNoopSdk, BedrockOtelChunkGaps):
        if cls.key == key:
            return cls()
    raise KeyError(key)


def _patch_targets() -> List[Tuple[type, str]]:
    import botocore.client
    import botocore.endpoint

    targets = [(botocore.client.BaseClient, "_make_api_call"), (botocore.endpoint.Endpoint, "prepare_request")]
    try:
        import aiobotocore.client
    except ImportError:
        pass
    else:
        targets.append((aiobotocore.client.AioBaseClient, "_make_api_call"))
    return targets


_ORIGINALS: Dict[Tuple[type, str], Any] = {}


def remember_originals() -> None:
    """Note the methods the contenders patch, before any of them runs."""
    for owner, name in _patch_targets():
        _ORIGINALS.setdefault((owner, name), vars(owner).get(name))


def assert_pristine() -> None:
    """Raise if a method some contender patches is not the original any more."""
    for (owner, name), original in _ORIGINALS.items():
        if vars(owner).get(name) is not original:
            raise RuntimeError(f"{owner.__qualname__}.{name} is still patched after uninstrument()")
