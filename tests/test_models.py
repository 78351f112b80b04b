"""Model id resolution and the family codecs, on plain dictionaries."""

from __future__ import annotations

import pytest

from bedrock_otel.models import Outcome, base_model_id, codec_for, codec_for_request, registered
from bedrock_otel.models.amazon_nova import NovaCodec
from bedrock_otel.models.amazon_titan import TitanTextCodec
from bedrock_otel.models.anthropic import AnthropicCodec
from bedrock_otel.models.base import path_values
from bedrock_otel.models.meta_llama import LlamaCodec


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
    assert isinstance(codec_for("meta.llama3-8b-instruct-v1:0"), LlamaCodec)
    assert codec_for("twelvelabs.pegasus-1-2-v1:0") is None
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


_HOSTILE_BODIES = [
    {"usage": "nope", "results": [1, None], "stop_reason": 5, "id": 3},
    {"choices": "x", "outputs": [None, 1, "x"], "generations": {"a": 1}, "images": "x", "artifacts": [None],
     "embeddings": {"float": 3}, "embedding": 7, "usage": {"prompt_tokens": "5", "completion_tokens": -1}},
    {"choices": [1, None, {"delta": 5, "message": "x", "finish_reason": 3, "text": None}], "usage": [1],
     "generation": 5, "prompt_token_count": True, "finish_reasons": "x", "response": "x", "meta": {"billed_units": 1}},
    {"embeddings": [[0.1], None], "images": [None], "finish_reasons": [None, 3], "model": ["x"], "response_id": {}},
]
_HOSTILE_CHUNKS = [
    {}, {"type": None}, {"metadata": None}, {"messageStop": "x"}, {"outputText": None},
    {"type": "content_block_delta", "delta": "x"}, {"type": "message_start", "message": []},
    {"choices": [{"delta": None}]}, {"choices": {"delta": {"content": "x"}}}, {"generation": None, "stop_reason": 1},
    {"outputs": "x"}, {"text": None, "is_finished": "yes", "response": [1]}, {"event_type": 5},
]
_HOSTILE_REQUESTS = [
    {"inferenceConfig": "x", "textGenerationConfig": 3, "stop_sequences": [1]},
    {"messages": 3, "prompt": 5, "texts": "x", "imageGenerationConfig": "x", "max_gen_len": "9", "p": None,
     "embeddingConfig": [1], "stop": [None], "embedding_types": 5, "n": True, "seed": "1"},
]


def test_codecs_tolerate_hostile_bodies():
    for codec in set(registered().values()):
        outcome = Outcome()
        for body in _HOSTILE_BODIES:
            codec.parse_response(body, outcome)
        decoder = codec.stream_decoder()
        for chunk in _HOSTILE_CHUNKS:
            decoder.feed(chunk, outcome)
        assert outcome.input_tokens is None, codec.family
        assert all(isinstance(r, str) for r in outcome.finish_reasons)
        assert outcome.response_id is None or isinstance(outcome.response_id, str)
        for request in _HOSTILE_REQUESTS:
            attrs = codec.request_attributes(request)
            assert all(isinstance(v, (int, float, str, list)) and not isinstance(v, bool) for v in attrs.values())
            assert codec.operation_name(request) in codec.operations


@pytest.mark.parametrize(
    ("path", "body", "values"),
    [
        ("a.b", {"a": {"b": 1}}, [1]),
        ("a[].b", {"a": [{"b": 1}, {"b": None}, 3, {"b": "x"}]}, [1, "x"]),
        ("a[]", {"a": "not a list"}, []),
        ("a.b", {"a": [{"b": 1}]}, []),  # a list needs [] to be walked
        ("a[].b[]", {"a": [{"b": [1, 2]}, {"b": [3]}]}, [1, 2, 3]),
        ("x", [1, 2], []),
    ],
)
def test_path_values(path, body, values):
    assert path_values(body, path) == values


def _parsed(model_id, body):
    outcome = Outcome()
    codec_for(model_id).parse_response(body, outcome)
    return outcome


def _streamed(model_id, chunks):
    outcome = Outcome()
    decoder = codec_for(model_id).stream_decoder()
    content = [decoder.feed(chunk, outcome) for chunk in chunks]
    return outcome, content


