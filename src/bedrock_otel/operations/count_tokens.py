"""CountTokens (bedrock-runtime): a ``count_tokens {modelId}`` CLIENT span.

The GenAI conventions have no operation for counting tokens, so ``gen_ai.operation.name`` is
``count_tokens``. The count goes to ``bedrock_otel.count_tokens.input_tokens``, deliberately not to
``gen_ai.usage.input_tokens`` nor the token-usage metric: nothing was consumed or billed, and tools that
sum ``gen_ai.usage.*`` across spans would otherwise count the prompt twice.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

from ..models.ids import base_model_id
from ..telemetry import attributes as A
from ..telemetry.invocation import Invocation, Telemetry
from .base import Operation, Prepared, model_param, register


class CountTokens(Operation):
    method = "CountTokens"

    def prepare(self, params: Mapping[str, Any], telemetry: Telemetry) -> Prepared:
        model = model_param(params)
        attrs: Dict[str, Any] = {}
        base = base_model_id(model)
        if base:
            attrs[A.MODEL_FAMILY] = base.partition(".")[0]
        return Prepared(A.OPERATION_COUNT_TOKENS, model, attrs)

    def complete(self, inv: Invocation, result: Dict[str, Any], prepared: Prepared,
                 telemetry: Telemetry) -> bool:
        count = result.get("inputTokens")
        if isinstance(count, int) and not isinstance(count, bool) and inv.span.is_recording():
            inv.span.set_attribute(A.COUNT_TOKENS_INPUT_TOKENS, count)
        return True


register(CountTokens())
