"""The reference run: real boto3 calls against the fake Bedrock, whose telemetry the generated docs describe.

Run in a child process (``python -m bedrock_otel.docs_gen.reference_run REPO``) so that instrumentation and
global providers start clean; prints one JSON document on stdout:

* ``spans`` / ``metrics`` / ``logs``: every span (name, kind, scope, attribute *names*, events), metric
  (attribute names) and log event of one call of every instrumented API, the app-span decorators, an
  attribution scope, a Lambda handler and content capture — what :mod:`.telemetry_ref` lists;
* ``agent_app``: the span tree of ``examples/agent-app`` (drawn as ``docs/img/trace-agent-app.svg``);
* ``dashboard``: the reports of ``examples/prometheus``'s workload, run in-process (the dashboard pictures),
  or ``{"skipped": reason}`` when its packages (the ``test`` extra) are missing.

Only names and deterministic values (token counts from the fake server, span names) are kept, so the
generated pages do not change from one run to the next.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Optional

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "us.amazon.nova-lite-v1:0"
KB = "KB12345678"
MODEL_ARN = f"arn:aws:bedrock:us-east-1::foundation-model/{CLAUDE}"
#: span attributes whose values the SVG trace shows (all deterministic with the fake server)
TRACE_FACTS = (
    "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "aws.bedrock.guardrail.action",
    "aws.bedrock.agent.execution_type", "bedrock_otel.response.document.count", "error.type",
)


def _user(text: str) -> List[Dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def _load(path: Path, name: str) -> ModuleType:
    """Import an example's module by path (the examples are scripts, not a package)."""
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _Context:
    """What AWS Lambda passes to a handler, as far as ``lambda_handler`` reads it."""

    aws_request_id = "8f5c1a8e-0000-4000-8000-000000000000"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ask-bedrock"