@pytest.mark.parametrize(
    ("model_id", "body", "finish", "tokens", "response_id"),
    [
        ("meta.llama3-1-70b-instruct-v1:0", {"generation": " post.", "prompt_token_count": 5,
                                              "generation_token_count": 10, "stop_reason": "length"},
         ["length"], (5, 10), None),
        ("mistral.mistral-7b-instruct-v0:2", {"outputs": [{"text": "x", "stop_reason": "length"}]},
         ["length"], (None, None), None),
        ("mistral.mistral-large-2407-v1:0", {"choices": [{"index": 0, "message": {"role": "assistant", "content": "x"},
                                                          "stop_reason": "stop"}]}, ["stop"], (None, None), None),
        ("cohere.command-light-text-v14", {"id": "a09c", "generations": [{"id": "8b", "text": " x",
                                                                          "finish_reason": "MAX_TOKENS"}]},
         ["MAX_TOKENS"], (None, None), "a09c"),
        ("cohere.command-r-plus-v1:0", {"response_id": "379e", "text": "x", "generation_id": "2d",
                                        "finish_reason": "COMPLETE",
                                        "meta": {"billed_units": {"input_tokens": 5, "output_tokens": 9}}},
         ["COMPLETE"], (5, 9), "379e"),
        ("ai21.jamba-1-5-large-v1:0", {"id": "chatcmpl-1", "model": "jamba-1.5-large", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}, ["stop"], (7, 3), "chatcmpl-1"),
        ("deepseek.r1-v1:0", {"choices": [{"text": "<think>x</think>y", "stop_reason": "stop"}]},
         ["stop"], (None, None), None),
        ("openai.gpt-oss-120b-1:0", {"id": "chatcmpl-2", "model": "gpt-oss-120b", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 30,
                      "completion_tokens_details": {"reasoning_tokens": 20}}}, ["length"], (12, 30), "chatcmpl-2"),
        ("stability.sd3-5-large-v1:0", {"seeds": [1], "finish_reasons": ["Filter reason: prompt"], "images": ["aGk="]},
         ["Filter reason: prompt"], (None, None), None),
        ("stability.stable-diffusion-xl-v1", {"result": "success", "artifacts": [
            {"seed": 1, "base64": "aGk=", "finishReason": "SUCCESS"}, {"seed": 2, "base64": "aGk=",
                                                                         "finishReason": "CONTENT_FILTERED"}]},
         ["SUCCESS", "CONTENT_FILTERED"], (None, None), None),
    ],
)
def test_family_bodies(model_id, body, finish, tokens, response_id):
    outcome = _parsed(model_id, body)
    assert outcome.finish_reasons == finish
    assert (outcome.input_tokens, outcome.output_tokens) == tokens
    assert outcome.response_id == response_id


def test_reasoning_tokens_and_response_model_from_chat_completions():
    outcome = _parsed("openai.gpt-oss-20b-1:0", {"model": "gpt-oss-20b", "usage": {
        "prompt_tokens": 1, "completion_tokens": 2, "completion_tokens_details": {"reasoning_tokens": 1}}})
    assert (outcome.response_model, outcome.reasoning_tokens) == ("gpt-oss-20b", 1)


@pytest.mark.parametrize(
    ("model_id", "body", "kind", "count"),
    [
        ("amazon.titan-embed-text-v2:0", {"embedding": [0.1, 0.2], "inputTextTokenCount": 4}, "embedding", 1),
        ("amazon.titan-embed-image-v1", {"embedding": [0.1], "inputTextTokenCount": 2, "message": None},
         "embedding", 1),
        ("cohere.embed-english-v3", {"id": "e1", "embeddings": [[0.1], [0.2], [0.3]], "texts": ["a", "b", "c"]},
         "embedding", 3),
        ("cohere.embed-multilingual-v3", {"id": "e2", "embeddings": {"int8": [[1], [2]], "float": [[0.1], [0.2]]},
                                          "response_type": "embeddings_by_type"}, "embedding", 2),
        ("amazon.nova-2-multimodal-embeddings-v1:0", {"embeddings": [{"embeddingType": "TEXT", "embedding": [0.1]}]},
         "embedding", 1),
        ("amazon.nova-canvas-v1:0", {"images": ["aGk=", "aGk="]}, "image", 2),
        ("amazon.titan-image-generator-v2:0", {"images": ["aGk="], "error": None}, "image", 1),
        ("stability.stable-image-ultra-v1:1", {"seeds": [1], "finish_reasons": [None], "images": ["aGk="]}, "image", 1),
    ],
)
def test_output_counts(model_id, body, kind, count):
    outcome = _parsed(model_id, body)
    assert (outcome.output_kind, outcome.output_count) == (kind, count)
    assert outcome.finish_reasons == []  # a null Stability finish reason means success and is not reported


