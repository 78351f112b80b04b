"""assistant: an ECS service that answers questions with Amazon Bedrock, visible in Application Signals.

AWS's ECS set-up for Application Signals adds an init container that copies the ADOT distro into a shared
volume, and points PYTHONPATH at it. This image needs neither: bedrock-otel is installed, and
``bedrock_otel.configure()`` reads the same ``OTEL_*`` variables (task-definition.json) and, with
``OTEL_AWS_APPLICATION_SIGNALS_ENABLED=true``, emits the span attributes and Latency/Error/Fault metrics the
CloudWatch agent sidecar expects on ``localhost:4316``. The ECS resource detector reads the task metadata
endpoint (cluster, task ARN, log group).

``POST /ask {"question": …}`` → a Converse call. An ALB in front sends ``X-Amzn-Trace-Id``; the xray
propagator continues that trace.
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

configured = bedrock_otel.configure()

MODEL_ID = os.environ.get("BEDROCK_MODEL_ID", "us.amazon.nova-lite-v1:0")
bedrock = boto3.client("bedrock-runtime", endpoint_url=os.environ.get("BEDROCK_ENDPOINT_URL") or None)
tracer = trace.get_tracer("assistant")


class WsgiHeaders(Getter):
    """Reads propagation headers (traceparent, X-Amzn-Trace-Id) from a WSGI environ."""

    def get(self, carrier: Dict[str, Any], key: str) -> Optional[List[str]]:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return [value] if value is not None else None

    def keys(self, carrier: Dict[str, Any]) -> List[str]:
        return [key[5:].replace("_", "-").lower() for key in carrier if key.startswith("HTTP_")]


def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
    with tracer.start_as_current_span(f"{method} {path}", context=propagate.extract(environ, getter=WsgiHeaders()),
                                      kind=SpanKind.SERVER,
                                      attributes={"http.method": method, "http.target": path}) as span:
        status, payload = 404, {"error": "not found"}
        if (method, path) == ("POST", "/ask"):
            question = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)) or b"{}")
            try:
                response = bedrock.converse(modelId=MODEL_ID, messages=[
                    {"role": "user", "content": [{"text": question.get("question", "")}]}])
                text = "".join(part.get("text", "") for part in response["output"]["message"]["content"])
                status, payload = 200, {"answer": text, "usage": response["usage"]}
            except Exception as exc:
                span.record_exception(exc)
                status, payload = 502, {"error": type(exc).__name__}
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
    server = make_server(os.environ.get("HOST", "0.0.0.0"), int(os.environ.get("PORT", "8080")), app,
                         handler_class=QuietHandler)
    # ECS stops a task with SIGTERM: stop serving and return, so that configure()'s exit hook flushes.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"assistant listening on {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
