"""Run the support agent offline against the embedded fake Bedrock and print its telemetry.

    python examples/agent-app/run_local.py

Asks two questions: one the agent answers after handing ``check_order_status`` back to the app (return of
control), and one the guardrail blocks. Prints each answer, the trace tree (app spans, Bedrock CLIENT
spans, and the agent's own steps as INTERNAL child spans) and the token metrics by model.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, List

import bedrock_otel
from bedrock_otel.testing import AgentStep, Capture, FakeBedrock, Reply

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support_agent import SupportAssistant

AGENT_ID, ALIAS_ID, GUARDRAIL_ID = "SUPPORT001", "PRODALIAS1", "gr-support"


def script(fake: FakeBedrock) -> None:
    """What the fake agent does for the first question: think, look the policy up, hand the order tool back."""
    fake.enqueue(Reply.agent(
        AgentStep.model_call(),
        AgentStep.knowledge_base("KBPOLICY01", results=2),
        AgentStep.model_call(),
        AgentStep.tool("check_order_status", "Orders", return_control=True, parameters={"order_id": "A-1001"}),
    ), operation="InvokeAgent")  # the guardrail call before it gets the fake's default answer


def print_tree(spans: List[Any]) -> None:
    children: Dict[Any, List[Any]] = {}
    for span in sorted(spans, key=lambda s: s.start_time):
        children.setdefault(span.parent.span_id if span.parent else None, []).append(span)
    shown = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "aws.bedrock.guardrail.action",
             "aws.bedrock.agent.execution_type", "bedrock_otel.response.document.count")

    def walk(parent: Any, depth: int) -> None:
        for span in children.get(parent, []):
            attrs = {k.rsplit(".", 1)[-1]: span.attributes[k] for k in shown if k in span.attributes}
            events = f" events={[e.name for e in span.events]}" if span.events else ""
            print(f"{'  ' * depth}{span.name} [{span.kind.name}] {attrs or ''}{events}")
            walk(span.context.span_id, depth + 1)

    walk(None, 0)


def main() -> int:
    capture = Capture()
    bedrock_otel.instrument(tracer_provider=capture.spans.provider, meter_provider=capture.metrics.provider)
    try:
        with FakeBedrock() as fake:
            fake.event_delay = 0.005  # events arrive over time, as from the real service
            assistant = SupportAssistant(fake.client(service_name="bedrock-agent-runtime"), fake.client(),
                                         AGENT_ID, ALIAS_ID, guardrail_id=GUARDRAIL_ID)
            script(fake)
            first = assistant.ask("Where is my order A-1001?", session_id="customer-42")
            second = assistant.ask("Tell me something forbidden", session_id="customer-42")
        print(f"answer 1: {first.text!r} (tools run by the app: {first.tool_calls})")
        print(f"answer 2: {second.text!r} (blocked: {second.blocked})\n")
        print_tree(capture.spans.spans)
        print("\ntokens by model (gen_ai.client.token.usage):")
        models = sorted({p.attributes.get("gen_ai.request.model") for p in capture.metrics.points(
            "gen_ai.client.token.usage")})
        for model in models:
            print(f"  {model}: input={capture.metrics.token_usage('input', model=model)} "
                  f"output={capture.metrics.token_usage('output', model=model)}")
    finally:
        bedrock_otel.uninstrument()
        capture.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