@pytest.mark.parametrize(
    ("model_id", "request_body", "operation", "attributes"),
    [
        ("meta.llama3-8b-instruct-v1:0", {"prompt": "x", "max_gen_len": 10, "temperature": 0.8, "top_p": 1},
         "text_completion", {"gen_ai.request.max_tokens": 10, "gen_ai.request.temperature": 0.8,
                             "gen_ai.request.top_p": 1}),
        ("mistral.mistral-7b-instruct-v0:2", {"prompt": "x", "max_tokens": 10, "top_k": 5, "stop": ["|"]},
         "text_completion", {"gen_ai.request.max_tokens": 10, "gen_ai.request.top_k": 5,
                             "gen_ai.request.stop_sequences": ["|"]}),
        ("mistral.mistral-large-2407-v1:0", {"messages": [{"role": "user", "content": "x"}], "max_tokens": 9},
         "chat", {"gen_ai.request.max_tokens": 9}),
        ("cohere.command-text-v14", {"prompt": "x", "max_tokens": 10, "p": 0.99, "k": 3, "stop_sequences": ["|"],
                                     "num_generations": 2},
         "text_completion", {"gen_ai.request.max_tokens": 10, "gen_ai.request.top_p": 0.99, "gen_ai.request.top_k": 3,
                             "gen_ai.request.stop_sequences": ["|"], "gen_ai.request.choice.count": 2}),
        ("cohere.command-r-v1:0", {"message": "x", "chat_history": [], "p": 0.5, "k": 1, "seed": 7},
         "chat", {"gen_ai.request.top_p": 0.5, "gen_ai.request.top_k": 1, "gen_ai.request.seed": 7}),
        ("openai.gpt-oss-120b-1:0", {"messages": [], "max_completion_tokens": 50, "n": 1, "presence_penalty": 0.1},
         "chat", {"gen_ai.request.max_tokens": 50, "gen_ai.request.choice.count": 1,
                  "gen_ai.request.presence_penalty": 0.1}),
        ("deepseek.r1-v1:0", {"prompt": "x", "max_tokens": 5, "stop": "END"},
         "text_completion", {"gen_ai.request.max_tokens": 5, "gen_ai.request.stop_sequences": ["END"]}),
        ("amazon.titan-embed-text-v2:0", {"inputText": "x", "dimensions": 256, "embeddingTypes": ["float"]},
         "embeddings", {"gen_ai.embeddings.dimension.count": 256, "gen_ai.request.encoding_formats": ["float"]}),
        ("amazon.titan-embed-image-v1", {"inputText": "x", "embeddingConfig": {"outputEmbeddingLength": 384}},
         "embeddings", {"gen_ai.embeddings.dimension.count": 384}),
        ("cohere.embed-english-v3", {"texts": ["a"], "input_type": "search_document", "embedding_types": ["int8"]},
         "embeddings", {"gen_ai.request.encoding_formats": ["int8"]}),
        ("amazon.nova-canvas-v1:0", {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x"},
                                     "imageGenerationConfig": {"numberOfImages": 2, "seed": 42}},
         "generate_content", {"gen_ai.output.type": "image", "gen_ai.request.choice.count": 2,
                              "gen_ai.request.seed": 42}),
        ("stability.sd3-5-large-v1:0", {"prompt": "x", "seed": 3, "aspect_ratio": "1:1"},
         "generate_content", {"gen_ai.output.type": "image", "gen_ai.request.seed": 3}),
    ],
)
def test_family_requests(model_id, request_body, operation, attributes):
    codec = codec_for(model_id)
    assert codec.operation_name(request_body) == operation
    assert codec.request_attributes(request_body) == attributes


