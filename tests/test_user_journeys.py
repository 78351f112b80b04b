"""The three ways people use bedrock-otel, run as they would run them: subprocesses, scratch projects."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

USER_TEST = '''
def test_my_app_calls_bedrock(fake_bedrock, bedrock_spans, bedrock_metrics):
    client = fake_bedrock.client()  # boto3 bedrock-runtime client wired to the fake server
    client.converse(modelId="anthropic.claude-3-haiku-20240307-v1:0",
                    messages=[{"role": "user", "content": [{"text": "hi"}]}])
    span = bedrock_spans.one()
    assert span.name == "chat anthropic.claude-3-haiku-20240307-v1:0"
    assert span.attributes["gen_ai.usage.input_tokens"] > 0
    assert bedrock_metrics.token_usage(token_type="input") == span.attributes["gen_ai.usage.input_tokens"]
'''


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "PYTEST_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def test_user_test_passes_in_a_scratch_project(tmp_path: Path):
    """The README's pytest example, in a project that has nothing but bedrock-otel installed."""
    (tmp_path / "test_app.py").write_text(USER_TEST)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                            cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_user_assertion_failure_is_readable(tmp_path: Path):
    (tmp_path / "test_app.py").write_text(textwrap.dedent('''
        def test_no_call(bedrock_spans):
            bedrock_spans.one(operation="chat")
    '''))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                            cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "expected exactly one span matching {'operation': 'chat'}, found 0" in result.stdout


MARKED_TESTS = '''
import pytest

@pytest.mark.bedrock_otel(capture_content="SPAN_ONLY", chunk_gap_metrics=True)
def test_marked(fake_bedrock, bedrock_spans, bedrock_metrics):
    stream = fake_bedrock.client().converse_stream(modelId="amazon.nova-lite-v1:0",
                                                   messages=[{"role": "user", "content": [{"text": "one two three"}]}])
    list(stream["stream"])
    assert "one two three" in bedrock_spans.one().attributes["gen_ai.input.messages"]
    assert bedrock_metrics.count("gen_ai.client.operation.time_per_output_chunk") > 0

def test_unmarked_gets_defaults(fake_bedrock, bedrock_spans, bedrock_metrics):
    stream = fake_bedrock.client().converse_stream(modelId="amazon.nova-lite-v1:0",
                                                   messages=[{"role": "user", "content": [{"text": "one two three"}]}])
    list(stream["stream"])
    assert "gen_ai.input.messages" not in bedrock_spans.one().attributes
    assert bedrock_metrics.count("gen_ai.client.operation.time_per_output_chunk") == 0

@pytest.mark.bedrock_otel("SPAN_ONLY")
def test_positional_is_refused(bedrock_spans):
    pass
'''


def test_the_bedrock_otel_mark_passes_instrument_options(tmp_path: Path):
    """``@pytest.mark.bedrock_otel(**kwargs)`` reaches instrument() for that test only; misuse says why."""
    (tmp_path / "test_app.py").write_text(MARKED_TESTS)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers",
                             str(tmp_path)], cwd=tmp_path, env=_clean_env(), capture_output=True, text=True,
                            timeout=120)
    assert "2 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert "takes keyword arguments only" in result.stdout


APP = '''
from bedrock_otel.testing.fake_server import FakeBedrock

with FakeBedrock() as fake:
    fake.client().converse(modelId="anthropic.claude-3-haiku-20240307-v1:0",
                           messages=[{"role": "user", "content": [{"text": "hello from app"}]}])
print("app done")
'''


@pytest.mark.skipif(shutil.which("opentelemetry-instrument", path=os.path.dirname(sys.executable)) is None,
                    reason="opentelemetry-instrument not installed (test extra)")
def test_opentelemetry_instrument_zero_code(tmp_path: Path):
    app = tmp_path / "app.py"
    app.write_text(APP)
    command = [os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument"),
               "--traces_exporter", "console", "--metrics_exporter", "none", "--logs_exporter", "none",
               sys.executable, str(app)]
    # "bedrock" is opentelemetry-instrumentation-genai-bedrock's entry point, disabled as docs/telemetry.md advises
    # in case a peer is installed beside us; bedrock-otel's own entry point is "bedrock_otel".
    env = {**_clean_env(), "OTEL_SERVICE_NAME": "zero-code-app", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "bedrock"}
    result = subprocess.run(command, cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "app done" in result.stdout
    assert result.stdout.count('"name": "chat anthropic.claude-3-haiku-20240307-v1:0"') == 1
    assert '"gen_ai.usage.input_tokens": 3' in result.stdout
    assert '"gen_ai.usage.output_tokens"' in result.stdout


def test_demo_command_prints_trace_and_table():
    exe = os.path.join(os.path.dirname(sys.executable), "bedrock-otel")
    result = subprocess.run([exe, "demo", "--event-delay", "0"], env=_clean_env(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in ("demo app request", "└─ chat anthropic.claude-3-haiku-20240307-v1:0",
                     "text_completion amazon.titan-text-express-v1", "ThrottlingException",
                     "gen_ai.client.token.usage", "InvokeModelWithResponseStream"):
        assert expected in out
