"""chatbot: the pod's first container, the one the CloudWatch agent operator instruments.

It has no OpenTelemetry set-up of its own: in the cluster the operator injects the ADOT Python distro
(``instrumentation.opentelemetry.io/inject-python: "true"``), which is what ``opentelemetry-instrument
python app.py`` does locally. It answers ``POST /chat {"question": …}`` by asking the RAG API sidecar
(``ragapi``) on localhost.

A Flask or FastAPI app would get its server and client spans from auto-instrumentation. This example sticks to
the standard library (wsgiref, http.client), which auto-instrumentation does not cover, so it starts those two
spans itself with the OpenTelemetry API, with the attributes the HTTP instrumentations set by default.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, make_server

from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode

RAGAPI_URL = os.environ.get("RAGAPI_URL", "http://localhost:8081")
RAGAPI_SERVICE = os.environ.get("RAGAPI_SERVICE_NAME", "ragapi")  # the sidecar's OTEL_SERVICE_NAME
tracer = trace.get_tracer("chatbot")


class WsgiHeaders(Getter):
    """Reads propagation headers (traceparent, X-Amzn-Trace-Id) from a WSGI environ."""

    def get(self, carrier: Dict[str, Any], key: str) -> Optional[List[str]]:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return [value] if value is not None else None

    def keys(self, carrier: Dict[str, Any]) -> List[str]:
        return [key[5:].replace("_", "-").lower() for key in carrier if key.startswith("HTTP_")]


def ask_ragapi(question: str) -> Dict[str, Any]:
    """POST the question to the sidecar, in a CLIENT span whose context travels in the request headers."""
    url = urlsplit(RAGAPI_URL)
    attributes = {"http.method": "POST", "http.url": f"{RAGAPI_URL}/ask", "net.peer.name": url.hostname,
                  "net.peer.port": url.port or 80,
                  # Application Signals names the edge after peer.service (else it would be "localhost:8081").
                  "peer.service": RAGAPI_SERVICE}
    with tracer.start_as_current_span("POST", kind=SpanKind.CLIENT, attributes=attributes) as span:
        headers = {"Content-Type": "application/json"}
        propagate.inject(headers)  # traceparent and X-Amzn-Trace-Id: ragapi continues this trace
        connection = http.client.HTTPConnection(url.hostname or "localhost", url.port or 80, timeout=60)
        try:
            connection.request("POST", "/ask", json.dumps({"question": question}), headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        span.set_attribute("http.status_code", response.status)
        if response.status >= 400:
            span.set_status(Status(StatusCode.ERROR))
            raise RuntimeError(f"ragapi answered {response.status}: {body[:200]!r}")
        return json.loads(body)  # type: ignore[no-any-return]


def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
    with tracer.start_as_current_span(f"{method} {path}", context=propagate.extract(environ, getter=WsgiHeaders()),
                                      kind=SpanKind.SERVER,
                                      attributes={"http.method": method, "http.target": path}) as span:
        if (method, path) == ("POST", "/chat"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            question = json.loads(environ["wsgi.input"].read(length) or b"{}").get("question", "")
            try:
                answer = ask_ragapi(question)
                status, payload = 200, {"answer": answer.get("answer"), "usage": answer.get("usage")}
            except Exception as exc:
                span.record_exception(exc)
                status, payload = 502, {"error": str(exc)}
        else:
            status, payload = 404, {"error": "not found"}
        span.set_attribute("http.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
    body = json.dumps(payload).encode()
    start_response(f"{status} {http.client.responses[status]}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    server = make_server(os.environ.get("HOST", "0.0.0.0"), int(os.environ.get("PORT", "8080")), app,
                         handler_class=QuietHandler)
    # Kubernetes stops a pod with SIGTERM: stop serving and return, so that OpenTelemetry flushes at exit.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"chatbot listening on {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