@pytest.mark.parametrize(
    ("request_body", "family"),
    [
        ({"prompt": "x", "max_gen_len": 5}, "meta.llama"),
        ({"message": "hi", "chat_history": []}, "cohere.command-r"),
        ({"prompt": "x", "num_generations": 1}, "cohere.command"),
        ({"texts": ["a"], "input_type": "search_query"}, "cohere.embed"),
        ({"inputText": "x", "dimensions": 512}, "amazon.titan-embed"),
        ({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x"}}, "amazon.nova-canvas"),
        ({"taskType": "SINGLE_EMBEDDING", "singleEmbeddingParams": {}}, "amazon.nova-embed"),
        ({"text_prompts": [{"text": "x"}]}, "stability"),
        ({"inputText": "x", "textGenerationConfig": {}}, "amazon.titan-text"),
        ({"messages": [{"role": "user", "content": "x"}]}, None),  # chat-completions bodies are not unique
        ({"inputText": "x"}, None),  # Titan Text with defaults or Titan Embeddings v1
    ],
)
def test_opaque_ids_are_sniffed_only_on_unmistakable_bodies(request_body, family):
    codec = codec_for_request("arn:aws:bedrock:us-east-1:1:application-inference-profile/x", request_body)
    assert (codec.family if codec else None) == family


def test_llama_stream_running_totals():
    outcome, content = _streamed("meta.llama3-70b-instruct-v1:0", [
        {"generation": "Hi", "prompt_token_count": 5, "generation_token_count": 1, "stop_reason": None},
        {"generation": " there", "prompt_token_count": None, "generation_token_count": 2, "stop_reason": None},
        {"generation": "", "prompt_token_count": None, "generation_token_count": 3, "stop_reason": "stop",
         "amazon-bedrock-invocationMetrics": {"inputTokenCount": 5, "outputTokenCount": 3}},
    ])
    assert content == [True, True, False]
    assert (outcome.input_tokens, outcome.output_tokens, outcome.finish_reasons) == (5, 3, ["stop"])
    assert outcome.unknown_events == 0


def test_chat_completions_stream_counts_only_content_deltas():
    head = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "model": "qwen3-32b"}
    outcome, content = _streamed("qwen.qwen3-32b-v1:0", [
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {"reasoning_content": "hmm"}, "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 4, "completion_tokens": 2}},
        {"amazon-bedrock-invocationMetrics": {"inputTokenCount": 4}},
        {"surprise": 1},
    ])
    assert content == [False, True, True, False, False, False]
    assert (outcome.response_id, outcome.response_model, outcome.finish_reasons) == ("chatcmpl-9", "qwen3-32b",
                                                                                      ["stop"])
    assert (outcome.input_tokens, outcome.output_tokens, outcome.unknown_events) == (4, 2, 1)


@pytest.mark.parametrize(
    "chunks",
    [
        [{"outputs": [{"text": "Hi", "stop_reason": None}]}, {"outputs": [{"text": "!", "stop_reason": "stop"}]}],
        [{"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "stop_reason": None}]},
         {"choices": [{"index": 0, "message": {"role": "assistant", "content": "!"}, "stop_reason": "stop"}]}],
    ],
    ids=["legacy", "chat"],
)
def test_mistral_stream_shapes(chunks):
    outcome, content = _streamed("mistral.mixtral-8x7b-instruct-v0:1", chunks)
    assert content == [True, True]
    assert outcome.finish_reasons == ["stop"]


def test_cohere_streams_report_the_final_reason_once():
    outcome, content = _streamed("cohere.command-text-v14", [
        {"text": " Hi", "is_finished": False},
        {"is_finished": True, "finish_reason": "COMPLETE", "response": {
            "id": "r1", "generations": [{"text": " Hi", "finish_reason": "COMPLETE"}]}},
    ])
    assert (content, outcome.finish_reasons, outcome.response_id) == ([True, False], ["COMPLETE"], "r1")
    outcome, content = _streamed("cohere.command-r-v1:0", [
        {"is_finished": False, "event_type": "stream-start", "generation_id": "g"},
        {"is_finished": False, "event_type": "text-generation", "text": "Hi"},
        {"is_finished": True, "event_type": "stream-end", "finish_reason": "MAX_TOKENS",
         "response": {"response_id": "r2", "text": "Hi", "finish_reason": "MAX_TOKENS"}},
    ])
    assert (content, outcome.finish_reasons, outcome.response_id) == ([False, True, False], ["MAX_TOKENS"], "r2")
    assert outcome.unknown_events == 0


def test_anthropic_thinking_blocks_are_content():
    decoder = AnthropicCodec().stream_decoder()
    outcome = Outcome()
    chunks = [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQB"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "Eu8B"}},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "Hi"}},
    ]
    assert [decoder.feed(c, outcome) for c in chunks] == [False, True, False, False, True, False, True]
    assert outcome.unknown_events == 0