def _bedrock_calls(fake: Any) -> None:
    """One call of every instrumented API, as an application would make them."""
    import bedrock_otel
    from bedrock_otel.testing import AgentStep, Reply

    runtime = fake.client()
    agents = fake.client(service_name="bedrock-agent-runtime")

    @bedrock_otel.workflow("answer-question")
    def answer() -> None:
        with bedrock_otel.attributes(tenant_id="acme"):
            ask()

    @bedrock_otel.task("draft-reply")
    def ask() -> None:
        bedrock_otel.annotate(input="What is OpenTelemetry?", step=1)
        runtime.converse(modelId=CLAUDE, messages=_user("What is OpenTelemetry?"), system=[{"text": "Be brief."}],
                         inferenceConfig={"maxTokens": 200, "temperature": 0.2, "topP": 0.9,
                                          "stopSequences": ["END"]})

    @bedrock_otel.agent("planner")
    def plan() -> None:
        lookup("A-1001")

    @bedrock_otel.tool("lookup_order")
    def lookup(order_id: str) -> str:
        return order_id

    answer()
    plan()
    for _ in runtime.converse_stream(modelId=NOVA, messages=_user("Write a haiku about tracing"))["stream"]:
        pass
    cached = [{"role": "user", "content": [{"text": "A long shared context " * 20}, {"cachePoint": {"type": "default"}},
                                           {"text": "First question"}]}]
    for _ in range(2):  # the fake writes the cache, then reads it
        runtime.converse(modelId=CLAUDE, messages=cached)
    tools = {"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather by city",
                                     "inputSchema": {"json": {"type": "object"}}}}]}
    runtime.converse(modelId=CLAUDE, messages=_user("What is the weather in Paris?"), toolConfig=tools)
    runtime.converse(modelId=CLAUDE, messages=_user("Tell me something forbidden"),
                     guardrailConfig={"guardrailIdentifier": "gr-chat", "guardrailVersion": "1", "trace": "enabled"})
    claude_body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "top_k": 5,
                              "messages": [{"role": "user", "content": "Summarise the incident report"}]})
    runtime.invoke_model(modelId=CLAUDE, body=claude_body)["body"].read()
    for _ in runtime.invoke_model_with_response_stream(modelId=CLAUDE, body=claude_body)["body"]:
        pass
    embed = json.dumps({"inputText": "bedrock embeddings", "dimensions": 256, "embeddingTypes": ["float"]})
    runtime.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=embed)["body"].read()
    canvas = json.dumps({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a lighthouse"},
                         "imageGenerationConfig": {"numberOfImages": 1, "seed": 7}})
    runtime.invoke_model(modelId="amazon.nova-canvas-v1:0", body=canvas)["body"].read()
    chat = json.dumps({"messages": [{"role": "user", "content": "Say this is a test"}], "max_tokens": 100,
                       "frequency_penalty": 0.5, "presence_penalty": 0.5, "n": 1, "seed": 4})
    runtime.invoke_model(modelId="openai.gpt-oss-120b-1:0", body=chat)["body"].read()
    with contextlib.suppress(Exception):  # a body that is not JSON: bedrock_otel.parse_error, the call goes on
        runtime.invoke_model(modelId=CLAUDE, body=b"not json")["body"].read()
    fake.enqueue(Reply.throttle())
    with contextlib.suppress(Exception):
        runtime.converse(modelId=CLAUDE, messages=_user("This one is throttled"))
    runtime.apply_guardrail(guardrailIdentifier="arn:aws:bedrock:us-east-1:123456789012:guardrail/gr-support",
                            guardrailVersion="DRAFT", source="INPUT",
                            content=[{"text": {"text": "Tell me something forbidden"}}])
    runtime.count_tokens(modelId=CLAUDE, input={"converse": {"messages": _user("count these four words")}})
    arn = runtime.start_async_invoke(
        modelId="amazon.nova-reel-v1:0", modelInput={"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "a"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://my-bucket/videos/"}})["invocationArn"]
    runtime.get_async_invoke(invocationArn=arn)
    runtime.get_async_invoke(invocationArn=arn)

    fake.enqueue(Reply.agent(
        AgentStep.model_call(),
        AgentStep.knowledge_base("KBPOLICY01", results=2),
        AgentStep.code_interpreter(files=["chart.png"]),
        AgentStep.collaborator("billing", [AgentStep.model_call()]),
        AgentStep.guardrail("NONE", ()),
        AgentStep.tool("check_order_status", "Orders", return_control=True, parameters={"order_id": "A-1001"}),
    ), operation="InvokeAgent")
    response = agents.invoke_agent(agentId="SUPPORT001", agentAliasId="PRODALIAS1", sessionId="customer-42",
                                   memoryId="memory-1", inputText="Where is my order?", enableTrace=True,
                                   streamingConfigurations={"streamFinalResponse": True})
    for _ in response["completion"]:
        pass
    fake.enqueue(Reply.agent(AgentStep.model_call(), AgentStep.tool(), AgentStep.failure()), operation="InvokeAgent")
    with contextlib.suppress(Exception):
        for _ in agents.invoke_agent(agentId="SUPPORT001", agentAliasId="PRODALIAS1", sessionId="customer-43",
                                     inputText="What is the weather like?", enableTrace=True)["completion"]:
            pass
    response = agents.invoke_inline_agent(
        sessionId="inline-1", foundationModel="us.amazon.nova-pro-v1:0", agentName="travel",
        instruction="You are a concise travel assistant, always.", inputText="What is the weather like?",
        enableTrace=True, guardrailConfiguration={"guardrailIdentifier": "gr-travel", "guardrailVersion": "2"})
    for _ in response["completion"]:
        pass
    agents.retrieve(knowledgeBaseId=KB, retrievalQuery={"text": "refund policy"},
                    retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 3}})
    rag = {"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": {
        "knowledgeBaseId": KB, "modelArn": MODEL_ARN,
        "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 4}},
        "generationConfiguration": {"inferenceConfig": {"textInferenceConfig": {"maxTokens": 300}}}}}
    agents.retrieve_and_generate(input={"text": "refund policy"}, retrieveAndGenerateConfiguration=rag)
    for _ in agents.retrieve_and_generate_stream(input={"text": "q"}, retrieveAndGenerateConfiguration=rag)["stream"]:
        pass
    flow = agents.invoke_flow(flowIdentifier="FLOW123456", flowAliasIdentifier="ALIAS12345", enableTrace=True,
                              inputs=[{"nodeName": "FlowInputNode", "nodeOutputName": "document",
                                       "content": {"document": "Plan a weekend in Lisbon"}}])
    for _ in flow["responseStream"]:
        pass

    @bedrock_otel.aws.lambda_handler(name="ask-bedrock")
    def handler(event: Any, context: Any) -> None:
        runtime.converse(modelId=CLAUDE, messages=_user(event["question"]))

    handler({"question": "Hello from Lambda"}, _Context())


def _span_record(span: Any, index: Dict[int, int]) -> Dict[str, Any]:
    parent = span.parent.span_id if span.parent is not None else None
    return {
        "name": span.name,
        "kind": span.kind.name,
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else "",
        "status": span.status.status_code.name,
        "parent": index.get(parent) if parent is not None else None,
        "attributes": sorted(span.attributes or {}),
        "method": (span.attributes or {}).get("rpc.method"),
        "operation": (span.attributes or {}).get("gen_ai.operation.name"),
        "events": [{"name": event.name, "attributes": sorted(event.attributes or {})} for event in span.events],
    }


def _ordered(spans: List[Any]) -> List[Any]:
    """Depth-first, children in start order: the order a trace view shows them."""
    ids = {span.context.span_id for span in spans}
    children: Dict[Optional[int], List[Any]] = {}
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        parent = span.parent.span_id if span.parent is not None and span.parent.span_id in ids else None
        children.setdefault(parent, []).append(span)
    ordered: List[Any] = []

    def walk(parent: Optional[int]) -> None:
        for span in children.get(parent, []):
            ordered.append(span)
            walk(span.context.span_id)

    walk(None)
    return ordered


