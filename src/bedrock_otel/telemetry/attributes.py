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
HTTP_STATUS_CODE_OLD = "http.status_code"

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

# GenAI conventions for agents, tools and retrieval (bedrock-agent-runtime)
GEN_AI_AGENT_ID = "gen_ai.agent.id"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_DATA_SOURCE_ID = "gen_ai.data_source.id"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_TYPE = "gen_ai.tool.type"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"

# Application Signals resource ids (as aws-opentelemetry-distro reads them). Each is set only on spans whose call
# *targets* that resource: the distro ranks agent > guardrail > knowledge base > model, so a guardrail merely
# configured on a Converse call must not use AWS_BEDROCK_GUARDRAIL_ID (see GUARDRAIL_CONFIGURED_ID).
AWS_BEDROCK_AGENT_ID = "aws.bedrock.agent.id"
AWS_BEDROCK_KNOWLEDGE_BASE_ID = "aws.bedrock.knowledge_base.id"
AWS_BEDROCK_GUARDRAIL_ID = "aws.bedrock.guardrail.id"
AWS_BEDROCK_GUARDRAIL_ARN = "aws.bedrock.guardrail.arn"

# Ours: agents (InvokeAgent, InvokeInlineAgent) and the child spans rebuilt from their trace events
AGENT_ALIAS_ID = "aws.bedrock.agent.alias_id"
AGENT_TRACE_ENABLED = "aws.bedrock.agent.trace_enabled"  # without enableTrace there are no child spans or tokens
AGENT_MEMORY_ID = "aws.bedrock.agent.memory_id"
AGENT_PROMPT_TYPE = "aws.bedrock.agent.prompt_type"  # ORCHESTRATION, PRE_PROCESSING, ... (chat children)
AGENT_TRACE_ID = "aws.bedrock.agent.trace_id"  # the trace's own step id, shared by one step's events
AGENT_ACTION_GROUP = "aws.bedrock.agent.action_group"
AGENT_EXECUTION_TYPE = "aws.bedrock.agent.execution_type"  # LAMBDA | RETURN_CONTROL
AGENT_COLLABORATOR_ALIAS_ARN = "aws.bedrock.agent.collaborator.alias_arn"
AGENT_RETURN_CONTROL_ID = "aws.bedrock.agent.return_control.invocation_id"
AGENT_FILE_COUNT = "aws.bedrock.agent.file.count"
AGENT_FAILURE_CODE = "aws.bedrock.agent.failure.code"
AGENT_FAILURE_REASON = "aws.bedrock.agent.failure.reason"
EVENT_AGENT_RETURN_CONTROL = "aws.bedrock.agent.return_control"  # span event names
EVENT_AGENT_FILES = "aws.bedrock.agent.files"
EVENT_AGENT_FAILURE = "aws.bedrock.agent.failure"
AGENT_FILE_NAMES = "aws.bedrock.agent.file.names"
AGENT_FILE_TYPES = "aws.bedrock.agent.file.types"
AGENT_FILE_SIZES = "aws.bedrock.agent.file.sizes"

# Ours: guardrails (ApplyGuardrail, and guardrails configured on model, agent and knowledge-base calls)
GUARDRAIL_CONFIGURED_ID = "bedrock_otel.guardrail.id"  # a guardrail the call applies, not the call's target
GUARDRAIL_VERSION = "aws.bedrock.guardrail.version"
GUARDRAIL_SOURCE = "aws.bedrock.guardrail.source"  # ApplyGuardrail: INPUT | OUTPUT
GUARDRAIL_ACTION = "aws.bedrock.guardrail.action"  # INTERVENED | NONE, whatever the API's own spelling
GUARDRAIL_POLICIES = "aws.bedrock.guardrail.policies"  # policies that intervened (topicPolicy, contentPolicy, ...)

# Ours: knowledge bases, flows, CountTokens, async invoke
RESPONSE_DOCUMENT_COUNT = "bedrock_otel.response.document.count"  # retrieved passages (scores need content capture)
RETRIEVAL_SCORES = "bedrock_otel.retrieval.scores"  # relevance score per retrieved passage, content capture only
RESPONSE_CITATION_COUNT = "bedrock_otel.response.citation.count"
FLOW_ID = "aws.bedrock.flow.id"
FLOW_ALIAS_ID = "aws.bedrock.flow.alias_id"
FLOW_EXECUTION_ID = "aws.bedrock.flow.execution_id"
FLOW_COMPLETION_REASON = "aws.bedrock.flow.completion_reason"  # SUCCESS | INPUT_REQUIRED
FLOW_INPUT_REQUEST_NODE = "aws.bedrock.flow.input_request.node"  # the node asking for more input (multi-turn)
FLOW_TRACE_EVENTS = "aws.bedrock.flow.trace_events"
COUNT_TOKENS_INPUT_TOKENS = "bedrock_otel.count_tokens.input_tokens"  # counted, not consumed: not gen_ai.usage.*
ASYNC_INVOKE_ARN = "aws.bedrock.async_invoke.arn"
ASYNC_INVOKE_STATUS = "aws.bedrock.async_invoke.status"  # InProgress | Completed | Failed
ASYNC_INVOKE_OUTPUT_URI = "aws.bedrock.async_invoke.output_uri"
ASYNC_INVOKE_DURATION = "aws.bedrock.async_invoke.duration"  # seconds from submission to end, once ended

# gen_ai.operation.name values the GenAI conventions have no name for
OPERATION_APPLY_GUARDRAIL = "apply_guardrail"
OPERATION_COUNT_TOKENS = "count_tokens"
OPERATION_START_ASYNC_INVOKE = "start_async_invoke"
OPERATION_GET_ASYNC_INVOKE = "get_async_invoke"
USAGE_SOURCE_AGENT_TRACE = "agent_trace"  # bedrock_otel.usage.source: summed from the agent's model invocations
