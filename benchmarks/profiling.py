"""cProfile of bedrock-otel's own hot path, on the stub transport, for the report's "hot spots".

Two views per operation, in microseconds per call (cProfile inflates absolute times; compare
rows with each other, not with the timings above):

* bedrock-otel functions by cumulative time;
* what bedrock-otel calls outside itself (OpenTelemetry SDK, json, threading …), attributed to the
  bedrock-otel caller, by cumulative time spent under that caller.
"""

from __future__ import annotations

import cProfile
import pstats
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

from .contenders import BedrockOtel
from .measure import CONVERSE, CONVERSE_STREAM, INVOKE_MODEL, INVOKE_STREAM, call_for

_OURS = "bedrock_otel"

Func = Tuple[str, int, str]


@dataclass
class Profile:
    operation: str
    calls: int
    ours: List[Tuple[str, float, float]] = field(default_factory=list)  # name, cumulative µs/call, self µs/call
    external: List[Tuple[str, str, float]] = field(default_factory=list)  # caller, callee, cumulative µs/call


def _name(func: Func) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    path = filename.replace("\\", "/")
    marker = path.rfind("/" + _OURS + "/")
    if marker >= 0:
        module = path[marker + 1:].removesuffix(".py").replace("/", ".")
    else:
        parts = path.removesuffix(".py").split("/")
        module = ".".join(parts[-2:]) if "site-packages" in path or "lib/python" in path else parts[-1]
    return f"{module}:{line}({name})"


def _is_ours(func: Func) -> bool:
    return f"/{_OURS}/" in func[0].replace("\\", "/") and "/testing/" not in func[0]


def profile_operation(client: Any, operation: str, calls: int, top: int = 8) -> Profile:
    call = call_for(operation)
    for _ in range(max(calls // 10, 1)):
        call(client)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        call(client)
    profiler.disable()
    stats: Dict[Func, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    result = Profile(operation, calls)
    scale = 1e6 / calls
    ours = [(func, data) for func, data in stats.items() if _is_ours(func)]
    ours.sort(key=lambda item: item[1][3], reverse=True)
    result.ours = [(_name(func), data[3] * scale, data[2] * scale) for func, data in ours[:top]]
    external: List[Tuple[str, str, float]] = []
    for func, data in stats.items():
        if _is_ours(func):
            continue
        for caller, caller_data in data[4].items():
            if _is_ours(caller):
                external.append((_name(caller), _name(func), caller_data[3] * scale))
    external.sort(key=lambda item: item[2], reverse=True)
    result.external = external[:top]
    return result


def profile_bedrock_otel(transport: Any, unary_calls: int = 300, stream_calls: int = 3) -> List[Profile]:
    contender = BedrockOtel()
    client = transport.client()
    contender.instrument()
    try:
        return [
            profile_operation(client, CONVERSE, unary_calls),
            profile_operation(client, INVOKE_MODEL, unary_calls),
            profile_operation(client, CONVERSE_STREAM, stream_calls),
            profile_operation(client, INVOKE_STREAM, stream_calls),
        ]
    finally:
        contender.uninstrument()
