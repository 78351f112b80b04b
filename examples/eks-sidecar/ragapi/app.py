"""ragapi: a RAG API sidecar that calls Amazon Bedrock, instrumented by bedrock-otel.

The CloudWatch agent operator injects only the pod's first container (``chatbot``), so nothing injects this
one. ``bedrock_otel.configure()`` sets up everything the injected distro would have: X-Ray trace ids,
``tracecontext,baggage,xray`` propagation (it continues chatbot's trace), OTLP export to the CloudWatch agent
and, with ``OTEL_AWS_APPLICATION_SIGNALS_ENABLED=true``, Application Signals' span attributes and
Latency/Error/Fault metrics. Every setting comes from the ``OTEL_*`` variables in the manifest.

If the pod's annotation names this container too (``python-container-names: "chatbot,ragapi"``), the operator
injects the ADOT distro here as well; ``configure()`` then keeps the distro's providers and only instruments
Bedrock. The same image works both ways.

It answers ``POST /ask {"question": …}`` with a Converse call (``BEDROCK_MODEL_ID``).
"""

from __future__ import annotations

import json
import os
import signal
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional
from wsgiref.simple_server import WSGIRequestHandler, make_server

import boto3
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode

import bedrock_otel

configured = bedrock_otel.configure()  # before the Bedrock client is created; settings from OTEL_* variables

MODEL_ID = os.environ.get("BEDROCK_MODEL_ID", "anthropic.claude-3-haiku-20240307-v1:0")
# BEDROCK_ENDPOINT_URL is only for running against a fake Bedrock (run_locally.py); unset in the cluster.
bedrock = boto3.client("bedrock-runtime", endpoint_url=os.environ.get("BEDROCK_ENDPOINT_URL") or None)
tracer = trace.get_tracer("ragapi")

DOCUMENTS = {
    "eks": "Amazon EKS runs Kubernetes; a pod's containers share its network namespace, so sidecars use localhost.",
    "signals": "CloudWatch Application Signals draws a service map from the spans and RED metrics of instrumented "
               "services.",
}


class WsgiHeaders(Getter):
    """Reads propagation headers (traceparent, X-Amzn-Trace-Id) from a WSGI environ."""

    def get(self, carrier: Dict[str, Any], key: str) -> Optional[List[str]]:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return [value] if value is not None else None

    def keys(self, carrier: Dict[str, Any]) -> List[str]:
        return [key[5:].replace("_", "-").lower() for key in carrier if key.startswith("HTTP_")]


def answer(question: str) -> Dict[str, Any]:
    context = " ".join(text for key, text in DOCUMENTS.items() if key in question.lower()) or "No documents."
    response = bedrock.converse(
        modelId=MODEL_ID,
        system=[{"text": f"Answer from these documents only: {context}"}],
        messages=[{"role": "user", "content": [{"text": question}]}],
        inferenceConfig={"maxTokens": 256, "temperature": 0.2},
    )
    text = "".join(block.get("text", "") for block in response["output"]["message"]["content"])
    return {"answer": text, "usage": response["usage"]}


def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
    with tracer.start_as_current_span(f"{method} {path}", context=propagate.extract(environ, getter=WsgiHeaders()),
                                      kind=SpanKind.SERVER,
                                      attributes={"http.method": method, "http.target": path}) as span:
        if (method, path) == ("POST", "/ask"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            question = json.loads(environ["wsgi.input"].read(length) or b"{}").get("question", "")
            try:
                status, payload = 200, answer(question)
            except Exception as exc:  # Bedrock failed: the Bedrock span already says why
                span.record_exception(exc)
                status, payload = 502, {"error": type(exc).__name__}
        else:
            status, payload = 404, {"error": "not found"}
        span.set_attribute("http.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
    body = json.dumps(payload).encode()
    start_response(f"{status} {'OK' if status == 200 else 'Error'}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    server = make_server("127.0.0.1", int(os.environ.get("PORT", "8081")), app, handler_class=QuietHandler)
    # Kubernetes stops a pod with SIGTERM: stop serving and return, so that the exit hook flushes telemetry.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"ragapi listening on {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
