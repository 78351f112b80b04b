"""Every model family end to end: boto3 → the fake Bedrock over HTTP → bedrock-otel's codecs → telemetry.

Each case is one family's real request shape. For plain InvokeModel and InvokeModelWithResponseStream the
span must name the right operation, carry the request parameters, report exactly the tokens Bedrock
accounted (headers / invocation metrics), the family's finish reasons, and for image and embedding
families the number of outputs, with no image data anywhere in the telemetry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import pytest

from bedrock_otel.models import catalog, registered
from bedrock_otel.testing.responders import FAKE_IMAGE_BASE64, family_named, invoke_reply, resolve_model

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    model: str
    body: Dict[str, Any]
    family: str
    operation: str
    attributes: Dict[str, Any] = field(default_factory=dict)  # request attributes the span must carry
    finish: Optional[Tuple[str, ...]] = None  # None: the family's body states no finish reason
    outputs: Optional[Tuple[str, int]] = None  # ("image" | "embedding", count)
    response_id: Optional[str] = None  # the body key holding the response id, where the family has one


def _chat(text: str, **extra: Any) -> Dict[str, Any]:
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": text}]
    return {"messages": messages, **extra}


def _amazon_image(count: int, **config: Any) -> Dict[str, Any]:
    return {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a lighthouse at dawn"},
            "imageGenerationConfig": {"numberOfImages": count, "height": 512, "width": 512, **config}}


CASES = {
    "llama3": Case(
        "meta.llama3-1-70b-instruct-v1:0",
        {"prompt": "Say this is a test", "max_gen_len": 100, "temperature": 0.5, "top_p": 0.9},
        "meta.llama", "text_completion",
        {"gen_ai.request.max_tokens": 100, "gen_ai.request.temperature": 0.5, "gen_ai.request.top_p": 0.9},
        finish=("stop",),
    ),
    "llama4-truncated": Case(
        "us.meta.llama4-maverick-17b-instruct-v1:0", {"prompt": "Tell me a long story", "max_gen_len": 2},
        "meta.llama", "text_completion", {"gen_ai.request.max_tokens": 2}, finish=("length",),
    ),
    "mistral-legacy": Case(
        "mistral.mistral-7b-instruct-v0:2",
        {"prompt": "<s>[INST] Say this is a test [/INST]", "max_tokens": 100, "temperature": 0.5, "top_p": 0.9,
         "top_k": 50, "stop": ["|"]},
        "mistral", "text_completion",
        {"gen_ai.request.max_tokens": 100, "gen_ai.request.top_k": 50, "gen_ai.request.stop_sequences": ["|"]},
        finish=("stop",),
    ),
    "mistral-chat": Case(
        "mistral.mistral-large-2407-v1:0", _chat("Say this is a test", max_tokens=100, temperature=0.3),
        "mistral", "chat", {"gen_ai.request.max_tokens": 100, "gen_ai.request.temperature": 0.3}, finish=("stop",),
    ),
    "cohere-command": Case(
        "cohere.command-light-text-v14",
        {"prompt": "Say this is a test", "max_tokens": 100, "temperature": 0.8, "p": 0.99, "k": 5,
         "stop_sequences": ["|"]},
        "cohere.command", "text_completion",
        {"gen_ai.request.top_p": 0.99, "gen_ai.request.top_k": 5, "gen_ai.request.stop_sequences": ["|"]},
        finish=("COMPLETE",), response_id="id",
    ),
    "cohere-command-r-truncated": Case(
        "cohere.command-r-plus-v1:0",
        {"message": "Tell me about lighthouses", "preamble": "Be brief.", "max_tokens": 3, "p": 0.9, "k": 10,
         "chat_history": [{"role": "USER", "message": "Hi"}, {"role": "CHATBOT", "message": "Hello"}]},
        "cohere.command-r", "chat",
        {"gen_ai.request.max_tokens": 3, "gen_ai.request.top_p": 0.9, "gen_ai.request.top_k": 10},
        finish=("MAX_TOKENS",), response_id="response_id",
    ),
    "jamba": Case(
        "ai21.jamba-1-5-mini-v1:0", _chat("Say this is a test", max_tokens=100, temperature=0.7, top_p=0.9, n=1,
                                          stop=["\n\n"]),
        "ai21.jamba", "chat",
        {"gen_ai.request.max_tokens": 100, "gen_ai.request.choice.count": 1,
         "gen_ai.request.stop_sequences": ["\n\n"]},
        finish=("stop",), response_id="id",
    ),
    "deepseek-r1": Case(
        "us.deepseek.r1-v1:0", {"prompt": "Why is the sky blue?", "max_tokens": 100, "temperature": 0.6,
                                "top_p": 0.95},
        "deepseek", "text_completion", {"gen_ai.request.max_tokens": 100, "gen_ai.request.top_p": 0.95},
        finish=("stop",),
    ),
    "deepseek-v3-chat": Case(
        "deepseek.v3-v1:0", _chat("Why is the sky blue?", max_tokens=100), "deepseek", "chat",
        {"gen_ai.request.max_tokens": 100}, finish=("stop",), response_id="id",
    ),
    "gpt-oss": Case(
        "openai.gpt-oss-120b-1:0", _chat("Say this is a test", max_completion_tokens=100, temperature=0.2, seed=4),
        "openai.gpt-oss", "chat",
        {"gen_ai.request.max_tokens": 100, "gen_ai.request.temperature": 0.2, "gen_ai.request.seed": 4},
        finish=("stop",), response_id="id",
    ),
    "qwen-truncated": Case(
        "qwen.qwen3-32b-v1:0", _chat("Write a poem about the sea", max_tokens=2), "qwen", "chat",
        {"gen_ai.request.max_tokens": 2}, finish=("length",), response_id="id",
    ),
    "writer": Case(
        "us.writer.palmyra-x5-v1:0", _chat("Say this is a test", max_tokens=100, presence_penalty=0.5),
        "writer.palmyra", "chat", {"gen_ai.request.presence_penalty": 0.5}, finish=("stop",), response_id="id",
    ),
    "titan-embed-v2": Case(
        "amazon.titan-embed-text-v2:0",
        {"inputText": "bedrock embeddings test", "dimensions": 256, "normalize": True, "embeddingTypes": ["float"]},
        "amazon.titan-embed", "embeddings",
        {"gen_ai.embeddings.dimension.count": 256, "gen_ai.request.encoding_formats": ["float"]},
        outputs=("embedding", 1),
    ),
    "titan-embed-v1": Case(
        "amazon.titan-embed-text-v1", {"inputText": "bedrock embeddings test"}, "amazon.titan-embed", "embeddings",
        outputs=("embedding", 1),
    ),
    "titan-embed-image": Case(
        "amazon.titan-embed-image-v1",
        {"inputText": "a red square", "inputImage": FAKE_IMAGE_BASE64,
         "embeddingConfig": {"outputEmbeddingLength": 384}},
        "amazon.titan-embed", "embeddings", {"gen_ai.embeddings.dimension.count": 384}, outputs=("embedding", 1),
    ),
    "nova-embed": Case(
        "amazon.nova-2-multimodal-embeddings-v1:0",
        {"schemaVersion": "nova-multimodal-embed-v1", "taskType": "SINGLE_EMBEDDING",
         "singleEmbeddingParams": {"embeddingPurpose": "GENERIC_INDEX", "embeddingDimension": 384,
                                   "text": {"truncationMode": "END", "value": "hello embeddings"}}},
        "amazon.nova-embed", "embeddings", {"gen_ai.embeddings.dimension.count": 384}, outputs=("embedding", 1),
    ),
    "cohere-embed": Case(
        "cohere.embed-english-v3", {"texts": ["one", "two words", "three more words"], "input_type": "search_document"},
        "cohere.embed", "embeddings", outputs=("embedding", 3), response_id="id",
    ),
    "cohere-embed-by-type": Case(
        "cohere.embed-multilingual-v3",
        {"texts": ["uno", "dos"], "input_type": "search_query", "embedding_types": ["float", "int8"]},
        "cohere.embed", "embeddings", {"gen_ai.request.encoding_formats": ["float", "int8"]},
        outputs=("embedding", 2), response_id="id",
    ),
    "nova-canvas": Case(
        "amazon.nova-canvas-v1:0", _amazon_image(2, seed=7, cfgScale=6.5), "amazon.nova-canvas", "generate_content",
        {"gen_ai.output.type": "image", "gen_ai.request.choice.count": 2, "gen_ai.request.seed": 7},
        outputs=("image", 2),
    ),
    "titan-image": Case(
        "amazon.titan-image-generator-v2:0", _amazon_image(1), "amazon.titan-image", "generate_content",
        {"gen_ai.output.type": "image", "gen_ai.request.choice.count": 1}, outputs=("image", 1),
    ),
    "stability-sd3": Case(
        "stability.sd3-5-large-v1:0",
        {"prompt": "a lighthouse at dawn", "mode": "text-to-image", "aspect_ratio": "1:1", "seed": 5,
         "output_format": "png"},
        "stability", "generate_content", {"gen_ai.output.type": "image", "gen_ai.request.seed": 5},
        outputs=("image", 1),
    ),
    "stability-sdxl": Case(
        "stability.stable-diffusion-xl-v1",
        {"text_prompts": [{"text": "a lighthouse at dawn", "weight": 1}], "samples": 2, "seed": 3, "cfg_scale": 7},
        "stability", "generate_content", {"gen_ai.request.choice.count": 2, "gen_ai.request.seed": 3},
        finish=("SUCCESS", "SUCCESS"), outputs=("image", 2),
    ),
}
PARAMS = [pytest.param(case, id=name) for name, case in CASES.items()]


def _as_span_value(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _assert_span_basics(span: Any, case: Case) -> Dict[str, Any]:
    a = dict(span.attributes)
    assert span.name == f"{case.operation} {case.model}"
    assert a["gen_ai.operation.name"] == case.operation
    assert a["bedrock_otel.model.family"] == case.family
    for key, value in case.attributes.items():
        assert a.get(key) == _as_span_value(value), key
    reasons = a.get("gen_ai.response.finish_reasons")
    assert (tuple(reasons) if reasons else None) == case.finish
    counts = {kind: a.get(f"bedrock_otel.response.{kind}.count") for kind in ("image", "embedding")}
    expected_counts = {"image": None, "embedding": None}
    if case.outputs:
        expected_counts[case.outputs[0]] = case.outputs[1]
    assert counts == expected_counts
    if case.outputs and case.outputs[0] == "image":
        assert a["gen_ai.output.type"] == "image"
    assert "bedrock_otel.parse_error" not in a
    _assert_no_payload(span)
    return a


def _assert_no_payload(span: Any) -> None:
    """No base64 image (requested or generated) and no long blob in any attribute value."""
    sources = [span.attributes, *(event.attributes for event in span.events)]
    for attributes in sources:
        for key, value in (attributes or {}).items():
            for item in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(item, str):
                    assert FAKE_IMAGE_BASE64 not in item and len(item) < 300, f"{key} carries a payload"


@pytest.mark.parametrize("case", PARAMS)
def test_invoke_model(case, fake_bedrock, bedrock_spans, bedrock_metrics):
    response = fake_bedrock.client().invoke_model(modelId=case.model, body=json.dumps(case.body))
    payload = json.loads(response["body"].read())
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    a = _assert_span_basics(bedrock_spans.one(), case)
    assert a["gen_ai.usage.input_tokens"] == int(headers["x-amzn-bedrock-input-token-count"])
    assert a["gen_ai.usage.output_tokens"] == int(headers["x-amzn-bedrock-output-token-count"])
    assert a["bedrock_otel.usage.source"] == "headers"
    assert a["bedrock_otel.body.end_state"] == "read"
    if case.response_id:
        assert a["gen_ai.response.id"] == payload[case.response_id]
    assert bedrock_metrics.token_usage("input") == a["gen_ai.usage.input_tokens"]
    assert bedrock_metrics.count() == 1


@pytest.mark.bedrock_otel(chunk_gap_metrics=True)
@pytest.mark.parametrize("case", PARAMS)
def test_invoke_model_with_response_stream(case, fake_bedrock, bedrock_spans, bedrock_metrics):
    response = fake_bedrock.client().invoke_model_with_response_stream(modelId=case.model, body=json.dumps(case.body))
    chunks = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    span = bedrock_spans.one()
    a = _assert_span_basics(span, case)
    assert a["gen_ai.usage.input_tokens"] == metrics["inputTokenCount"]
    assert a["gen_ai.usage.output_tokens"] == metrics["outputTokenCount"]
    assert a["bedrock_otel.usage.source"] == "invocation_metrics"
    assert a["bedrock_otel.stream.end_state"] == "completed"
    assert "bedrock_otel.stream.unknown_events" not in a
    if family_named(resolve_model(case.model).family).streaming:
        # Only chunks with generated text count: one per word of the reply, never the framing chunks.
        pieces = invoke_reply(case.model, case.body).pieces
        assert a["gen_ai.response.time_to_first_chunk"] > 0
        assert bedrock_metrics.count("gen_ai.client.operation.time_per_output_chunk") == len(pieces) - 1
    assert bedrock_metrics.token_usage("output") == metrics["outputTokenCount"]


def test_every_registered_family_has_a_case_and_a_fake():
    families = {codec.family for codec in registered().values()}
    covered = {case.family for case in CASES.values()}
    assert families - covered <= {"anthropic.claude", "amazon.nova", "amazon.titan-text"}  # test_invoke_model.py
    for case in CASES.values():
        assert resolve_model(case.model).family == case.family  # the fake answers in the family's own shape


def test_docs_families_md_is_current():
    path = ROOT / "docs" / "families.md"
    assert path.read_text(encoding="utf-8") == catalog.render(), \
        "docs/families.md is stale: run python -m bedrock_otel.models.catalog"


def test_catalog_lists_every_family_and_check_mode(tmp_path):
    text = catalog.render()
    for codec in registered().values():
        assert f"(`{codec.family}`)" in text
    assert "| later |" not in text  # every family's content capture column is rendered from its declaration
    assert all(codec.content is not None for codec in catalog.codecs())
    target = tmp_path / "families.md"
    assert catalog.main(["--check", str(target)]) == 1
    assert catalog.main([str(target)]) == 0
    assert catalog.main(["--check", str(target)]) == 0
