"""Fail over between AWS regions when Bedrock throttles: us-east-1 first, then us-west-2, ...

>>> bedrock = RegionalFailover.for_regions(["us-east-1", "us-west-2"])
>>> bedrock.converse(modelId="anthropic.claude-3-haiku-20240307-v1:0", messages=[...])

Each regional attempt is an ordinary boto3 call, so bedrock-otel gives it its own CLIENT span with
``aws.region``, ``server.address``/``server.port``, ``aws.retry_attempts`` (botocore's retries inside that
region) and, when it fails, ``error.type`` (``ThrottlingException``). The attempts run inside one
``task bedrock-regional-failover`` span, so a trace shows the throttled region, the failover (a span event)
and the region that answered; the metrics carry ``aws.region`` as well.

Only errors that say "this region cannot serve you right now" fail over (:data:`FAILOVER_CODES`, plus
connection failures); a ValidationException or AccessDeniedException would fail the same way everywhere
and is raised at once.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Sequence

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, EndpointConnectionError
from opentelemetry import trace

import bedrock_otel

FAILOVER_CODES: FrozenSet[str] = frozenset({
    "ThrottlingException",
    "ServiceUnavailableException",
    "ModelNotReadyException",
    "ServiceQuotaExceededException",
})
FAILOVER_EVENT = "bedrock.failover"


def error_code(exc: BaseException) -> Optional[str]:
    """The AWS error code of a botocore ClientError (None for other exceptions)."""
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code")
    return None


class RegionalFailover:
    """Calls Bedrock Runtime in the first region of ``clients``; on a regional failure, the next one.

    ``clients`` are boto3 ``bedrock-runtime`` clients, one per region, in order of preference. Each keeps
    its own botocore retry policy: keep it short (``total_max_attempts`` 1 or 2) so that a throttled region
    is left quickly instead of being retried with back-off for seconds.
    """

    def __init__(self, clients: Sequence[Any], failover_codes: Iterable[str] = FAILOVER_CODES) -> None:
        if not clients:
            raise ValueError("RegionalFailover needs at least one client")
        self.clients: List[Any] = list(clients)
        self.failover_codes = frozenset(failover_codes)

    @classmethod
    def for_regions(cls, regions: Sequence[str], *, attempts_per_region: int = 2, session: Any = None,
                    **client_kwargs: Any) -> RegionalFailover:
        """One ``bedrock-runtime`` client per region, each with ``attempts_per_region`` attempts (standard mode)."""
        session = session or boto3.session.Session()
        config = Config(retries={"mode": "standard", "total_max_attempts": attempts_per_region})
        return cls([session.client("bedrock-runtime", region_name=region, config=config, **client_kwargs)
                    for region in regions])

    @property
    def regions(self) -> List[str]:
        return [client.meta.region_name for client in self.clients]

    def converse(self, **kwargs: Any) -> Dict[str, Any]:
        return self.call("converse", **kwargs)

    def converse_stream(self, **kwargs: Any) -> Dict[str, Any]:
        """Fails over only while opening the stream; an error in the middle of a stream is raised."""
        return self.call("converse_stream", **kwargs)

    def invoke_model(self, **kwargs: Any) -> Dict[str, Any]:
        return self.call("invoke_model", **kwargs)

    @bedrock_otel.task("bedrock-regional-failover")
    def call(self, operation: str, **kwargs: Any) -> Dict[str, Any]:
        """``client.<operation>(**kwargs)`` in each region in turn until one answers."""
        last = len(self.clients) - 1
        for index, client in enumerate(self.clients):
            region = client.meta.region_name
            try:
                result = getattr(client, operation)(**kwargs)
            except (ClientError, EndpointConnectionError, ConnectionError) as exc:
                code = error_code(exc) or type(exc).__name__
                regional = code in self.failover_codes or not isinstance(exc, ClientError)
                if not regional or index == last:
                    raise
                trace.get_current_span().add_event(FAILOVER_EVENT, {
                    "aws.region": region,
                    "error.type": code,
                    "bedrock_otel.failover.next_region": self.clients[index + 1].meta.region_name,
                })
                continue
            bedrock_otel.annotate(served_region=region, failovers=index)
            return result
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
