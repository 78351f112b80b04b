"""Attribute names we emit, in one place.

GenAI names follow the OpenTelemetry GenAI semantic conventions; token cache names follow
``opentelemetry-util-genai`` so our data matches the GenAI SIG's shared layer exactly. The
``bedrock_otel.*`` names are ours, for facts the conventions have no name for yet.
"""

from __future__ import annotations

# GenAI semantic conventions
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_OUTPUT_TYPE = "gen_ai.output.type"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K = "gen_ai.request.top_k"
GEN_AI_REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED = "gen_ai.request.seed"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
GEN_AI_REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT = "gen_ai.embeddings.dimension.count"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"

# General and AWS SDK conventions (Application Signals keys its dependency node on rpc.system == aws-api)
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
RPC_SYSTEM = "rpc.system"
RPC_SERVICE = "rpc.service"
RPC_METHOD = "rpc.method"
AWS_REGION = "aws.region"
CLOUD_REGION = "cloud.region"
AWS_REQUEST_ID = "aws.request_id"
HTTP_STATUS_CODE = "http.response.status_code"

# Ours
RETRY_ATTEMPTS = "aws.retry_attempts"
SERVER_LATENCY = "aws.bedrock.invocation_latency"  # seconds, as Bedrock reports it
SERVER_FIRST_BYTE_LATENCY = "aws.bedrock.first_byte_latency"  # seconds, streams only
MODEL_FAMILY = "bedrock_otel.model.family"
PARSE_ERROR = "bedrock_otel.parse_error"
STREAM_END_STATE = "bedrock_otel.stream.end_state"
STREAM_EVENT_COUNT = "bedrock_otel.stream.events"
STREAM_UNKNOWN_EVENTS = "bedrock_otel.stream.unknown_events"
BODY_END_STATE = "bedrock_otel.body.end_state"
USAGE_SOURCE = "bedrock_otel.usage.source"
# How many outputs a generation returned (the conventions only name the requested choice count)
RESPONSE_IMAGE_COUNT = "bedrock_otel.response.image.count"
RESPONSE_EMBEDDING_COUNT = "bedrock_otel.response.embedding.count"
OUTPUT_COUNT = {"image": RESPONSE_IMAGE_COUNT, "embedding": RESPONSE_EMBEDDING_COUNT}  # by Outcome.output_kind

OUTPUT_TYPE_IMAGE = "image"  # gen_ai.output.type value

PROVIDER = "aws.bedrock"
RPC_SYSTEM_AWS = "aws-api"
