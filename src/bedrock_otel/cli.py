"""``bedrock-otel`` command line: ``demo`` runs real boto3 calls against the embedded fake Bedrock."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any, Dict, List, Optional, Sequence

from opentelemetry.sdk.trace import ReadableSpan

from .instrumentor import BedrockInstrumentor
from .testing.capture import Capture
from .version import __version__

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "us.amazon.nova-lite-v1:0"
TITAN = "amazon.titan-text-express-v1"


def _user(text: str) -> List[Dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def run_demo_calls(client: Any, fake: Any) -> None:
    """One call of each instrumented kind, plus a throttled one, as an application would make them."""
    from botocore.exceptions import ClientError

    from .testing.fake_server import Reply

    client.converse(modelId=CLAUDE, messages=_user("What is OpenTelemetry?"),
                    inferenceConfig={"maxTokens": 200, "temperature": 0.2})
    stream = client.converse_stream(modelId=NOVA, messages=_user("Write a haiku about tracing"))
    for _ in stream["stream"]:
        pass
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                       "messages": [{"role": "user", "content": "Summarise the incident report"}]})
    client.invoke_model(modelId=CLAUDE, body=body)["body"].read()
    titan = json.dumps({"inputText": "Explain token usage in one sentence",
                        "textGenerationConfig": {"maxTokenCount": 64, "temperature": 0.5}})
    response = client.invoke_model_with_response_stream(modelId=TITAN, body=titan)
    for _ in response["body"]:
        pass
    fake.enqueue(Reply.throttle())
    with contextlib.suppress(ClientError):  # the app handles it; the span records it
        client.converse(modelId=CLAUDE, messages=_user("This one is throttled"))


def render_tree(spans: Sequence[ReadableSpan]) -> str:
    by_parent: Dict[Optional[int], List[ReadableSpan]] = {}
    ids = {s.context.span_id for s in spans}
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        parent = span.parent.span_id if span.parent and span.parent.span_id in ids else None
        by_parent.setdefault(parent, []).append(span)
    lines: List[str] = []

    def walk(parent: Optional[int], depth: int) -> None:
        for span in by_parent.get(parent, []):
            ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
            status = span.status.status_code.name
            lines.append(f"{'  ' * depth}{'└─ ' if depth else ''}{span.name}  [{ms:.1f} ms, {status}]")
            walk(span.context.span_id, depth + 1)

    walk(None, 0)
    if spans:
        lines.insert(0, f"trace {spans[0].context.trace_id:032x}")
    return "\n".join(lines)


def render_table(spans: Sequence[ReadableSpan]) -> str:
    header = ("operation", "method", "model", "in", "out", "ms", "ttfc ms", "finish", "error")
    rows = [header]
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        a = span.attributes or {}
        if "gen_ai.operation.name" not in a:
            continue
        ttfc = a.get("gen_ai.response.time_to_first_chunk")
        rows.append((
            str(a.get("gen_ai.operation.name")), str(a.get("rpc.method", "")), str(a.get("gen_ai.request.model")),
            str(a.get("gen_ai.usage.input_tokens", "-")), str(a.get("gen_ai.usage.output_tokens", "-")),
            f"{((span.end_time or 0) - (span.start_time or 0)) / 1e6:.1f}",
            "-" if ttfc is None else f"{ttfc * 1000:.1f}",
            ",".join(a.get("gen_ai.response.finish_reasons", ())) or "-", str(a.get("error.type", "-")),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def demo(args: argparse.Namespace) -> int:
    from .testing.fake_server import FakeBedrock

    capture = Capture()
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(tracer_provider=capture.spans.provider, meter_provider=capture.metrics.provider)
    try:
        with FakeBedrock() as fake:
            fake.event_delay = args.event_delay
            client = fake.client()
            tracer = capture.spans.provider.get_tracer("bedrock-otel-demo")
            with tracer.start_as_current_span("demo app request"):
                run_demo_calls(client, fake)
    finally:
        instrumentor.uninstrument()
    spans = capture.spans.spans
    print(f"bedrock-otel {__version__} demo: {len(spans) - 1} Bedrock calls against the embedded fake Bedrock\n")
    print(render_tree(spans))
    print()
    print(render_table(spans))
    print()
    print("metrics:")
    for name in capture.metrics.names():
        points = capture.metrics.points(name)
        print(f"  {name}: {sum(p.count for p in points)} measurements, {len(points)} series")
    print(f"  tokens: input={capture.metrics.token_usage('input')} output={capture.metrics.token_usage('output')}")
    unfinished = capture.spans.unfinished
    capture.shutdown()
    if unfinished:
        print(f"error: {len(unfinished)} spans never ended", file=sys.stderr)
        return 1
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="bedrock-otel", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo_parser = sub.add_parser("demo", help="make instrumented calls to an embedded fake Bedrock and print "
                                               "the trace tree and token/latency table")
    demo_parser.add_argument("--event-delay", type=float, default=0.01,
                             help="seconds between stream events (makes time-to-first-chunk visible)")
    demo_parser.set_defaults(func=demo)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
