"""Model id resolution and the family codecs, on plain dictionaries."""

from __future__ import annotations

import pytest

from bedrock_otel.models import Outcome, base_model_id, codec_for, codec_for_request, registered
from bedrock_otel.models.amazon_nova import NovaCodec
from bedrock_otel.models.amazon_titan import TitanTextCodec
from bedrock_otel.models.anthropic import AnthropicCodec


@pytest.mark.parametrize(
    ("model_id", "base"),
    [
        ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("us.anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ("eu.amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0"),
        ("apac.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
        ("global.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0"),
        ("us-gov.meta.llama3-8b-instruct-v1:0", "meta.llama3-8b-instruct-v1:0"),
        ("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1", "amazon.titan-text-express-v1"),
        ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
         "anthropic.claude-3-haiku-20240307-v1:0"),
        ("arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/abc123",
         "amazon.titan-text-express-v1:0:8k"),
        ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3", None),
        ("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/a1b2c3", None),
        ("arn:aws:bedrock:us-east-1:123456789012:imported-model/a1b2c3", None),
        ("not-a-model", None),
        ("", None),
    ],
)
def test_base_model_id(model_id, base):
    assert base_model_id(model_id) == base


def test_codec_lookup_uses_longest_prefix_and_body_sniffing():
    assert isinstance(codec_for("us.anthropic.claude-3-haiku-20240307-v1:0"), AnthropicCodec)
    assert isinstance(codec_for("amazon.nova-micro-v1:0"), NovaCodec)
    assert isinstance(codec_for("amazon.titan-text-lite-v1"), TitanTextCodec)
    assert codec_for("meta.llama3-8b-instruct-v1:0") is None
    opaque = "arn:aws:bedrock:us-east-1:1:application-inference-profile/x"
    assert isinstance(codec_for_request(opaque, {"anthropic_version": "bedrock-2023-05-31"}), AnthropicCodec)
    assert isinstance(codec_for_request(opaque, {"schemaVersion": "messages-v1"}), NovaCodec)
    assert codec_for_request(opaque, {"prompt": "x"}) is None
    assert "anthropic." in registered()


def test_anthropic_stream_with_cache_tokens_and_legacy_completion():
    decoder = AnthropicCodec().stream_decoder()
    outcome = Outcome()
    chunks = [
        {"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "usage": {
            "input_tokens": 10, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 2, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}},
        {"type": "message_stop"},
    ]
    content = [decoder.feed(c, outcome) for c in chunks]
    assert content == [False, False, True, False, False]
    assert (outcome.input_tokens, outcome.total_input_tokens, outcome.output_tokens) == (10, 17, 4)
    assert (outcome.cache_read_tokens, outcome.cache_write_tokens) == (5, 2)
    assert (outcome.response_id, outcome.response_model, outcome.finish_reasons) == ("msg_1", "claude-x", ["end_turn"])
    legacy = Outcome()
    assert AnthropicCodec().operation_name({"prompt": "\n\nHuman: hi\n\nAssistant:"}) == "text_completion"
    assert AnthropicCodec().stream_decoder().feed({"completion": " hi", "stop_reason": "stop_sequence"}, legacy)
    assert legacy.finish_reasons == ["stop_sequence"]


def test_bedrock_accounting_outranks_the_model_body():
    outcome = Outcome()
    outcome.set_usage(12, 133)  # the model's own message_delta count
    outcome.apply_invocation_metrics({"inputTokenCount": 10, "outputTokenCount": 97, "invocationLatency": 321,
                                      "firstByteLatency": 45, "cacheReadInputTokenCount": 4})
    outcome.set_usage(None, 140)  # a later body figure does not override Bedrock's
    assert (outcome.input_tokens, outcome.output_tokens, outcome.usage_source) == (10, 97, "invocation_metrics")
    assert outcome.total_input_tokens == 14
    assert (outcome.server_latency_ms, outcome.first_byte_latency_ms) == (321.0, 45.0)


@pytest.mark.parametrize("bad", [None, "x", -1, True, 1.5])
def test_outcome_ignores_non_counts(bad):
    outcome = Outcome()
    outcome.set_usage(bad, bad)
    outcome.set_cache(bad, bad)
    assert (outcome.input_tokens, outcome.output_tokens, outcome.cache_read_tokens) == (None, None, None)


def test_codecs_tolerate_hostile_bodies():
    for codec in set(registered().values()):
        outcome = Outcome()
        codec.parse_response({"usage": "nope", "results": [1, None], "stop_reason": 5, "id": 3}, outcome)
        decoder = codec.stream_decoder()
        for chunk in ({}, {"type": None}, {"metadata": None}, {"messageStop": "x"}, {"outputText": None}):
            decoder.feed(chunk, outcome)
        assert outcome.input_tokens is None
        codec.request_attributes({"inferenceConfig": "x", "textGenerationConfig": 3, "stop_sequences": [1]})
