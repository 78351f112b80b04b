"""StartAsyncInvoke / GetAsyncInvoke (bedrock-runtime): submitting and polling an asynchronous generation.

Each is its own short CLIENT span; the job itself runs server-side for minutes, so its duration is not a
client operation's. The invocation ARN ties the two together: ``aws.bedrock.async_invoke.arn`` on both,
the job's ``aws.bedrock.async_invoke.status`` on polls, and ``aws.bedrock.async_invoke.duration`` (from
submission to end) once it has ended. Operation names (the conventions have none): ``start_async_invoke``
and ``get_async_invoke``; only the former names a model.
"""

from __future__ import annotations

import datetime
from typing import Any, Dict, Mapping, Optional

from ..telemetry import attributes as A
from ..telemetry.invocation import Invocation, Telemetry
from .base import Operation, Prepared, model_param, register


def _text(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def _output_uri(config: Any) -> Dict[str, Any]:
    s3 = config.get("s3OutputDataConfig") if isinstance(config, Mapping) else None
    uri = s3.get("s3Uri") if isinstance(s3, Mapping) else None
    return {A.ASYNC_INVOKE_OUTPUT_URI: uri} if _text(uri) else {}


def _set(inv: Invocation, attrs: Mapping[str, Any]) -> None:
    if attrs and inv.span.is_recording():
        inv.span.set_attributes(attrs)


class StartAsyncInvoke(Operation):
    method = "StartAsyncInvoke"

    def prepare(self, params: Mapping[str, Any], telemetry: Telemetry) -> Prepared:
        attrs = _output_uri(params.get("outputDataConfig"))
        return Prepared(A.OPERATION_START_ASYNC_INVOKE, model_param(params), attrs)

    def complete(self, inv: Invocation, result: Dict[str, Any], prepared: Prepared,
                 telemetry: Telemetry) -> bool:
        arn = _text(result.get("invocationArn"))
        _set(inv, {A.ASYNC_INVOKE_ARN: arn} if arn else {})
        return True


class GetAsyncInvoke(Operation):
    method = "GetAsyncInvoke"

    def prepare(self, params: Mapping[str, Any], telemetry: Telemetry) -> Prepared:
        arn = _text(params.get("invocationArn"))
        return Prepared(A.OPERATION_GET_ASYNC_INVOKE, None, {A.ASYNC_INVOKE_ARN: arn} if arn else {}, target="")

    def complete(self, inv: Invocation, result: Dict[str, Any], prepared: Prepared,
                 telemetry: Telemetry) -> bool:
        attrs: Dict[str, Any] = _output_uri(result.get("outputDataConfig"))
        if _text(result.get("status")):
            attrs[A.ASYNC_INVOKE_STATUS] = result["status"]
        model = _text(result.get("modelArn"))
        if model:
            inv.outcome.response_model = model
        submitted, ended = result.get("submitTime"), result.get("endTime")
        if isinstance(submitted, datetime.datetime) and isinstance(ended, datetime.datetime):
            attrs[A.ASYNC_INVOKE_DURATION] = max((ended - submitted).total_seconds(), 0.0)
        _set(inv, attrs)
        return True


register(StartAsyncInvoke())
register(GetAsyncInvoke())
