"""Run the failover example offline: two fake Bedrock "regions", the first one throttling.

    python examples/multi-region-failover/run_local.py

Prints the trace tree (one trace: workflow → failover task → one Bedrock span per region) and the
duration / token metrics by region.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, List

import bedrock_otel
from bedrock_otel.testing import Capture, FakeBedrock, Reply

sys.path.insert(0, str(Path(__file__).resolve().parent))
from failover import RegionalFailover

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


@bedrock_otel.workflow("answer-question")
def answer(bedrock: RegionalFailover, question: str) -> str:
    response = bedrock.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": question}]}])
    return response["output"]["message"]["content"][0]["text"]


def print_tree(spans: List[Any]) -> None:
    children: Dict[Any, List[Any]] = {}
    for span in sorted(spans, key=lambda s: s.start_time):
        children.setdefault(span.parent.span_id if span.parent else None, []).append(span)
    shown = ("aws.region", "server.port", "aws.retry_attempts", "error.type", "gen_ai.usage.input_tokens",
             "gen_ai.usage.output_tokens", "bedrock_otel.metadata.served_region", "bedrock_otel.metadata.failovers")

    def walk(parent: Any, depth: int) -> None:
        for span in children.get(parent, []):
            attrs = {k: span.attributes[k] for k in shown if k in span.attributes}
            events = [e.name for e in span.events]
            print(f"{'  ' * depth}{span.name}  {attrs}{'  events=' + str(events) if events else ''}")
            walk(span.context.span_id, depth + 1)

    walk(None, 0)


def main() -> int:
    capture = Capture()
    bedrock_otel.instrument(tracer_provider=capture.spans.provider, meter_provider=capture.metrics.provider)
    try:
        with FakeBedrock() as east, FakeBedrock() as west:
            east.enqueue(Reply.throttle(), Reply.throttle())  # both of us-east-1's attempts are throttled
            bedrock = RegionalFailover([
                east.client(region_name="us-east-1", retries={"total_max_attempts": 2}),
                west.client(region_name="us-west-2", retries={"total_max_attempts": 2}),
            ])
            text = answer(bedrock, "What is the capital of France?")
        print(f"answer: {text!r}\n")
        print(f"trace ids: {sorted({format(s.context.trace_id, '032x') for s in capture.spans.spans})}")
        print_tree(capture.spans.spans)
        print("\nmetrics by region:")
        for region in ("us-east-1", "us-west-2"):
            points = capture.metrics.points("gen_ai.client.operation.duration", region=region)
            errors = sorted({p.attributes.get("error.type", "-") for p in points})
            print(f"  {region}: calls={sum(p.count for p in points)} error.type={errors} "
                  f"input_tokens={capture.metrics.token_usage('input', region=region)} "
                  f"output_tokens={capture.metrics.token_usage('output', region=region)}")
    finally:
        bedrock_otel.uninstrument()
        capture.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
