"""Invoke handler.py as Lambda would, offline, and show that its telemetry is out before the function freezes.

    python examples/lambda/invoke_locally.py

The handler runs in a child process with the Lambda runtime's variables (``AWS_LAMBDA_FUNCTION_NAME``,
``_X_AMZN_TRACE_ID`` set anew for each invocation, …), against a fake Bedrock and an OTLP/gRPC receiver in
the place of the ADOT Lambda layer's collector. After each invocation returns, the child stops itself with
SIGSTOP, freezing every thread as Lambda does; only then does this script look at what the receiver got.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
FUNCTION = "ask-bedrock"
ARN = f"arn:aws:lambda:us-east-1:111122223333:function:{FUNCTION}"


def trace_header() -> str:
    """What Lambda puts in ``_X_AMZN_TRACE_ID``: the invocation's trace, its segment as Parent, sampled."""
    return (f"Root=1-{int(time.time()):08x}-{random.getrandbits(96):024x};"
            f"Parent={random.getrandbits(64):016x};Sampled=1")


def _as_lambda(undecorated: bool) -> None:
    """The child: import the handler (cold start), then one invocation per line on stdin."""
    sys.path.insert(0, str(HERE))
    import handler as module

    function = module.handler.__wrapped__ if undecorated else module.handler
    for line in sys.stdin:
        request = json.loads(line)
        os.environ["_X_AMZN_TRACE_ID"] = request["trace_header"]  # the runtime sets it per invocation
        context = SimpleNamespace(aws_request_id=request["request_id"], invoked_function_arn=ARN,
                                  function_name=FUNCTION, get_remaining_time_in_millis=lambda: 30_000)
        result = function({"body": json.dumps({"question": request["question"]})}, context)
        print(json.dumps({"returned": result}), flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)  # frozen, as after a real return, until the next invocation


def run(questions: List[str] = ["What is Bedrock?", "And Lambda?"], undecorated: bool = False,  # noqa: B006
        application_signals: bool = True) -> Dict[str, Any]:
    """Invoke once per question; after each return (child frozen) record the spans and metrics received so far."""
    from bedrock_otel.testing.fake_server import FakeBedrock
    from bedrock_otel.testing.otlp_receiver import OtlpGrpcReceiver

    invocations: List[Dict[str, Any]] = []
    with FakeBedrock() as fake, OtlpGrpcReceiver() as collector, tempfile.TemporaryFile(mode="w+") as log:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "_X_AMZN", "PYTEST_"))}
        env.update(AWS_LAMBDA_FUNCTION_NAME=FUNCTION, AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                   AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512", AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{FUNCTION}",
                   AWS_LAMBDA_LOG_STREAM_NAME="2026/11/23/[$LATEST]0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                   AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
                   AWS_EXECUTION_ENV="AWS_Lambda_python3.12", LAMBDA_TASK_ROOT=str(HERE), _HANDLER="handler.handler",
                   AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
                   AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                   BEDROCK_ENDPOINT_URL=fake.endpoint_url, OTEL_SERVICE_NAME=FUNCTION,
                   OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint, PYTHONUNBUFFERED="1")
        if application_signals:
            env["OTEL_AWS_APPLICATION_SIGNALS_ENABLED"] = "true"
        command = [sys.executable, str(Path(__file__).resolve()), "--as-lambda"]
        if undecorated:
            command.append("--undecorated")
        child = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                 text=True)
        try:
            for question in questions:
                request = {"question": question, "trace_header": trace_header(), "request_id": str(uuid.uuid4())}
                assert child.stdin is not None and child.stdout is not None
                child.stdin.write(json.dumps(request) + "\n")
                child.stdin.flush()
                line = child.stdout.readline()
                if not line:
                    log.seek(0)
                    raise RuntimeError(f"the function died: {log.read()[-3000:]}")
                _, status = os.waitpid(child.pid, os.WUNTRACED)  # returns once the child is frozen
                assert os.WIFSTOPPED(status)
                invocations.append({**request, "returned": json.loads(line)["returned"],
                                    "spans_at_freeze": collector.spans(), "metrics_at_freeze": collector.metrics()})
                collector.clear()
                os.kill(child.pid, signal.SIGCONT)
        finally:
            child.kill()
            child.wait()
            log.seek(0)
            stderr = log.read()
    return {"invocations": invocations, "stderr": stderr}


def main() -> None:
    if "--as-lambda" in sys.argv:
        _as_lambda(undecorated="--undecorated" in sys.argv)
        return
    started = time.monotonic()
    for invocation in run()["invocations"]:
        print(f"_X_AMZN_TRACE_ID={invocation['trace_header']}")
        print(f"  returned {invocation['returned']['statusCode']}; received before the freeze:")
        for span in invocation["spans_at_freeze"]:
            tokens = span.attributes.get("gen_ai.usage.input_tokens", "-")
            print(f"    {span.kind} {span.name!r} trace {span.trace_id} parent {span.parent_span_id} tokens {tokens}")
        print(f"    metrics: {sorted(invocation['metrics_at_freeze'])}")
    print(f"done in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