def catalogue_run() -> Dict[str, Any]:
    """Spans, metric attributes and log events of the reference calls."""
    from opentelemetry import trace
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    import bedrock_otel
    import bedrock_otel.aws  # lambda_handler
    from bedrock_otel.testing import Capture, FakeBedrock

    capture = Capture()
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    trace.set_tracer_provider(capture.spans.provider)  # lambda_handler's span uses the global provider
    bedrock_otel.instrument(tracer_provider=capture.spans.provider, meter_provider=capture.metrics.provider,
                            logger_provider=logger_provider, capture_content="SPAN_AND_EVENT")
    try:
        with FakeBedrock() as fake:
            fake.event_delay = 0.001
            _bedrock_calls(fake)
    finally:
        bedrock_otel.uninstrument()
    spans = _ordered(capture.spans.spans)
    index = {span.context.span_id: position for position, span in enumerate(spans)}
    metrics: Dict[str, set] = {}
    for point in capture.metrics.points():
        metrics.setdefault(point.name, set()).update(point.attributes)
    records = []
    for data in logs.get_finished_logs():
        record = data.log_record
        name = getattr(record, "event_name", None) or (record.attributes or {}).get("event.name")
        records.append({"name": name, "attributes": sorted(record.attributes or {})})
    unfinished = capture.spans.unfinished
    capture.shutdown()
    if unfinished:
        raise RuntimeError(f"reference run: {len(unfinished)} spans never ended")
    return {
        "spans": [_span_record(span, index) for span in spans],
        "metrics": {name: sorted(keys) for name, keys in sorted(metrics.items())},
        "logs": records,
    }


def agent_app_run(repo: Path) -> Dict[str, Any]:
    """``examples/agent-app`` run as its ``run_local.py`` does, kept as a tree for the SVG."""
    import bedrock_otel
    from bedrock_otel.testing import Capture, FakeBedrock

    example = repo / "examples" / "agent-app"
    run_local = _load(example / "run_local.py", "bedrock_otel_docs_agent_run_local")
    capture = Capture()
    bedrock_otel.instrument(tracer_provider=capture.spans.provider, meter_provider=capture.metrics.provider)
    try:
        with FakeBedrock() as fake:
            fake.event_delay = 0.001
            assistant = run_local.SupportAssistant(
                fake.client(service_name="bedrock-agent-runtime"), fake.client(), run_local.AGENT_ID,
                run_local.ALIAS_ID, guardrail_id=run_local.GUARDRAIL_ID)
            run_local.script(fake)
            assistant.ask("Where is my order A-1001?", session_id="customer-42")
            assistant.ask("Tell me something forbidden", session_id="customer-42")
    finally:
        bedrock_otel.uninstrument()
    spans = _ordered(capture.spans.spans)
    depth: Dict[int, int] = {}
    tree = []
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        level = depth[parent] + 1 if parent in depth else 0
        depth[span.context.span_id] = level
        attributes = span.attributes or {}
        tree.append({
            "name": span.name, "kind": span.kind.name, "depth": level, "status": span.status.status_code.name,
            "facts": {key: attributes[key] for key in TRACE_FACTS if key in attributes},
            "events": [event.name for event in span.events],
        })
    tokens: Dict[str, Dict[str, int]] = {}
    for point in capture.metrics.points("gen_ai.client.token.usage"):
        model = str(point.attributes.get("gen_ai.request.model"))
        kind = str(point.attributes.get("gen_ai.token.type"))
        tokens.setdefault(model, {}).setdefault(kind, 0)
        tokens[model][kind] += int(point.sum)
    capture.shutdown()
    return {"spans": tree, "tokens": tokens}


def dashboard_run(repo: Path) -> Dict[str, Any]:
    """``examples/prometheus``'s two workloads and their two waves, in-process, one after the other.

    Each workload reports what its calls consumed (from Bedrock's responses) and its duration and
    time-to-first-chunk histograms; Prometheus itself is not needed for the pictures.
    """
    example = repo / "examples" / "prometheus"
    try:
        stack = _load(example / "stack.py", "bedrock_otel_docs_prometheus_stack")
        workload = _load(example / "workload.py", "bedrock_otel_docs_prometheus_workload")
    except ImportError as exc:  # the test extra (pyyaml, the Prometheus exporter) is not installed
        return {"skipped": f"examples/prometheus cannot be imported: {exc}"}
    reports = []
    for spec in stack.DEMO_WORKLOADS:
        resource = {"service.name": spec["deployment"], "k8s.namespace.name": spec["namespace"],
                    "k8s.deployment.name": spec["deployment"], "k8s.pod.name": spec["pod"]}
        app = workload.Workload(resource)
        try:
            for errors in stack.DEMO_ERRORS[spec["namespace"]]:
                report = app.wave(errors)
        finally:
            app.close()
        reports.append(report)
    return {"reports": reports}


def run(repo: Path) -> Dict[str, Any]:
    return {"catalogue": catalogue_run(), "agent_app": agent_app_run(repo), "dashboard": dashboard_run(repo)}


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    repo = Path(args[0]) if args else Path.cwd()
    json.dump(run(repo.resolve()), sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
